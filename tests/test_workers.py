"""`coder-mock serve --workers N`: granian worker processes, their responses, SIGTERM and start-up errors.

Each test starts a real `python -m coder_mock serve --workers 2 --port 0`
and reads the port from its first line of output.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from coder_mock.app import create_app
from coder_mock.catalog import Catalog
from coder_mock.cli import build_parser, build_store
from coder_mock.documents import FileProblem
from coder_mock.state import open_backend
from coder_mock.store import Store
from conftest import BUILTIN_SCENARIOS, OWNER_TOKEN
from state_helpers import redis_server, redis_url  # noqa: F401 - fixtures

START_SECONDS = 30.0
STOP_SECONDS = 30.0
# Workers stop listening as soon as they get the stop signal; before the fix they kept listening for 30 s.
REFUSE_SECONDS = 10.0
STOPPING_LINE = "coder-mock stopping: workers finish the requests in flight, then exit"


class Served:
    """A `coder-mock serve --workers` process with its output in files."""

    def __init__(self, tmp_path: Path, *arguments: str, new_session: bool = False) -> None:
        self.stdout_path = tmp_path / "stdout"
        self.stderr_path = tmp_path / "stderr"
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            # A new session makes the server the leader of its own process group, as a terminal's job is.
            self.process = subprocess.Popen([sys.executable, "-m", "coder_mock", "serve", *arguments],
                                            stdout=stdout, stderr=stderr, start_new_session=new_session)

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for_port(self) -> int:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            found = re.match(r"coder-mock listening on http://127\.0\.0\.1:(\d+)\n", self.stdout())
            if found:
                return int(found.group(1))
            assert self.process.poll() is None, self.stderr()
            time.sleep(0.02)
        raise AssertionError(f"no URL printed within {START_SECONDS} s: {self.stderr()}")

    def wait_for_stderr(self, text: str) -> None:
        deadline = time.monotonic() + STOP_SECONDS
        while text not in self.stderr():
            assert time.monotonic() < deadline, f"{text!r} not logged: {self.stderr()}"
            time.sleep(0.02)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_SECONDS)

    def kill(self) -> None:
        """Stop the server with SIGTERM, and with SIGKILL if it has not exited in time."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path, "--workers", "2", "--port", "0", "--quiet")
    yield server
    server.kill()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    # The workers load their Store after the socket listens; the request waits in the backlog meanwhile.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=START_SECONDS)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def body_of(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=START_SECONDS)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def test_workers_send_store_bytes(served: Served, catalog: Catalog) -> None:
    port = served.wait_for_port()
    expected = Store(catalog, "default").active
    status, body = body_of(port, "/api/v2/buildinfo")
    assert status == 200
    assert body == expected.replies["build-info"].body

    status, body = body_of(port, "/api/v2/deployment/config", {"Coder-Session-Token": OWNER_TOKEN})
    assert status == 200
    assert body == expected.replies["get-deployment-config"].body

    status, body = body_of(port, "/api/v2/deployment/ssh")
    in_process = create_app(Store(catalog, "default"), quiet=True).test_client().get("/api/v2/deployment/ssh")
    assert status == 401
    assert body == in_process.get_data()


def test_workers_send_common_headers(served: Served, catalog: Catalog) -> None:
    port = served.wait_for_port()
    response = get(port, "/api/v2/buildinfo")
    version = Store(catalog, "default").active.version
    assert response.status == 200
    assert response.reason == "OK"
    assert response.getheader("Content-Type") == "application/json; charset=utf-8"
    assert response.getheader("X-Coder-Build-Version") == version
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Content-Length") == "346"


def test_workers_serve_admin_api(served: Served) -> None:
    port = served.wait_for_port()
    status, body = body_of(port, "/__admin/scenario")
    assert status == 200
    assert b'"name":"default"' in body


def test_workers_print_tokens(served: Served) -> None:
    port = served.wait_for_port()
    lines = served.stdout().splitlines()
    assert lines[0] == f"coder-mock listening on http://127.0.0.1:{port}"
    assert lines[1] == "  scenario: default (seed 1)"
    assert lines[2].split() == ["owner", "admin", "Coder-Session-Token:", OWNER_TOKEN]


