"""Measure coder-mock's HTTP throughput, latency, CPU, memory and start-up time against baselines.

Usage: python bench/run.py [--rounds N] [--duration S] [--workers N] [--anchors NPM_PREFIX]
                           [--compare-servers] [--journal-requests N]

Servers, started one at a time and in a rotated order each round, in two modes:
  single process  coder-mock as `coder-mock serve`, and the baselines, all under
                  coder_mock.server (werkzeug's threaded server with coder-mock's request handler)
  workers         coder-mock as `coder-mock serve --workers N`, and the baselines, all under
                  granian's WSGI server with N worker processes
In each mode:
  coder-mock              python -m coder_mock serve --port 0 --quiet
  coder-mock journal off  the same with --journal-size 0
  flask                   a bare Flask app returning coder-mock's buildinfo response
  wsgi                    a bare WSGI callable returning the same response
Anchors (only with --anchors): WireMock standalone (Java) with one stub of that response, and
Prism's static mock (Node.js) of a one-path OpenAPI document.
With --compare-servers, coder-mock's app and the bare WSGI callable also run under gunicorn's
gthread and gevent workers and under granian, N workers each (gunicorn and gevent must be installed).

Load comes from `wrk -t1 -c16 -d<S>s --latency` on 127.0.0.1, after a 1 s warm-up run that
is discarded. The machine runs wrk and the server at the same time, so both compete for its
cores. CPU and memory are summed or maximized over the server's whole process tree.

With --journal-requests N (default 300000, 0 skips it), a last phase sends N requests to a
single-process coder-mock with the default journal and reports its RSS before and after.

Results go to stdout as Markdown tables of medians over rounds, and as raw JSON to --output.
"""

from __future__ import annotations

import argparse
import base64
import glob
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
ADMIN_TOKEN = "adminToken-coderMockAdminSecret01"
BUILDINFO = "/api/v2/buildinfo"
CONNECTIONS = 16
WARMUP_SECONDS = 1
# Start-up polling: each request waits at most POLL_TIMEOUT_SECONDS, and polling gives up after
# STARTUP_LIMIT_SECONDS (WireMock's JVM is the slowest starter here).
POLL_TIMEOUT_SECONDS = 0.5
POLL_INTERVAL_SECONDS = 0.01
STARTUP_LIMIT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Headers copied from coder-mock's buildinfo response into the baselines and anchors.
COPIED_HEADERS = ("Content-Type", "X-Coder-Build-Version", "X-Content-Type-Options")
# The journal memory phase: wrk runs of this many seconds until the request count is reached, with
# RSS first read once this many requests have filled the default journal of 1000 entries many times.
JOURNAL_CHUNK_SECONDS = 5
JOURNAL_FILL_REQUESTS = 10_000


@dataclass
class Case:
    """One request that wrk repeats against a server."""

    name: str
    path: str
    headers: dict[str, str]
    expected_status: int
    # Exact body expected, or None when any body that parses as JSON is accepted.
    expected_body: bytes | None


SINGLE = "single process"


@dataclass
class ServerSpec:
    """How to start one server and which cases to run against it."""

    name: str
    mode: str
    command: list[str]
    cases: list[Case]
    # Fixed port for servers that cannot report a port picked by the system, else None.
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


# --- HTTP helpers ---------------------------------------------------------------------------


def fetch(url: str, headers: dict[str, str], timeout: float) -> Response:
    """GET `url` and return the response, including error statuses."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return Response(reply.status, list(reply.headers.items()), reply.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, list(error.headers.items()), error.read())


def is_correct(response: Response, case: Case) -> bool:
    if response.status != case.expected_status:
        return False
    if case.expected_body is not None:
        return response.body == case.expected_body
    try:
        json.loads(response.body)
    except ValueError:
        return False
    return True


def free_port() -> int:
    """Return a loopback port that was free a moment ago, for servers that cannot take port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Process helpers ------------------------------------------------------------------------


