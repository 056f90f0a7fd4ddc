"""Measure the time from process start to coder-mock's first correct buildinfo response.

Usage: .venv/bin/python bench/startup.py [--runs N] [--cache cold|warm|off] [--scenarios N] [-- SERVE_ARGS...]
       .venv/bin/python bench/startup.py --table [--runs N] [--before DIR]

Each run starts `python -m coder_mock serve --port 0 --quiet` with Popen, reads
the listening URL from its first line of standard output, and polls
`GET /api/v2/buildinfo` until the body equals the bytes that the `default`
scenario renders in this process. The time is taken from just before Popen to
that response. After the response, the script reads the server's CPU time
(user plus system), `VmRSS` and `VmHWM` (peak resident memory) from /proc and
stops it with SIGTERM. CPU time varies less than wall time on a busy machine.

--cache selects the render cache state: `off` sets CODER_MOCK_CACHE_DIR to
an empty value (no cache), `cold` gives every run a fresh empty cache folder
and `warm` fills one folder with a first run that is not counted.
--scenarios N adds a folder of N generated user scenarios (`--scenarios-dir`).
The script prints the median, minimum and maximum over the runs, and one line
per run with --verbose.

--table measures these starts in rotation, one run of each per round, so that
changes in machine load hit every row alike: off, cold, warm, warm and cold
with 1000 user scenarios, a bare Flask app that sends the same buildinfo bytes
under coder-mock's server (bench/baseline_server.py flask), and with --before
the source tree in DIR (for example `git archive COMMIT | tar -x -C DIR`),
which runs with DIR first on PYTHONPATH. It prints a Markdown table.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
BUILDINFO = "/api/v2/buildinfo"
POLL_INTERVAL_SECONDS = 0.002
STARTUP_LIMIT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def expected_buildinfo() -> bytes:
    sys.path.insert(0, str(PROJECT_DIR))
    from coder_mock.catalog import load_catalog

    return load_catalog().rendered("default").replies["build-info"].body


def write_scenarios(folder: Path, count: int) -> None:
    """Write `count` small user scenarios that extend the built-in `default`."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"user-{index:04d}.yaml").write_text(
            f"extends: default\ndescription: Generated scenario {index}.\nseed: {index + 2}\n", encoding="utf-8")


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time the process has used, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # The command name in brackets may contain spaces, so the fields are counted after it.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kib(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values