def test_sigterm_exits_zero(served: Served) -> None:
    port = served.wait_for_port()
    assert get(port, "/api/v2/buildinfo").status == 200
    assert served.stop() == 0
    assert STOPPING_LINE in served.stderr()
    assert served.stderr().rstrip().endswith("coder_mock.workers: coder-mock stopped")


def test_sigterm_during_start_exits_zero(tmp_path: Path) -> None:
    # The signal arrives as soon as the first worker listens, while the second may still load its Store.
    server = Served(tmp_path, "--workers", "2", "--port", "0", "--quiet")
    try:
        server.wait_for_port()
        assert server.stop() == 0
    finally:
        server.kill()


def test_sigterm_finishes_request_in_flight(served: Served) -> None:
    port = served.wait_for_port()
    body = b'{"csp-report":{"document-uri":"https://coder.example.com/"}}'
    with socket.create_connection(("127.0.0.1", port), timeout=START_SECONDS) as client:
        # "100 Continue" shows that a worker has read the headers and waits for the body.
        client.sendall(b"POST /api/v2/csp/reports HTTP/1.1\r\nHost: coder\r\nExpect: 100-continue\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(body))
        assert client.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        served.process.send_signal(signal.SIGTERM)
        served.wait_for_stderr(STOPPING_LINE)
        client.sendall(body)
        response = b""
        while not response.endswith(b'"ok"\n'):
            piece = client.recv(4096)
            assert piece, response
            response += piece
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert served.process.wait(STOP_SECONDS) == 0


def wait_until_refused(port: int) -> None:
    """Poll until no worker accepts connections on `port`; fail after REFUSE_SECONDS."""
    deadline = time.monotonic() + REFUSE_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, f"workers still accept connections {REFUSE_SECONDS} s after the signal"
        time.sleep(0.02)


def test_sigint_to_group_finishes_request_in_flight(tmp_path: Path) -> None:
    # Ctrl-C in a terminal sends SIGINT to every process of the group: the main process and each worker.
    served = Served(tmp_path, "--workers", "2", "--port", "0", "--quiet", new_session=True)
    try:
        port = served.wait_for_port()
        body = b'{"csp-report":{"document-uri":"https://coder.example.com/"}}'
        with socket.create_connection(("127.0.0.1", port), timeout=START_SECONDS) as client:
            client.sendall(b"POST /api/v2/csp/reports HTTP/1.1\r\nHost: coder\r\nExpect: 100-continue\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body))
            assert client.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
            os.killpg(served.process.pid, signal.SIGINT)
            served.wait_for_stderr(STOPPING_LINE)
            wait_until_refused(port)
            client.sendall(body)
            response = b""
            while not response.endswith(b'"ok"\n'):
                piece = client.recv(4096)
                assert piece, response
                response += piece
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert served.process.wait(STOP_SECONDS) == 0
        assert "refused to gracefully stop" not in served.stderr()
        assert served.stderr().rstrip().endswith("coder_mock.workers: coder-mock stopped")
    finally:
        served.kill()


def test_sigint_to_idle_group_exits_without_kill(tmp_path: Path) -> None:
    served = Served(tmp_path, "--workers", "2", "--port", "0", "--quiet", new_session=True)
    try:
        port = served.wait_for_port()
        assert get(port, "/api/v2/buildinfo").status == 200
        os.killpg(served.process.pid, signal.SIGINT)
        assert served.process.wait(STOP_SECONDS) == 0
        assert "refused to gracefully stop" not in served.stderr()
    finally:
        served.kill()


def test_start_line_names_joined_scenario(tmp_path: Path, catalog: Catalog) -> None:
    # The state file already serves `outdated`, so the workers join it instead of serving --scenario.
    spec = f"sqlite:{tmp_path / 'state.db'}"
    Store(catalog, "outdated", state=open_backend(spec)).close()
    served = Served(tmp_path, "--workers", "2", "--port", "0", "--quiet", "--state", spec)
    try:
        port = served.wait_for_port()
        assert f"coder-mock serving scenario outdated at http://127.0.0.1:{port} with 2 workers and state {spec}\n" \
            in served.stderr()
    finally:
        served.kill()


def test_port_in_use_prints_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "coder_mock", "serve", "--workers", "2", "--port", str(port)],
                                capture_output=True, text=True, timeout=START_SECONDS)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (f"coder-mock: port {port} on 127.0.0.1 is already in use; stop the process using it"
                             " or pick another port with --port (0 picks a free one).\n")