def stat_fields(pid: int) -> list[str]:
    """Return the fields of /proc/<pid>/stat after the command name, which may contain spaces."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2:].split()


def process_tree(pid: int) -> list[int]:
    """Return `pid` and its living descendants, such as a server's worker processes."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(stat_fields(int(entry.name))[1])
        except (OSError, ValueError, IndexError):
            continue  # the process exited while the list was read
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """Return user plus system CPU seconds of processes `pids`, all threads, summed."""
    total = 0
    for pid in pids:
        try:
            fields = stat_fields(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def status_kib(pid: int, field_name: str) -> int:
    """Return a memory field of /proc/<pid>/status in KiB, such as VmRSS (resident) or VmHWM (peak resident)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field_name} line not found in /proc/{pid}/status")


class RunningServer:
    """A server process started by this script, with its stdout and stderr in files."""

    def __init__(self, spec: ServerSpec, log_dir: Path) -> None:
        self.spec = spec
        self.stdout_path = log_dir / f"{spec.name}.stdout"
        self.stderr_path = log_dir / f"{spec.name}.stderr"
        env = dict(os.environ, **spec.env)
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.started = time.perf_counter()
            self.process = subprocess.Popen(spec.command, stdout=stdout, stderr=stderr, env=env,
                                            cwd=PROJECT_DIR, start_new_session=True)
        self.base_url: str | None = f"http://127.0.0.1:{spec.port}" if spec.port else None

    def wait_until_correct(self, case: Case) -> float:
        """Poll `case` until the first correct response, and return the seconds since the process started."""
        deadline = self.started + STARTUP_LIMIT_SECONDS
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited with code {self.process.returncode}; "
                                   f"see {self.stderr_path}")
            if self.base_url is None:
                self.base_url = self.read_announced_url()
            if self.base_url is not None:
                try:
                    if is_correct(fetch(self.base_url + case.path, case.headers, POLL_TIMEOUT_SECONDS), case):
                        return time.perf_counter() - self.started
                except (OSError, urllib.error.URLError):
                    pass
            time.sleep(POLL_INTERVAL_SECONDS)
        raise RuntimeError(f"{self.spec.name} sent no correct response to {case.path} within "
                           f"{STARTUP_LIMIT_SECONDS} s; see {self.stderr_path}")

    def read_announced_url(self) -> str | None:
        """Return the URL from a first stdout line "... listening on http://HOST:PORT", once it is written."""
        first_line = self.stdout_path.read_bytes().split(b"\n", 1)
        if len(first_line) < 2:
            return None
        match = re.search(rb"listening on (http://\S+)", first_line[0])
        if match is None:
            raise RuntimeError(f"{self.spec.name} printed no URL in its first line: {first_line[0]!r}")
        return match.group(1).decode()

    def stop(self) -> None:
        """Send SIGTERM to this server's process and wait, then send SIGKILL to it if it has not exited."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                print(f"warning: {self.spec.name} (pid {self.process.pid}) ignored SIGTERM; killing it",
                      file=sys.stderr)
                self.process.kill()
                self.process.wait()


# --- wrk ------------------------------------------------------------------------------------

_LATENCY_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_latency_ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"unrecognized wrk latency {text!r}")
    return float(match.group(1)) * _LATENCY_UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    """Extract requests, requests/s, p50 and p99 latency, error counts from `wrk --latency` output."""
    def number(pattern: str, default: float | None = None) -> float:
        match = re.search(pattern, output)
        if match is None:
            if default is None:
                raise ValueError(f"wrk output lacks {pattern!r}:\n{output}")
            return default
        return float(match.group(1))

    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests": number(r"(\d+) requests in"),
        "requests_per_second": number(r"Requests/sec:\s+([0-9.]+)"),
        "p50_ms": parse_latency_ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1)),
        "p99_ms": parse_latency_ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1)),
        "non_2xx_3xx": number(r"Non-2xx or 3xx responses: (\d+)", 0.0),
        "socket_errors": float(sum(int(value) for value in socket_errors.groups())) if socket_errors else 0.0,
    }


