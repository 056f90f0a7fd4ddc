"""Fault rules over a real socket: delays in parallel, statuses, resets, empty, truncated and dripped responses.

coder-mock's own server runs on 127.0.0.1 port 0 in a thread, and a raw
socket client checks the exact bytes.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Callable, Iterator

import pytest
from flask import Flask

from coder_mock.server import bind

SOCKET_TIMEOUT_SECONDS = 10.0
POLL_DEADLINE_SECONDS = 10.0
BUILDINFO = "/api/v2/buildinfo"
UPDATECHECK = "/api/v2/updatecheck"
FAULTS = "/__admin/faults"


# --- A raw HTTP client ------------------------------------------------------------------------


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_SECONDS)


def request_bytes(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


def read_to_close(sock: socket.socket) -> bytes:
    """Read until the server closes the connection; a TCP reset raises ConnectionResetError."""
    data = b""
    while True:
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece


def split_response(data: bytes) -> tuple[str, dict[str, str], bytes]:
    """Split raw response bytes into the status line, the headers (lower-case names) and the body bytes."""
    head, separator, body = data.partition(b"\r\n\r\n")
    assert separator, f"no end of headers in {data[:200]!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    return status_line, headers, body


def read_one(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """Read one whole response framed by Content-Length, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"connection closed after {data!r}"
        data += piece
    status_line, headers, body = split_response(data)
    length = int(headers["content-length"])
    while len(body) < length:
        piece = sock.recv(65536)
        assert piece, f"connection closed after {len(body)} of {length} body bytes"
        body += piece
    return status_line, headers, body


def exchange(port: int, method: str, path: str, body: bytes = b"") -> tuple[str, dict[str, str], bytes]:
    with connect(port) as sock:
        sock.sendall(request_bytes(method, path, body))
        return read_one(sock)


def set_faults(port: int, rules: list[dict[str, Any]]) -> None:
    status_line, _, body = exchange(port, "PUT", FAULTS, json.dumps({"faults": rules}).encode())
    assert status_line == "HTTP/1.1 200 OK", body


def fault_states(port: int) -> list[dict[str, Any]]:
    return json.loads(exchange(port, "GET", FAULTS)[2])["faults"]


def journal(port: int) -> list[dict[str, Any]]:
    return json.loads(exchange(port, "GET", "/__admin/requests?path_prefix=/api/v2")[2])["requests"]


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + POLL_DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# --- coder-mock's server ----------------------------------------------------------------------


@pytest.fixture
def port(app: Flask) -> Iterator[int]:
    server = bind(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=SOCKET_TIMEOUT_SECONDS)


@pytest.fixture
def normal_buildinfo(port: int) -> bytes:
    status_line, _, body = exchange(port, "GET", BUILDINFO)
    assert status_line == "HTTP/1.1 200 OK"
    return body


def test_delay_does_not_block_other_requests(port: int) -> None:
    set_faults(port, [{"operation": "build-info", "delay": "3s"}])
    delayed: dict[str, Any] = {}

    def slow_request() -> None:
        delayed["response"] = exchange(port, "GET", BUILDINFO)
        delayed["finished"] = time.monotonic()

    thread = threading.Thread(target=slow_request)
    thread.start()
    # The admin API is never delayed, so polling it shows when the slow request has taken its fault.
    wait_until(lambda: fault_states(port)[0]["applied"] == 1, "the delayed request to reach the server")

    plain_status, _, _ = exchange(port, "GET", UPDATECHECK)
    plain_finished = time.monotonic()
    thread.join(timeout=SOCKET_TIMEOUT_SECONDS)

    assert plain_status == "HTTP/1.1 200 OK"
    assert delayed["response"][0] == "HTTP/1.1 200 OK"
    assert plain_finished < delayed["finished"]


def test_status_fault_bytes(port: int) -> None:
    set_faults(port, [{"operation": "build-info", "status": 503, "detail": "maintenance"}])

    status_line, headers, body = exchange(port, "GET", BUILDINFO)

    assert status_line == "HTTP/1.1 503 Service Unavailable"
    assert body == b'{"message":"Service Unavailable.","detail":"maintenance"}\n'
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["content-length"] == str(len(body))