def test_unknown_scenario_fails_before_workers(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "coder_mock", "serve", "--workers", "2", "--port", "0",
                             "--scenario", "nope"], capture_output=True, text=True, timeout=START_SECONDS)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"coder-mock: unknown scenario 'nope'; choose one of {', '.join(BUILTIN_SCENARIOS)}."
    assert "worker" not in result.stderr


@pytest.mark.parametrize("value", ["0", "65", "two", "-1"])
def test_invalid_worker_count_rejected(value: str) -> None:
    result = subprocess.run([sys.executable, "-m", "coder_mock", "serve", "--workers", value],
                            capture_output=True, text=True, timeout=START_SECONDS)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (f"coder-mock serve: error: argument --workers: invalid worker count"
                                              f" {value!r}; use a number from 1 to 64")


def test_workers_build_own_store(served: Served) -> None:
    # Each worker logs this line after it has built its own Store with cli.build_store.
    served.wait_for_port()
    deadline = time.monotonic() + START_SECONDS
    while True:
        logged = {int(found) for found in re.findall(r"coder_mock\.workers: worker (\d+) serving scenario default",
                                                      served.stderr())}
        if len(logged) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert logged == set(worker_pids(served.process.pid))


def test_build_store_uses_serve_arguments() -> None:
    args = build_parser().parse_args(["serve", "--scenario", "outdated", "--seed", "7", "--profile", "reference",
                                      "--journal-size", "5"])
    store = build_store(args)
    assert store.active.name == "outdated"
    assert store.active.world.seed == 7
    assert store.active.profile == "reference"
    assert store.journal.size == 5


def test_build_store_rejects_unknown_scenario() -> None:
    args = build_parser().parse_args(["serve", "--scenario", "nope"])
    with pytest.raises(FileProblem) as raised:
        build_store(args)
    assert raised.value.lines == [f"unknown scenario 'nope'; choose one of {', '.join(BUILTIN_SCENARIOS)}."]


def test_one_worker_switches_scenario(tmp_path: Path, catalog: Catalog) -> None:
    # With one worker, every request reaches the same state, so a switch is seen by the next request.
    server = Served(tmp_path, "--workers", "1", "--port", "0", "--quiet")
    try:
        port = server.wait_for_port()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=START_SECONDS)
        connection.request("PUT", "/__admin/scenario", body=b'{"name": "outdated"}')
        switched = connection.getresponse()
        assert switched.status == 200
        assert json.loads(switched.read())["name"] == "outdated"
        connection.close()

        status, body = body_of(port, "/api/v2/buildinfo")
        assert status == 200
        assert body == Store(catalog, "outdated").active.replies["build-info"].body
    finally:
        server.kill()


def test_workers_read_request_bodies(served: Served) -> None:
    port = served.wait_for_port()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=START_SECONDS)
    connection.request("POST", "/api/v2/csp/reports", body=b'{"csp-report": {"document-uri": "https://x/"}}',
                       headers={"Content-Type": "application/csp-report"})
    accepted = connection.getresponse()
    assert accepted.status == 200
    assert accepted.read() == b'"ok"\n'
    connection.request("POST", "/api/v2/csp/reports", body=b'{"csp-report": ',
                       headers={"Content-Type": "application/csp-report"})
    rejected = connection.getresponse()
    assert rejected.status == 400
    assert json.loads(rejected.read()) == {"message": "Failed to read body, invalid json.", "detail": "unexpected EOF"}
    connection.close()


def worker_pids(parent: int) -> list[int]:
    """Return the PIDs of the processes whose parent is `parent`."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children]


def test_workers_stop_when_main_killed(served: Served) -> None:
    port = served.wait_for_port()
    assert get(port, "/api/v2/buildinfo").status == 200
    workers = worker_pids(served.process.pid)
    assert len(workers) == 2
    served.process.kill()
    served.process.wait()
    deadline = time.monotonic() + STOP_SECONDS
    while any(is_running(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} still run after the main process was killed"
        time.sleep(0.02)


def is_running(pid: int) -> bool:
    """Return whether process `pid` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    # The state letter follows the command name, which sits in parentheses.
    return stat[stat.rindex(")") + 2] != "Z"