def run_wrk(url: str, headers: dict[str, str], seconds: int) -> str:
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    # wrk stops itself after -d, so the timeout only guards against a hung wrk.
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed with code {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def measure_case(server: RunningServer, case: Case, seconds: int) -> dict[str, float]:
    """Check one response, warm up, then run wrk for `seconds` and collect server CPU and memory."""
    assert server.base_url is not None
    url = server.base_url + case.path
    check = fetch(url, case.headers, 5.0)
    if not is_correct(check, case):
        raise RuntimeError(f"{server.spec.name} {case.name}: unexpected response {check.status} "
                           f"{check.body[:200]!r}")
    run_wrk(url, case.headers, WARMUP_SECONDS)

    pids = process_tree(server.process.pid)
    cpu_before = cpu_seconds(pids)
    output = run_wrk(url, case.headers, seconds)
    cpu_after = cpu_seconds(pids)
    result = parse_wrk(output)
    result["cpu_us_per_request"] = (cpu_after - cpu_before) / result["requests"] * 1e6
    # Memory per process: the largest resident set and peak among the server's processes.
    result["rss_mib"] = max(status_kib(pid, "VmRSS") for pid in pids) / 1024
    result["peak_rss_mib"] = max(status_kib(pid, "VmHWM") for pid in pids) / 1024
    result["processes"] = len(pids)

    # wrk counts only non-2xx/3xx responses, so a 401 case expects every response to be counted.
    expected_errors = result["requests"] if case.expected_status >= 400 else 0.0
    if result["non_2xx_3xx"] != expected_errors or result["socket_errors"]:
        print(f"warning: {server.spec.name} {case.name}: {result['non_2xx_3xx']:.0f} non-2xx/3xx "
              f"(expected {expected_errors:.0f}), {result['socket_errors']:.0f} socket errors",
              file=sys.stderr)
    return result


# --- Server definitions ---------------------------------------------------------------------


def capture_reference(python: str, log_dir: Path) -> Response:
    """Start coder-mock once and return its GET /api/v2/buildinfo response."""
    spec = ServerSpec("reference", SINGLE, [python, "-m", "coder_mock", "serve", "--port", "0", "--quiet"], [])
    server = RunningServer(spec, log_dir)
    try:
        any_json = Case("probe", BUILDINFO, {}, 200, None)
        server.wait_until_correct(any_json)
        assert server.base_url is not None
        return fetch(server.base_url + BUILDINFO, {}, 5.0)
    finally:
        server.stop()


def write_response_file(reference: Response, path: Path) -> list[tuple[str, str]]:
    headers = [(name, value) for name, value in reference.headers if name in COPIED_HEADERS]
    path.write_text(json.dumps({
        "status": "200 OK",
        "headers": headers,
        "body_base64": base64.b64encode(reference.body).decode(),
    }))
    return headers


def wiremock_spec(jar: str, work_dir: Path, headers: list[tuple[str, str]], body: bytes,
                  case: Case) -> ServerSpec:
    root = work_dir / "wiremock"
    (root / "mappings").mkdir(parents=True, exist_ok=True)
    (root / "__files").mkdir(exist_ok=True)
    mapping = {
        "request": {"method": "GET", "url": BUILDINFO},
        "response": {"status": 200, "headers": dict(headers), "base64Body": base64.b64encode(body).decode()},
    }
    (root / "mappings" / "buildinfo.json").write_text(json.dumps(mapping))
    port = free_port()
    command = ["java", "-jar", jar, "--port", str(port), "--bind-address", "127.0.0.1",
               "--root-dir", str(root), "--disable-banner", "--disable-request-logging"]
    return ServerSpec("wiremock", "anchor", command, [case], port=port)


def prism_spec(entry: str, work_dir: Path, body: bytes, case: Case) -> ServerSpec:
    document = {
        "openapi": "3.0.3",
        "info": {"title": "buildinfo only", "version": "1"},
        "paths": {BUILDINFO: {"get": {"responses": {"200": {
            "description": "coder-mock's buildinfo response",
            "content": {"application/json": {"example": json.loads(body)}},
        }}}}},
    }
    path = work_dir / "prism-openapi.json"
    path.write_text(json.dumps(document))
    port = free_port()
    command = ["node", entry, "mock", str(path), "-h", "127.0.0.1", "-p", str(port), "-v", "silent"]
    return ServerSpec("prism", "anchor", command, [case], port=port)


def json_equal_case(case: Case) -> Case:
    """Return `case` accepting any JSON body, for servers that re-serialize the example."""
    return Case(case.name, case.path, case.headers, case.expected_status, None)


def build_specs(python: str, reference: Response, work_dir: Path, anchors: str | None, workers: int,
                compare_servers: bool) -> list[ServerSpec]:
    response_file = work_dir / "buildinfo-response.json"
    headers = write_response_file(reference, response_file)
    buildinfo = Case("buildinfo", BUILDINFO, {}, 200, reference.body)
    config = Case("deployment/config (owner)", "/api/v2/deployment/config",
                  {"Coder-Session-Token": ADMIN_TOKEN}, 200, None)
    unauthorized = Case("deployment/ssh 401 (no token)", "/api/v2/deployment/ssh", {}, 401, None)
    baseline = [python, str(BENCH_DIR / "baseline_server.py")]
    serve = [python, "-m", "coder_mock", "serve", "--port", "0", "--quiet"]
    workers_mode = f"{workers} workers (granian)"
    granian = ["--server", "granian", "--workers", str(workers)]
    specs = []
    for mode, serve_extra, baseline_extra in ((SINGLE, [], []),
                                              (workers_mode, ["--workers", str(workers)], granian)):
        specs += [
            ServerSpec("coder-mock", mode, serve + serve_extra, [buildinfo, config, unauthorized]),
            ServerSpec("coder-mock journal off", mode, serve + serve_extra + ["--journal-size", "0"], [buildinfo]),
            ServerSpec("flask", mode, baseline + ["flask", str(response_file), BUILDINFO] + baseline_extra,
                       [buildinfo]),
            ServerSpec("wsgi", mode, baseline + ["wsgi", str(response_file), BUILDINFO] + baseline_extra,
                       [buildinfo]),
        ]
    if compare_servers:
        for server in ("gthread", "gevent", "granian"):
            mode = f"{workers} workers ({server}), comparison"
            extra = ["--server", server, "--workers", str(workers)]
            specs += [
                ServerSpec("coder-mock app", mode, baseline + ["coder-mock", str(response_file), BUILDINFO] + extra,
                           [buildinfo]),
                ServerSpec("wsgi", mode, baseline + ["wsgi", str(response_file), BUILDINFO] + extra, [buildinfo]),
            ]
    if anchors:
        jars = glob.glob(os.path.join(anchors, "node_modules/wiremock/build/wiremock-standalone-*.jar"))
        prism_entry = os.path.join(anchors, "node_modules/@stoplight/prism-cli/dist/index.js")
        if not jars or not os.path.isfile(prism_entry):
            raise SystemExit(f"--anchors {anchors}: expected node_modules/wiremock and "
                             "node_modules/@stoplight/prism-cli there; run "
                             "`npm install wiremock @stoplight/prism-cli` in that folder.")
        specs.append(wiremock_spec(jars[0], work_dir, headers, reference.body, buildinfo))
        # Prism serializes the example itself, so its bytes may differ from coder-mock's.
        specs.append(prism_spec(prism_entry, work_dir, reference.body, json_equal_case(buildinfo)))
    return specs


# --- Reporting ------------------------------------------------------------------------------


def machine_description() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout
    versions = subprocess.run(
        [sys.executable, "-c", "import flask, werkzeug, importlib.metadata as m;"
         "print(m.version('flask'), m.version('werkzeug'))"],
        capture_output=True, text=True, check=True).stdout.split()
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": str(os.cpu_count()),
        "cpu_model": model,
        "python": platform.python_version(),
        "flask": versions[0],
        "werkzeug": versions[1],
        "wrk": wrk_version.splitlines()[0] if wrk_version else "unknown",
        "kernel": platform.release(),
    }