def test_reset_sends_tcp_rst(port: int) -> None:
    set_faults(port, [{"operation": "build-info", "connection": "reset"}])

    with connect(port) as sock:
        sock.sendall(request_bytes("GET", BUILDINFO))
        with pytest.raises(ConnectionResetError):
            read_to_close(sock)

    assert [(entry["path"], entry["fault"]) for entry in journal(port)] == [(BUILDINFO, "reset")]
    assert exchange(port, "GET", UPDATECHECK)[0] == "HTTP/1.1 200 OK"


def test_empty_closes_without_bytes(port: int) -> None:
    set_faults(port, [{"operation": "build-info", "connection": "empty"}])

    with connect(port) as sock:
        sock.sendall(request_bytes("GET", BUILDINFO))
        received = read_to_close(sock)

    assert received == b""


def test_truncate_cuts_body_at_given_byte(port: int, normal_buildinfo: bytes) -> None:
    set_faults(port, [{"operation": "build-info", "connection": "truncate", "truncate_at": 10}])

    with connect(port) as sock:
        sock.sendall(request_bytes("GET", BUILDINFO))
        received = read_to_close(sock)

    status_line, headers, body = split_response(received)
    assert status_line == "HTTP/1.1 200 OK"
    assert int(headers["content-length"]) == len(normal_buildinfo)
    assert body == normal_buildinfo[:10]


def test_truncate_defaults_to_half(port: int, normal_buildinfo: bytes) -> None:
    set_faults(port, [{"operation": "build-info", "connection": "truncate"}])

    with connect(port) as sock:
        sock.sendall(request_bytes("GET", BUILDINFO))
        _, headers, body = split_response(read_to_close(sock))

    assert int(headers["content-length"]) == len(normal_buildinfo)
    assert body == normal_buildinfo[: len(normal_buildinfo) // 2]


def test_truncate_sends_less_than_whole_body(port: int, normal_buildinfo: bytes) -> None:
    set_faults(port, [{"operation": "build-info", "connection": "truncate", "truncate_at": 1_000_000}])

    with connect(port) as sock:
        sock.sendall(request_bytes("GET", BUILDINFO))
        _, headers, body = split_response(read_to_close(sock))

    assert int(headers["content-length"]) == len(normal_buildinfo)
    assert body == normal_buildinfo[:-1]


def read_dripped(sock: socket.socket) -> tuple[float, float, int, bytes, dict[str, str]]:
    """Read one response; return when its head was complete, when its last byte came, the body reads, body, headers."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, "connection closed before the end of the headers"
        data += piece
    head_done = time.monotonic()
    _, headers, body = split_response(data)
    length = int(headers["content-length"])
    reads = 0
    while len(body) < length:
        piece = sock.recv(65536)
        assert piece, "connection closed before the end of the body"
        body += piece
        reads += 1
    return head_done, time.monotonic(), reads, body, headers


def test_drip_sends_head_first_then_pieces(port: int, normal_buildinfo: bytes) -> None:
    set_faults(port, [{"operation": "build-info", "connection": "drip", "drip_bytes": 16, "drip_interval": "20ms",
                       "count": 1}])

    with connect(port) as sock:
        sock.sendall(request_bytes("GET", BUILDINFO))
        head_done, body_done, reads, body, headers = read_dripped(sock)

        assert body == normal_buildinfo
        assert int(headers["content-length"]) == len(normal_buildinfo)
        assert head_done < body_done
        assert reads >= 2
        # The connection stays open after a drip, so the next request on it gets the usual response.
        sock.sendall(request_bytes("GET", BUILDINFO))
        status_line, _, again = read_one(sock)

    assert status_line == "HTTP/1.1 200 OK"
    assert again == normal_buildinfo


def test_count_resets_next_connection_only(port: int) -> None:
    set_faults(port, [{"operation": "all", "connection": "reset", "count": 1}])

    with connect(port) as sock:
        sock.sendall(request_bytes("GET", UPDATECHECK))
        with pytest.raises(ConnectionResetError):
            read_to_close(sock)

    assert exchange(port, "GET", UPDATECHECK)[0] == "HTTP/1.1 200 OK"


def test_delay_then_reset(port: int) -> None:
    set_faults(port, [{"operation": "build-info", "delay": "10ms", "connection": "reset"}])

    with connect(port) as sock:
        sock.sendall(request_bytes("GET", BUILDINFO))
        with pytest.raises(ConnectionResetError):
            read_to_close(sock)

    assert [entry["fault"] for entry in journal(port)] == ["delay 10ms, reset"]
