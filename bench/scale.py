"""Measure how listing, switching and memory grow with the number of user scenarios.

Usage: .venv/bin/python bench/scale.py [--counts 10,100,1000] [--loads 50] [--repeats 5]

After one render that is not measured, for each count N, the script writes N small user scenarios (each extends the
built-in `default` with its own seed and description) into a temporary
folder and, in this process, without the render cache:
  - times `open_catalog` plus `Store` on the first one (what `serve` does
    before it listens);
  - times `Store.switch` to a scenario used for the first time (it is loaded,
    validated and rendered) and to one already loaded, as medians over
    --repeats different scenarios;
  - loads --loads more scenarios and reports the memory they take, from
    tracemalloc (Python allocations) and from the change in VmRSS. The RSS
    figure is rough, because the allocator reuses memory freed earlier.
Start-up of the whole process with N scenarios is measured by
`bench/startup.py --scenarios N`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coder_mock.catalog import open_catalog  # noqa: E402
from coder_mock.store import Store  # noqa: E402


def write_scenarios(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"user-{index:04d}.yaml").write_text(
            f"extends: default\ndescription: Generated scenario {index}.\nseed: {index + 2}\n", encoding="utf-8")


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("VmRSS missing from /proc/self/status")


def measure(count: int, loads: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="coder-mock-scale-") as work:
        folder = Path(work) / "scenarios"
        write_scenarios(folder, count)

        started = time.perf_counter()
        catalog = open_catalog([folder])
        store = Store(catalog, "user-0000")
        start_seconds = time.perf_counter() - started

        first_use, repeat_use = [], []
        for index in range(1, repeats + 1):
            name = f"user-{index * (count - 1) // repeats:04d}"
            started = time.perf_counter()
            store.switch(name)
            first_use.append(time.perf_counter() - started)
            store.switch("user-0000")
            started = time.perf_counter()
            store.switch(name)
            repeat_use.append(time.perf_counter() - started)

        chosen = [name for name in catalog.names() if name.startswith("user-") and
                  not catalog.all_entries[name].loaded][:loads]
        gc.collect()
        rss_before = rss_kib()
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        for name in chosen:
            catalog.rendered(name)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = rss_kib()

    return {
        "count": count,
        "start_ms": start_seconds * 1000,
        "first_switch_ms": statistics.median(first_use) * 1000,
        "repeat_switch_ms": statistics.median(repeat_use) * 1000,
        "traced_kib_per_scenario": (after - before) / 1024 / len(chosen),
        "rss_kib_per_scenario": (rss_after - rss_before) / len(chosen),
        "loaded": len(chosen),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,100,1000", help="comma-separated scenario counts (default: 10,100,1000)")
    parser.add_argument("--loads", type=int, default=50, help="scenarios loaded for the memory figure (default: 50)")
    parser.add_argument("--repeats", type=int, default=5, help="switches timed per count (default: 5)")
    args = parser.parse_args()
    counts = [int(text) for text in args.counts.split(",")]
    # One render first, so that one-time costs (creating Faker, the first
    # allocations of each kind) do not land on the first count.
    open_catalog().rendered("default")
    if min(counts) < args.loads + args.repeats + 1:
        parser.error(f"every count must be at least --loads + --repeats + 1 ({args.loads + args.repeats + 1})")

    print("| user scenarios | catalog + store | first switch (median) | repeat switch (median)"
          " | scenarios loaded for memory | traced KiB per loaded scenario | RSS KiB per loaded scenario |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count in counts:
        result = measure(count, args.loads, args.repeats)
        print(f"| {count} | {result['start_ms']:.1f} ms | {result['first_switch_ms']:.1f} ms"
              f" | {result['repeat_switch_ms']:.3f} ms | {result['loaded']} | {result['traced_kib_per_scenario']:.0f}"
              f" | {result['rss_kib_per_scenario']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
