"""The `coder-mock` command run as a real process: serve over a socket, list scenarios, stop on signals."""

from __future__ import annotations

import email.utils
import http.client
import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

import pytest

from coder_mock.catalog import Catalog

from conftest import BUILTIN_SCENARIOS, EXPIRED_TOKEN, MEMBER_TOKEN, OWNER_TOKEN, UNKNOWN_TOKEN

CONSOLE_SCRIPT = Path(sys.executable).parent / "coder-mock"
LAUNCHERS = {
    "module": [sys.executable, "-m", "coder_mock"],
    "script": [str(CONSOLE_SCRIPT)],
}
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
HTTP_TIMEOUT_SECONDS = 10.0
LISTENING = re.compile(r"^coder-mock listening on http://127\.0\.0\.1:(\d+)\n$")
# The format cli.configure_logging gives every log record.
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")
ACCESS_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO coder_mock\.access: (\S+) (\S+) (\d{3}) (\S+) \d+\.\dms$"
)
SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."
DEFAULT_VERSION = "v2.22.1+f724638"
DEV_BUILD_VERSION = "v0.0.0-devel+4bd8c1e"


@pytest.fixture(params=sorted(LAUNCHERS))
def launcher(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "script":
        assert CONSOLE_SCRIPT.is_file(), f"console script missing next to {sys.executable}"
    return LAUNCHERS[request.param]


@dataclass
class Server:
    """A `coder-mock serve` subprocess with its stdout lines and stderr file."""

    process: subprocess.Popen[str]
    stderr_path: Path
    stdout_lines: "queue.Queue[str | None]"
    reader: threading.Thread
    port: int = 0

    def next_stdout_line(self) -> str | None:
        return self.stdout_lines.get(timeout=STARTUP_TIMEOUT_SECONDS)

    def stop(self, signal_number: int = signal.SIGTERM) -> int:
        """Send `signal_number`, wait for the exit and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal_number)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        finally:
            self.reader.join(timeout=STOP_TIMEOUT_SECONDS)

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")

    def remaining_stdout(self) -> list[str]:
        lines = []
        while True:
            line = self.stdout_lines.get(timeout=STOP_TIMEOUT_SECONDS)
            if line is None:
                return lines
            lines.append(line)


def read_lines(stream: IO[str], lines: "queue.Queue[str | None]") -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """Start `coder-mock serve --port 0 ...` subprocesses and stop every one of them at teardown."""
    started: list[Server] = []

    def start(command: list[str], *args: str) -> Server:
        stderr_path = tmp_path / f"stderr-{len(started)}.txt"
        with stderr_path.open("w", encoding="utf-8") as stderr:
            process = subprocess.Popen(
                [*command, "serve", "--port", "0", *args],
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True)
        reader.start()
        server = Server(process, stderr_path, lines, reader)
        started.append(server)

        first = server.next_stdout_line()
        assert first is not None, f"coder-mock exited before listening: {server.stderr()}"
        match = LISTENING.match(first)
        assert match, f"unexpected first stdout line {first!r}"
        server.port = int(match.group(1))
        assert 0 < server.port < 65536
        return server

    yield start

    for server in started:
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        server.reader.join(timeout=STOP_TIMEOUT_SECONDS)
        if server.process.stdout is not None:
            server.process.stdout.close()


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def fetch(port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> HttpResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_SECONDS)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return HttpResponse(response.status, response.headers, response.read())
    finally:
        connection.close()


def run_command(tmp_path: Path, command: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT_SECONDS,
    )


def non_log_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not LOG_RECORD.match(line)]


# --- serve over a real socket ---------------------------------------------------------


def test_serve_over_real_socket(start_server, launcher: list[str], catalog: Catalog) -> None:
    server = start_server(launcher)

    buildinfo = fetch(server.port, "GET", "/api/v2/buildinfo")
    assert buildinfo.status == 200
    assert buildinfo.body == catalog.rendered("default").replies["build-info"].body
    assert buildinfo.headers["Content-Type"] == "application/json; charset=utf-8"
    assert buildinfo.headers["X-Coder-Build-Version"] == DEFAULT_VERSION
    assert buildinfo.headers.get_all("Server") is None
    date = buildinfo.headers["Date"]
    assert date is not None
    assert email.utils.parsedate_to_datetime(date).tzname() == "UTC"
    assert date.endswith(" GMT")

    unauthorized = fetch(server.port, "GET", "/api/v2/deployment/config")
    assert unauthorized.status == 401
    assert json.loads(unauthorized.body) == {
        "message": SIGNED_OUT,
        "detail": 'Cookie "coder_session_token" or query parameter must be provided.',
    }
    assert unauthorized.headers.get_all("Server") is None

    switched = fetch(server.port, "PUT", "/__admin/scenario", {"Content-Type": "application/json"},
                     json.dumps({"name": "dev-build"}).encode())
    assert switched.status == 200
    assert json.loads(switched.body)["version"] == DEV_BUILD_VERSION

    after = fetch(server.port, "GET", "/api/v2/buildinfo")
    assert after.status == 200
    assert after.body == catalog.rendered("dev-build").replies["build-info"].body
    assert after.headers["X-Coder-Build-Version"] == DEV_BUILD_VERSION

    assert server.stop() == 0


def test_serve_prints_tokens(start_server, launcher: list[str]) -> None:
    server = start_server(launcher)
    # A finished request shows that the server loop runs, so the stop below is not early.
    assert fetch(server.port, "GET", "/api/v2/buildinfo").status == 200

    assert server.stop() == 0
    lines = [line.rstrip("\n") for line in server.remaining_stdout()]

    assert lines == [
        "  scenario: default (seed 1)",
        f"  owner    admin      Coder-Session-Token: {OWNER_TOKEN}",
        f"  member   member     Coder-Session-Token: {MEMBER_TOKEN}",
        f"  member   member     Coder-Session-Token: {EXPIRED_TOKEN}  (expired)",
    ]


def test_serve_with_seed(start_server, catalog: Catalog) -> None:
    server = start_server(LAUNCHERS["module"], "--scenario", "dev-build", "--seed", "12345")

    buildinfo = fetch(server.port, "GET", "/api/v2/buildinfo")

    assert buildinfo.body == catalog.rendered("dev-build", 12345).replies["build-info"].body
    assert server.next_stdout_line() == "  scenario: dev-build (seed 12345)\n"
    assert server.stop() == 0


# --- Access log -------------------------------------------------------------------------


TOKEN_REQUESTS = [
    ("GET", f"/api/v2/buildinfo?coder_session_token={OWNER_TOKEN}", {"Coder-Session-Token": OWNER_TOKEN},
     ("GET", "/api/v2/buildinfo", "200", "build-info")),
    ("GET", f"/api/v2/deployment/config?coder_session_token={OWNER_TOKEN}", {},
     ("GET", "/api/v2/deployment/config", "200", "get-deployment-config")),
    ("GET", "/api/v2/deployment/stats", {"Coder-Session-Token": OWNER_TOKEN},
     ("GET", "/api/v2/deployment/stats", "200", "get-deployment-stats")),
    ("GET", f"/api/v2/users/me/keys/tokens/tokenconfig?access_token={MEMBER_TOKEN}", {},
     ("GET", "/api/v2/users/me/keys/tokens/tokenconfig", "200", "get-token-config")),
    ("GET", "/api/v2/experiments", {"Authorization": f"Bearer {EXPIRED_TOKEN}"},
     ("GET", "/api/v2/experiments", "401", "get-enabled-experiments")),
    ("GET", "/api/v2/deployment/ssh", {"Cookie": f"coder_session_token={UNKNOWN_TOKEN}"},
     ("GET", "/api/v2/deployment/ssh", "401", "ssh-config")),
    ("GET", "/__admin/health", {"Coder-Session-Token": OWNER_TOKEN},
     ("GET", "/__admin/health", "200", "-")),
    ("GET", "/api/v2/nope", {}, ("GET", "/api/v2/nope", "404", "unmatched")),
]
SECRETS = [OWNER_TOKEN, MEMBER_TOKEN, EXPIRED_TOKEN, UNKNOWN_TOKEN, "coderMockAdminSecret01",
           "coderMockMemberSecret1", "coderMockExpiredToken1", "abcdefghijklmnopqrstuv"]


def send_token_requests(port: int) -> None:
    for method, path, headers, logged in TOKEN_REQUESTS:
        response = fetch(port, method, path, headers)
        assert response.status == int(logged[2]), path


def test_access_line_per_request(start_server, launcher: list[str]) -> None:
    server = start_server(launcher)

    send_token_requests(server.port)
    assert server.stop() == 0
    stderr = server.stderr()

    access = [ACCESS_LINE.match(line) for line in stderr.splitlines() if " coder_mock.access: " in line]
    assert all(access), stderr
    assert [match.groups() for match in access] == [logged for _, _, _, logged in TOKEN_REQUESTS]
    for secret in SECRETS:
        assert secret not in stderr


def test_quiet_silences_access_lines(start_server, launcher: list[str]) -> None:
    server = start_server(launcher, "--quiet")

    send_token_requests(server.port)
    assert server.stop() == 0
    stderr = server.stderr()

    assert [line for line in stderr.splitlines() if "coder_mock.access" in line] == []
    assert "coder_mock.server: coder-mock stopped" in stderr
    for secret in SECRETS:
        assert secret not in stderr


# --- Start-up failures ------------------------------------------------------------------


def test_busy_port_exits_with_one_line(tmp_path: Path, launcher: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]

        completed = run_command(tmp_path, launcher, "serve", "--port", str(port))

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    assert non_log_lines(completed.stderr) == [
        f"coder-mock: port {port} on 127.0.0.1 is already in use; stop the process using it"
        " or pick another port with --port (0 picks a free one)."
    ]
    assert [line for line in completed.stderr.splitlines() if str(port) in line] == non_log_lines(completed.stderr)


def test_unknown_scenario_exits_2(tmp_path: Path, launcher: list[str]) -> None:
    completed = run_command(tmp_path, launcher, "serve", "--port", "0", "--scenario", "nope")

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert non_log_lines(completed.stderr) == [
        f"coder-mock: unknown scenario 'nope'; choose one of {', '.join(BUILTIN_SCENARIOS)}."
    ]


def test_missing_scenarios_dir_exits_2(tmp_path: Path) -> None:
    completed = run_command(tmp_path, LAUNCHERS["module"], "scenarios", "--scenarios-dir", "nowhere")

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        "coder-mock: nowhere: folder not found; check the --scenarios-dir or --fixtures-dir value."
    ]


# --- coder-mock scenarios ----------------------------------------------------------------


def builtin_lines(catalog: Catalog, width: int) -> dict[str, str]:
    return {name: f"{name:<{width}}  {catalog.entries[name].description}" for name in BUILTIN_SCENARIOS}


def test_scenarios_lists_builtins(tmp_path: Path, launcher: list[str], catalog: Catalog) -> None:
    completed = run_command(tmp_path, launcher, "scenarios")

    assert completed.returncode == 0
    assert completed.stderr == ""
    width = len("unlimited-token-lifetime")
    assert completed.stdout.splitlines() == list(builtin_lines(catalog, width).values())
    assert "default                   A healthy release deployment with update checks off." in completed.stdout


BROKEN_SCENARIOS = [
    ("extends: nowhere\ndescription: Broken on purpose.\n",
     'sc/broken.yaml: extends: unknown scenario "nowhere"; use one of broken, default, dev-build, experiments,'
     " flaky, good, minimal, outdated, rate-limited, release-candidate, server-errors, stats-processing,"
     " unlimited-token-lifetime."),
    ("description: [unclosed\n",
     "sc/broken.yaml: invalid YAML at line 2 column 1: while parsing a flow sequence, expected ',' or ']',"
     " but got '<stream end>'."),
    ("extends: default\ndescription: Bad status.\noverrides:\n  all:\n    status: 200\n",
     "sc/broken.yaml: overrides.all.status: invalid status 200: an override is an error response,"
     " so use a status from 400 to 599."),
]


@pytest.mark.parametrize(("text", "problem"), BROKEN_SCENARIOS)
def test_scenarios_lists_rejected(tmp_path: Path, launcher: list[str], catalog: Catalog, text: str, problem: str) -> None:
    (tmp_path / "sc").mkdir()
    (tmp_path / "sc" / "broken.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "sc" / "good.yaml").write_text("extends: default\ndescription: A user scenario.\n", encoding="utf-8")

    completed = run_command(tmp_path, launcher, "scenarios", "--scenarios-dir", "sc")

    assert completed.returncode == 0
    assert completed.stderr == ""
    width = len("unlimited-token-lifetime")
    usable = builtin_lines(catalog, width)
    usable["good"] = f"{'good':<{width}}  A user scenario.  (sc/good.yaml)"
    assert completed.stdout.splitlines() == [usable[name] for name in sorted(usable)] + [
        f"{'broken':<{width}}  REJECTED: {problem}"
    ]


def test_serve_skips_broken_scenario(start_server, tmp_path: Path) -> None:
    (tmp_path / "sc").mkdir()
    (tmp_path / "sc" / "broken.yaml").write_text(BROKEN_SCENARIOS[0][0], encoding="utf-8")
    (tmp_path / "sc" / "good.yaml").write_text("extends: default\ndescription: A user scenario.\n", encoding="utf-8")
    server = start_server(LAUNCHERS["module"], "--scenarios-dir", "sc", "--scenario", "good")
    # A scenario is loaded, and found broken, when it is first used.
    switched = fetch(server.port, "PUT", "/__admin/scenario", body=b'{"name": "broken"}')
    live = json.loads(fetch(server.port, "GET", "/__admin/scenario").body)

    listed = json.loads(fetch(server.port, "GET", "/__admin/scenarios").body)

    assert switched.status == 404
    assert json.loads(switched.body) == {
        "message": 'Scenario "broken" was rejected because its files have problems; fix them'
                   " (GET /__admin/scenarios and coder-mock validate list them all).",
        "detail": BROKEN_SCENARIOS[0][1],
    }
    assert live["name"] == "good"

    assert [entry["name"] for entry in listed["scenarios"]] == sorted([*BUILTIN_SCENARIOS, "good"])
    assert listed["rejected"] == [{"name": "broken", "problems": [BROKEN_SCENARIOS[0][1]]}]
    assert server.stop() == 0
    assert f"WARNING coder_mock.catalog: scenario broken skipped: {BROKEN_SCENARIOS[0][1]}" in server.stderr()


def test_serve_broken_scenario_exits_2(tmp_path: Path) -> None:
    (tmp_path / "sc").mkdir()
    (tmp_path / "sc" / "broken.yaml").write_text(BROKEN_SCENARIOS[2][0], encoding="utf-8")

    completed = run_command(tmp_path, LAUNCHERS["module"], "serve", "--port", "0",
                            "--scenarios-dir", "sc", "--scenario", "broken")

    assert completed.returncode == 2
    assert non_log_lines(completed.stderr) == [
        f"coder-mock: scenario 'broken' cannot be served: {BROKEN_SCENARIOS[2][1]}"
    ]


# --- Stopping --------------------------------------------------------------------------


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_server(start_server, launcher: list[str], signal_number: int) -> None:
    server = start_server(launcher)
    assert fetch(server.port, "GET", "/api/v2/buildinfo").status == 200

    exit_code = server.stop(signal_number)

    assert exit_code == 0
    assert "Traceback" not in server.stderr()
    assert server.stderr().splitlines()[-1].endswith(" INFO coder_mock.server: coder-mock stopped")
    with pytest.raises(OSError):
        fetch(server.port, "GET", "/api/v2/buildinfo")


def write_many_users_scenario(folder: Path, count: int) -> None:
    """Write a scenario whose token listing is larger than a pipe buffer (64 KiB on Linux)."""
    lines = ["extends: default", "description: Many users, so that the token listing is long.", "users:"]
    for index in range(count):
        lines += [
            f"  - username: user{index}",
            "    roles: [member]",
            "    tokens:",
            f"      - token: user{index:06d}-{'s' * 16}{index:06d}",
        ]
    folder.mkdir()
    (folder / "many.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_after_listening_line(tmp_path: Path, signal_number: int) -> None:
    """Stop the server with a signal after the listening line, while it still writes the token listing."""
    write_many_users_scenario(tmp_path / "sc", 2000)
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [*LAUNCHERS["module"], "serve", "--port", "0", "--scenarios-dir", "sc", "--scenario", "many"],
            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
    first_line: queue.Queue[str] = queue.Queue()
    rest: queue.Queue[str | None] = queue.Queue()
    try:
        # Read only the first line, so that the rest of the listing fills the pipe and
        # the server cannot get past printing it until the test reads again.
        threading.Thread(target=lambda: first_line.put(process.stdout.readline()), daemon=True).start()
        assert LISTENING.match(first_line.get(timeout=STARTUP_TIMEOUT_SECONDS))

        process.send_signal(signal_number)
        drain = threading.Thread(target=read_lines, args=(process.stdout, rest), daemon=True)
        drain.start()
        exit_code = process.wait(timeout=STOP_TIMEOUT_SECONDS)
        drain.join(timeout=STOP_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        process.stdout.close()

    assert exit_code == 0
    assert "Traceback" not in stderr_path.read_text(encoding="utf-8")
