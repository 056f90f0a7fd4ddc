"""Test helpers for the state backends: a private redis-server, and `coder-mock serve` processes."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis

STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
HTTP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.02
LISTENING = re.compile(r"^coder-mock listening on http://127\.0\.0\.1:(\d+)\n$")
INSTALL_REDIS = ("redis-server is not installed, and the Redis backend tests need it: install it with"
                 " `apt-get update -q && apt-get install -y -q redis-server` (Debian), as .ci/run does.")


@dataclass
class RedisServer:
    """A redis-server process on a unix socket in its own temporary folder."""

    process: subprocess.Popen[bytes]
    folder: Path
    socket: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket))

    def halt(self) -> None:
        """Stop the redis-server process and keep its folder, so that start_redis(folder) can start it again."""
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_redis(folder: Path | None = None) -> RedisServer:
    """Start redis-server without TCP, persistence or a config file; fail the test when it is not installed.

    `folder` is the folder of a halted server, whose socket path the new one takes; None makes a new folder.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(INSTALL_REDIS, pytrace=False)
    # A short folder name, because a unix socket path is limited to 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="cm-redis-")) if folder is None else folder
    socket = folder / "redis.sock"
    log = (folder / "redis.log").open("wb")

    process = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()
    server = RedisServer(process, folder, socket)

    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            output = (folder / "redis.log").read_text(errors="replace")
            server.stop()
            pytest.fail(f"redis-server exited with code {process.returncode} at start:\n{output}", pytrace=False)
        try:
            if socket.exists() and server.client().ping():
                return server
        except redis.ConnectionError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"redis-server did not answer on {socket} within {STARTUP_TIMEOUT_SECONDS} s", pytrace=False)
        time.sleep(POLL_SECONDS)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The URL of an empty Redis database, emptied again after the test."""
    client = redis_server.client()
    client.flushdb()
    yield redis_server.url
    client.flushdb()
    client.close()


@dataclass
class ServeProcess:
    """A `coder-mock serve --port 0` subprocess."""

    process: subprocess.Popen[str]
    port: int
    stderr_path: Path

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT_SECONDS)
        try:
            data = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=data, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def json(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        status, _, payload = self.request(method, path, body, headers)
        assert status in (200, 201), f"{method} {path}: {status} {payload!r}"
        return json.loads(payload)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    """Start `coder-mock serve --port 0 --quiet ARGS...` processes and stop each by its PID at teardown."""
    started: list[ServeProcess] = []

    def start(*args: str) -> ServeProcess:
        stderr_path = tmp_path / f"serve-{len(started)}.stderr"
        with stderr_path.open("w", encoding="utf-8") as stderr:
            process = subprocess.Popen([sys.executable, "-m", "coder_mock", "serve", "--port", "0", "--quiet", *args],
                                       cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=stderr, text=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        match = LISTENING.match(line)
        if match is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
            pytest.fail(f"coder-mock serve {' '.join(args)} did not start: {line!r}\n{stderr_path.read_text()}")
        server = ServeProcess(process, int(match.group(1)), stderr_path)
        started.append(server)
        return server

    yield start

    for server in started:
        server.stop()
        if server.process.stdout is not None:
            server.process.stdout.close()