METRICS = ("requests_per_second", "p50_ms", "p99_ms", "cpu_us_per_request", "rss_mib", "peak_rss_mib", "startup_s")


def medians(results: list[dict], server: str, mode: str, case: str) -> dict[str, float]:
    rows = [row for row in results if row["server"] == server and row["mode"] == mode and row["case"] == case]
    return {metric: statistics.median(row[metric] for row in rows) for metric in METRICS}


def has(results: list[dict], server: str, mode: str) -> bool:
    return any(row["server"] == server and row["mode"] == mode for row in results)


def markdown_table(results: list[dict]) -> str:
    keys = list(dict.fromkeys((row["mode"], row["server"], row["case"]) for row in results))
    lines = ["| mode | server | case | requests/s | p50 ms | p99 ms | CPU µs/request | RSS MiB | peak RSS MiB |"
             " start-up s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for mode, server, case in keys:
        m = medians(results, server, mode, case)
        lines.append(f"| {mode} | {server} | {case} | {m['requests_per_second']:.0f} | {m['p50_ms']:.2f} | "
                     f"{m['p99_ms']:.2f} | {m['cpu_us_per_request']:.0f} | {m['rss_mib']:.1f} | "
                     f"{m['peak_rss_mib']:.1f} | {m['startup_s']:.2f} |")
    return "\n".join(lines)


def ratio_table(results: list[dict]) -> str:
    """Compare coder-mock's buildinfo medians with each other server's, in the same mode and with the anchors."""
    lines = ["| buildinfo: coder-mock (mode) ÷ other | requests/s | p50 | p99 | CPU/request | RSS | peak RSS |"
             " start-up |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    modes = [mode for mode in dict.fromkeys(row["mode"] for row in results) if has(results, "coder-mock", mode)]
    for mode in modes:
        mock = medians(results, "coder-mock", mode, "buildinfo")
        others = [(name, mode) for name in ("flask", "wsgi") if has(results, name, mode)]
        others += [(name, "anchor") for name in ("wiremock", "prism") if has(results, name, "anchor")]
        for other, other_mode in others:
            base = medians(results, other, other_mode, "buildinfo")
            cells = " | ".join(f"{mock[metric] / base[metric]:.2f}" for metric in METRICS)
            lines.append(f"| coder-mock ({mode}) ÷ {other} | {cells} |")
    return "\n".join(lines)


# --- Main -----------------------------------------------------------------------------------


def run_rounds(specs: list[ServerSpec], rounds: int, seconds: int, log_dir: Path,
               progress: Callable[[str], None]) -> list[dict]:
    results: list[dict] = []
    for round_index in range(rounds):
        # Rotate the start order so that no server always runs first or last in a round.
        shift = round_index % len(specs)
        for spec in specs[shift:] + specs[:shift]:
            server = RunningServer(spec, log_dir)
            try:
                startup = server.wait_until_correct(spec.cases[0])
                for case in spec.cases:
                    row = measure_case(server, case, seconds)
                    row.update(round=round_index + 1, server=spec.name, mode=spec.mode, case=case.name,
                               startup_s=startup)
                    results.append(row)
                    progress(f"round {round_index + 1}: {spec.name} ({spec.mode}) {case.name}: "
                             f"{row['requests_per_second']:.0f} requests/s, p99 {row['p99_ms']:.2f} ms")
            finally:
                server.stop()
    return results


def measure_journal_memory(python: str, total_requests: int, log_dir: Path,
                           progress: Callable[[str], None]) -> dict[str, float]:
    """Send `total_requests` buildinfo requests to a single-process coder-mock with the default journal.

    Return its RSS after the first JOURNAL_FILL_REQUESTS requests, when the
    journal is full, and after all of them, with the journal's length then.
    """
    spec = ServerSpec("coder-mock", SINGLE, [python, "-m", "coder_mock", "serve", "--port", "0", "--quiet"], [])
    server = RunningServer(spec, log_dir)
    try:
        server.wait_until_correct(Case("probe", BUILDINFO, {}, 200, None))
        assert server.base_url is not None
        url = server.base_url + BUILDINFO
        sent = 0
        rss_full = 0.0
        while sent < total_requests:
            result = parse_wrk(run_wrk(url, {}, JOURNAL_CHUNK_SECONDS))
            sent += int(result["requests"])
            if not rss_full and sent >= JOURNAL_FILL_REQUESTS:
                rss_full = status_kib(server.process.pid, "VmRSS") / 1024
            progress(f"journal memory: {sent} requests sent")
        count = json.loads(fetch(server.base_url + "/__admin/requests/count", {}, 5.0).body)["count"]
        return {
            "requests": float(sent),
            "rss_mib_journal_full": rss_full,
            "rss_mib_after": status_kib(server.process.pid, "VmRSS") / 1024,
            "peak_rss_mib": status_kib(server.process.pid, "VmHWM") / 1024,
            "journal_entries": float(count),
        }
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark coder-mock against a bare Flask app and WSGI callable.")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all servers (default: 3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds of each wrk run (default: 5)")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes in the workers mode and the server comparison (default: 2)")
    parser.add_argument("--anchors", default=None,
                        help="npm prefix folder with wiremock and @stoplight/prism-cli installed;"
                             " without it, the WireMock and Prism anchors are not run")
    parser.add_argument("--compare-servers", action="store_true",
                        help="also run coder-mock's app and the WSGI callable under gunicorn gthread,"
                             " gunicorn gevent and granian")
    parser.add_argument("--journal-requests", type=int, default=300_000, metavar="N",
                        help="requests sent in the journal memory phase; 0 skips it (default: 300000)")
    parser.add_argument("--output", default=str(BENCH_DIR / "results.json"),
                        help="file for the raw results as JSON (default: bench/results.json)")
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.workers < 1:
        parser.error("--rounds, --duration and --workers must be at least 1")
    if args.journal_requests < 0:
        parser.error("--journal-requests must be 0 or more")
    if shutil.which("wrk") is None:
        print("bench: wrk not found on PATH; install it (Debian: apt-get install wrk).", file=sys.stderr)
        return 1

    python = sys.executable
    progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    journal_memory = None
    with tempfile.TemporaryDirectory(prefix="coder-mock-bench-") as temp:
        work_dir = Path(temp)
        reference = capture_reference(python, work_dir)
        specs = build_specs(python, reference, work_dir, args.anchors, args.workers, args.compare_servers)
        machine = machine_description()
        results = run_rounds(specs, args.rounds, args.duration, work_dir, progress)
        if args.journal_requests:
            journal_memory = measure_journal_memory(python, args.journal_requests, work_dir, progress)

    Path(args.output).write_text(json.dumps({"machine": machine, "rounds": args.rounds, "duration_s": args.duration,
                                             "workers": args.workers, "results": results,
                                             "journal_memory": journal_memory}, indent=1))
    print(f"machine: {json.dumps(machine)}")
    print(f"{args.rounds} rounds, wrk -t1 -c{CONNECTIONS} -d{args.duration}s --latency, medians over rounds\n")
    print(markdown_table(results))
    print()
    print(ratio_table(results))
    if journal_memory:
        print()
        print(f"journal memory: {journal_memory['requests']:.0f} requests, RSS {journal_memory['rss_mib_journal_full']:.1f}"
              f" MiB after {JOURNAL_FILL_REQUESTS} and {journal_memory['rss_mib_after']:.1f} MiB after all"
              f" (peak {journal_memory['peak_rss_mib']:.1f} MiB), {journal_memory['journal_entries']:.0f}"
              " journal entries kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