def one_run(command: list[str], env: dict[str, str], expected: bytes,
            cwd: Path = PROJECT_DIR) -> tuple[float, dict[str, float]]:
    """Start the server once; return seconds to the first correct buildinfo, its memory and CPU time."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    try:
        line = process.stdout.readline().decode()
        if " listening on http://" not in line:
            raise RuntimeError(f"unexpected first line {line!r}; standard error: {process.stderr.read().decode()}")
        url = line.split()[-1] + BUILDINFO
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if response.read() == expected:
                        elapsed = time.perf_counter() - started
                        return elapsed, {**memory_kib(process.pid), "cpu": cpu_seconds(process.pid)}
            except urllib.error.URLError:
                pass
            if time.perf_counter() - started > STARTUP_LIMIT_SECONDS:
                raise RuntimeError(f"no correct buildinfo response within {STARTUP_LIMIT_SECONDS} s")
            time.sleep(POLL_INTERVAL_SECONDS)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


Row = tuple[str, list[str], Path, str]
"""A table row: label, command, working folder and cache state (off, cold or a cache folder)."""


def table_rows(work_dir: Path, before: Path | None, expected: bytes) -> list[Row]:
    serve = [sys.executable, "-m", "coder_mock", "serve", "--port", "0", "--quiet"]
    many = serve + ["--scenarios-dir", str(work_dir / "scenarios")]
    write_scenarios(work_dir / "scenarios", 1000)
    response = work_dir / "buildinfo.json"
    response.write_text(json.dumps({
        "status": "200 OK",
        "headers": [["Content-Type", "application/json; charset=utf-8"]],
        "body_base64": base64.b64encode(expected).decode(),
    }), encoding="utf-8")
    rows: list[Row] = []
    if before is not None:
        rows.append((f"before ({before.name})", serve, before, "off"))
    rows += [
        ("off", serve, PROJECT_DIR, "off"),
        ("cold", serve, PROJECT_DIR, "cold"),
        ("warm", serve, PROJECT_DIR, str(work_dir / "warm")),
        ("warm, 1000 user scenarios", many, PROJECT_DIR, str(work_dir / "warm-many")),
        ("cold, 1000 user scenarios", many, PROJECT_DIR, "cold"),
        ("bare Flask app (bench/baseline_server.py flask)",
         [sys.executable, "bench/baseline_server.py", "flask", str(response), BUILDINFO], PROJECT_DIR, "off"),
    ]
    return rows


def print_table(runs: int, before: Path | None) -> None:
    """Run every row once per round, in rotation, and print a Markdown table of medians."""
    expected = expected_buildinfo()
    with tempfile.TemporaryDirectory(prefix="coder-mock-startup-") as work:
        work_dir = Path(work)
        rows = table_rows(work_dir, before, expected)
        environment = dict(os.environ, PYTHONPATH=str(PROJECT_DIR))
        results: dict[str, list[tuple[float, dict[str, float]]]] = {label: [] for label, *_ in rows}
        for label, command, cwd, cache in rows:
            if cache not in ("off", "cold"):
                one_run(command, dict(environment, CODER_MOCK_CACHE_DIR=cache), expected, cwd)
        for run in range(runs):
            for index, (label, command, cwd, cache) in enumerate(rows):
                folder = {"off": "", "cold": str(work_dir / f"cold-{index}-{run}")}.get(cache, cache)
                env = dict(environment, CODER_MOCK_CACHE_DIR=folder)
                if cwd != PROJECT_DIR:
                    env["PYTHONPATH"] = str(cwd)
                results[label].append(one_run(command, env, expected, cwd))

    print("| start | wall ms (median) | wall ms (range) | server CPU ms | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for label, measured in results.items():
        walls = [elapsed * 1000 for elapsed, _ in measured]
        cpu = statistics.median(memory["cpu"] for _, memory in measured) * 1000
        peak = statistics.median(memory["VmHWM"] for _, memory in measured) / 1024
        print(f"| {label} | {statistics.median(walls):.0f} | {min(walls):.0f}–{max(walls):.0f} | {cpu:.0f}"
              f" | {peak:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="measured runs (default: 9)")
    parser.add_argument("--cache", choices=("off", "cold", "warm"), default="warm",
                        help="render cache state at each start (default: warm)")
    parser.add_argument("--scenarios", type=int, default=0, metavar="N",
                        help="add a --scenarios-dir with N generated scenarios (default: 0)")
    parser.add_argument("--verbose", action="store_true", help="print every run")
    parser.add_argument("--table", action="store_true",
                        help="measure every cache state, 1000 user scenarios and a bare Flask app in rotation")
    parser.add_argument("--before", type=Path, default=None, metavar="DIR",
                        help="with --table, also measure the coder-mock source tree in DIR (such as an older commit)")
    parser.add_argument("serve_args", nargs="*", help="extra arguments for coder-mock serve, after --")
    args = parser.parse_args()
    if args.table:
        print_table(args.runs, args.before)
        return 0

    expected = expected_buildinfo()
    with tempfile.TemporaryDirectory(prefix="coder-mock-startup-") as work:
        work_dir = Path(work)
        command = [sys.executable, "-m", "coder_mock", "serve", "--port", "0", "--quiet", *args.serve_args]
        if args.scenarios:
            write_scenarios(work_dir / "scenarios", args.scenarios)
            command += ["--scenarios-dir", str(work_dir / "scenarios")]
        env = dict(os.environ)

        if args.cache == "warm":
            env["CODER_MOCK_CACHE_DIR"] = str(work_dir / "cache")
            one_run(command, env, expected)
        elif args.cache == "off":
            env["CODER_MOCK_CACHE_DIR"] = ""

        times: list[float] = []
        peaks: list[float] = []
        cpu: list[float] = []
        for run in range(args.runs):
            if args.cache == "cold":
                env["CODER_MOCK_CACHE_DIR"] = str(work_dir / f"cache-{run}")
            elapsed, memory = one_run(command, env, expected)
            times.append(elapsed)
            peaks.append(memory["VmHWM"])
            cpu.append(memory["cpu"])
            if args.verbose:
                print(f"run {run + 1}: {elapsed * 1000:.0f} ms, CPU {memory['cpu'] * 1000:.0f} ms,"
                      f" VmRSS {memory['VmRSS'] / 1024:.1f} MiB, VmHWM {memory['VmHWM'] / 1024:.1f} MiB")

    print(f"start-up to first correct buildinfo, cache {args.cache}, {args.scenarios} user scenarios,"
          f" {args.runs} runs: median {statistics.median(times) * 1000:.0f} ms"
          f" (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); server CPU median"
          f" {statistics.median(cpu) * 1000:.0f} ms;"
          f" peak RSS median {statistics.median(peaks) / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