def admin(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=START_SECONDS)
    connection.request(method, path, body=body)
    response = connection.getresponse()
    decoded = json.loads(response.read() or b"null")
    connection.close()
    return response.status, decoded


REQUESTS = 40


def check_workers_share_state(port: int, catalog: Catalog) -> None:
    assert admin(port, "PUT", "/__admin/scenario", b'{"name": "outdated"}')[0] == 200
    assert admin(port, "DELETE", "/__admin/requests")[0] == 200
    expected = Store(catalog, "outdated").active.replies["build-info"].body
    # Each request opens a new connection, which the kernel hands to either worker.
    for _ in range(REQUESTS):
        assert body_of(port, "/api/v2/buildinfo") == (200, expected)
    # One worker serves the count, so it contains the entries of both.
    assert admin(port, "GET", "/__admin/requests/count?path=/api/v2/buildinfo") == (200, {"count": REQUESTS})
    created_status, session = admin(port, "POST", "/__admin/sessions", b'{"scenario": "dev-build"}')
    assert created_status == 201
    dev_build = Store(catalog, "dev-build").active.replies["build-info"].body
    for _ in range(REQUESTS // 4):
        assert body_of(port, "/api/v2/buildinfo", {"Coder-Mock-Session": session["id"]}) == (200, dev_build)


def test_workers_share_state_in_sqlite_by_default(served: Served, catalog: Catalog) -> None:
    check_workers_share_state(served.wait_for_port(), catalog)
    assert "with 2 workers and state sqlite:" in served.stderr()


def test_workers_share_state_in_redis(tmp_path: Path, catalog: Catalog, redis_url: str) -> None:
    server = Served(tmp_path, "--workers", "2", "--port", "0", "--quiet", "--state", redis_url)
    try:
        check_workers_share_state(server.wait_for_port(), catalog)
    finally:
        server.kill()


def test_workers_refuse_memory_state(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "coder_mock", "serve", "--workers", "2", "--port", "0",
                             "--state", "memory"], capture_output=True, text=True, timeout=START_SECONDS)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "coder-mock: --state memory cannot be shared by worker processes; leave --state out to share a new"
        " SQLite file, or give sqlite:PATH or a Redis URL.")


def test_workers_journal_complete(served: Served) -> None:
    port = served.wait_for_port()
    assert admin(port, "DELETE", "/__admin/requests")[0] == 200
    # Each request opens a new connection, which the kernel hands to either worker.
    for number in range(REQUESTS):
        assert get(port, f"/api/v2/buildinfo?n={number}").status == 200
    assert admin(port, "GET", "/__admin/requests/count?path=/api/v2/buildinfo") == (200, {"count": REQUESTS})
    status, listed = admin(port, "GET", "/__admin/requests?path=/api/v2/buildinfo")
    assert status == 200
    assert [item["query"]["n"] for item in listed["requests"]] == [[str(number)] for number in range(REQUESTS)]
    # The journal calls themselves are not journaled, so only the 40 requests are cleared.
    assert admin(port, "DELETE", "/__admin/requests") == (200, {"cleared": REQUESTS})
    assert admin(port, "GET", "/__admin/requests/count?path=/api/v2/buildinfo") == (200, {"count": 0})


def test_workers_journal_bounded(tmp_path: Path) -> None:
    server = Served(tmp_path, "--workers", "2", "--port", "0", "--quiet", "--journal-size", "5")
    try:
        port = server.wait_for_port()
        assert admin(port, "DELETE", "/__admin/requests")[0] == 200
        for number in range(12):
            assert get(port, f"/api/v2/buildinfo?n={number}").status == 200
        status, listed = admin(port, "GET", "/__admin/requests")
        assert status == 200
        assert listed["size"] == 5
        assert [item["query"]["n"] for item in listed["requests"]] == [[str(number)] for number in range(7, 12)]
        assert admin(port, "GET", "/__admin/requests/count") == (200, {"count": 5})
    finally:
        server.kill()
