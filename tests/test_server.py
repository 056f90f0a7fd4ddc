"""The HTTP layer over a real socket: framing, keep-alive, errors and start-up failures as Go's net/http has them."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import pytest
from flask import Flask

from coder_mock.api.general import go_quote_bytes
from coder_mock.app import create_app
from coder_mock.server import MAX_HEADER_BYTES, READ_TIMEOUT_SECONDS, QuietRequestHandler, bind
from coder_mock.store import Store

from conftest import MEMBER_TOKEN, OWNER_TOKEN

SOCKET_TIMEOUT_SECONDS = 5.0
PROCESS_TIMEOUT_SECONDS = 60.0
# A read timeout short enough for tests that wait for the server to give up on a connection.
SHORT_READ_TIMEOUT_SECONDS = 0.5
JSON = "application/json; charset=utf-8"
TOKEN_CONFIG_PATH = "/api/v2/users/me/keys/tokens/tokenconfig"
CSP_PATH = "/api/v2/csp/reports"
CSP_OK_BODY = b'"ok"\n'
ROOT_BODY = b'{"message":"\xf0\x9f\x91\x8b"}\n'
INTERNAL_ERROR_BODY = b'{"message":"An internal server error occurred."}\n'
METHOD_NOT_ALLOWED_BODY = b'{"message":"Method not allowed."}\n'
UNKNOWN_USER_PREFIX = b'{"message":"\\"user\\" must be an existing uuid or username.","detail":"queried user='


def invalid_json_body(detail: str) -> bytes:
    return b'{"message":"Failed to read body, invalid json.","detail":"' + detail.encode() + b'"}\n'


# --- Raw HTTP over a socket ----------------------------------------------------------------


@dataclass(frozen=True)
class RawResponse:
    """One response as read off the socket: status line, headers in order, body."""

    status_line: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def read_response(reader: BinaryIO, head: bool = False) -> RawResponse:
    """Read one response; it must carry a Content-Length, as every response of the server does."""
    status_line = reader.readline(65537).decode("latin-1")
    assert status_line.endswith("\r\n"), f"no status line, got {status_line!r}"
    headers = []
    for _ in range(200):
        line = reader.readline(65537).decode("latin-1")
        assert line.endswith("\r\n"), f"unterminated header line {line!r}"
        if line == "\r\n":
            break
        name, _, value = line[:-2].partition(":")
        headers.append((name, value.strip()))
    response = RawResponse(status_line[:-2], headers, b"")
    length = response.header("Content-Length")
    assert length is not None, f"no Content-Length in {headers}"
    body = b"" if head else reader.read(int(length))
    return RawResponse(status_line[:-2], headers, body)


class Connection:
    """A client socket to the server with a buffered reader for its responses."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_SECONDS)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self, head: bool = False) -> RawResponse:
        return read_response(self.reader, head)

    def closed_by_server(self) -> bool:
        """Return whether the server closed the connection, waiting at most the socket timeout."""
        try:
            return self.reader.read(1) == b""
        except TimeoutError:
            return False

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def request(method: str, target: str | bytes, headers: list[tuple[str, str]] | None = None, body: bytes = b"",
            version: str = "HTTP/1.1") -> bytes:
    """Build a request with a Host header; a bytes target is sent as is."""
    raw_target = target if isinstance(target, bytes) else target.encode("latin-1")
    lines = [f"{name}: {value}" for name, value in [("Host", "127.0.0.1"), *(headers or [])]]
    head = f"{method} ".encode() + raw_target + f" {version}\r\n".encode() + "".join(
        line + "\r\n" for line in lines).encode("latin-1")
    return head + b"\r\n" + body


def chunked_csp_request(chunked_body: bytes) -> bytes:
    return request("POST", CSP_PATH, [("Transfer-Encoding", "chunked")], chunked_body)


@pytest.fixture
def serve_app() -> Iterator[Callable[[Flask], int]]:
    """Serve Flask apps on 127.0.0.1 in threads; return each one's port and stop them all at teardown."""
    started = []

    def start(app: Flask) -> int:
        server = bind(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        started.append((server, thread))
        return server.server_port

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=SOCKET_TIMEOUT_SECONDS)


@pytest.fixture
def port(serve_app: Callable[[Flask], int], app: Flask) -> int:
    return serve_app(app)


@pytest.fixture
def connect(port: int) -> Iterator[Callable[[], Connection]]:
    """Open connections to the served app and close them all at teardown."""
    opened: list[Connection] = []

    def open_connection() -> Connection:
        connection = Connection(port)
        opened.append(connection)
        return connection

    yield open_connection
    for connection in opened:
        connection.close()


def exchange(connect: Callable[[], Connection], data: bytes) -> tuple[RawResponse, Connection]:
    connection = connect()
    connection.send(data)
    return connection.response(), connection


def assert_envelope(response: RawResponse, status_line: str, body: bytes, version: str) -> None:
    """Check a JSON error sent by the HTTP layer: status, exact body and coderd's common headers."""
    assert response.status_line == status_line
    assert response.body == body
    assert response.header("Content-Type") == JSON
    assert response.header("X-Coder-Build-Version") == version
    assert response.header("X-Content-Type-Options") == "nosniff"
    assert response.header("Content-Length") == str(len(body))
    assert response.header("Connection") == "close"


# --- Chunked request bodies --------------------------------------------------------------

# Name -> (chunked body, Go's chunkedReader error).
CHUNKED_ERRORS = {
    "invalid-byte": (b"zz\r\n{}\r\n0\r\n\r\n", "invalid byte in chunk length"),
    "seventeen-digits": (b"fffffffffffffffff\r\n{}\r\n0\r\n\r\n", "http chunk length too large"),
    "empty-size": (b"\r\n{}\r\n0\r\n\r\n", "empty hex number for chunk length"),
    "bare-lf": (b"2\n{}\r\n0\r\n\r\n", "chunked line ends with bare LF"),
    "cr-inside-size": (b"2\r1\r\n{}\r\n0\r\n\r\n", "invalid CR in chunked line"),
    "no-crlf-after-data": (b"1\r\n{xx1\r\n}\r\n0\r\n\r\n", "malformed chunked encoding"),
    "size-line-too-long": (b"2;" + b"x" * 4096 + b"\r\n{}\r\n0\r\n\r\n", "header line too long"),
}


@pytest.mark.parametrize("case", CHUNKED_ERRORS)
def test_broken_chunked_body_gets_go_error(connect, store: Store, case: str) -> None:
    chunked_body, error = CHUNKED_ERRORS[case]

    response, connection = exchange(connect, chunked_csp_request(chunked_body))

    assert response.status_line == "HTTP/1.1 400 Bad Request"
    assert response.body == invalid_json_body(error)
    assert response.header("X-Coder-Build-Version") == store.active.version
    assert response.header("X-Content-Type-Options") == "nosniff"
    # The rest of the stream cannot be framed, so the connection ends.
    assert response.header("Connection") == "close"
    assert connection.closed_by_server()


def test_chunked_body_ending_early(connect) -> None:
    connection = connect()
    connection.send(chunked_csp_request(b"5\r\n{"))
    connection.sock.shutdown(socket.SHUT_WR)

    response = connection.response()

    assert response.status_line == "HTTP/1.1 400 Bad Request"
    assert response.body == invalid_json_body("unexpected EOF")


def test_chunk_size_of_max_uint64_is_read(connect) -> None:
    """Go's parseHexUint accepts 16 hex digits, so the report decodes; the unread rest closes the connection."""
    started = time.monotonic()

    response, connection = exchange(connect, chunked_csp_request(b"ffffffffffffffff\r\n{}\r\n0\r\n\r\n"))

    assert response.status_line == "HTTP/1.1 200 OK"
    assert response.body == CSP_OK_BODY
    assert response.header("Connection") == "close"
    assert connection.closed_by_server()
    assert time.monotonic() - started < SOCKET_TIMEOUT_SECONDS


def test_chunked_report_with_extension_and_trailer(connect) -> None:
    body = b'{"csp-report":{"blocked-uri":"inline"}}'
    chunked = (b"a;name=value\r\n" + body[:10] + b"\r\n" + f"{len(body) - 10:x}".encode() + b"\r\n" + body[10:]
               + b"\r\n0\r\nX-Trailer: 1\r\n\r\n")

    first, connection = exchange(connect, chunked_csp_request(chunked))
    connection.send(request("GET", "/api/v2/"))
    second = connection.response()

    assert first.status_line == "HTTP/1.1 200 OK"
    assert first.body == CSP_OK_BODY
    assert first.header("Connection") is None
    assert second.status_line == "HTTP/1.1 200 OK"
    assert second.body == ROOT_BODY


def test_report_stops_at_first_value(connect) -> None:
    """A declared length longer than the data sent gets a response once the JSON value is complete, as Go does."""
    started = time.monotonic()

    response, connection = exchange(connect, request("POST", CSP_PATH, [("Content-Length", "1000000")], b"{}"))

    assert response.status_line == "HTTP/1.1 200 OK"
    assert response.body == CSP_OK_BODY
    # More than Go drains after a handler is left, so the connection ends.
    assert response.header("Connection") == "close"
    assert connection.closed_by_server()
    assert time.monotonic() - started < SOCKET_TIMEOUT_SECONDS


# --- Internal errors ------------------------------------------------------------------------


def test_internal_error_hides_exception(serve_app, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(store, quiet=True)

    @app.get("/api/v2/boom")
    def boom() -> str:
        raise RuntimeError("secret internals at /srv/coder")

    connection = Connection(serve_app(app))
    try:
        connection.send(request("GET", "/api/v2/boom"))
        response = connection.response()
    finally:
        connection.close()

    assert response.status_line == "HTTP/1.1 500 Internal Server Error"
    assert response.body == INTERNAL_ERROR_BODY
    assert response.header("X-Coder-Build-Version") == store.active.version
    logged = [record for record in caplog.records if record.name == "coder_mock.app"]
    assert [record.getMessage() for record in logged] == ["unhandled error on GET /api/v2/boom"]
    assert logged[0].exc_info is not None
    assert str(logged[0].exc_info[1]) == "secret internals at /srv/coder"


# --- Timeouts and request framing -----------------------------------------------------------


def test_read_timeout_is_thirty_seconds() -> None:
    assert READ_TIMEOUT_SECONDS == 30.0
    assert QuietRequestHandler.timeout == READ_TIMEOUT_SECONDS


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QuietRequestHandler, "timeout", SHORT_READ_TIMEOUT_SECONDS)


# Name -> bytes after which the client sends nothing more.
UNFINISHED_REQUESTS = {
    "request-line": b"GET /api/v2/buildinfo HTT",
    "headers": b"GET /api/v2/buildinfo HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    "nothing": b"",
}


@pytest.mark.parametrize("case", UNFINISHED_REQUESTS)
def test_unfinished_request_is_closed(short_timeout, connect, case: str) -> None:
    connection = connect()
    started = time.monotonic()

    connection.send(UNFINISHED_REQUESTS[case])

    assert connection.closed_by_server()
    assert time.monotonic() - started >= SHORT_READ_TIMEOUT_SECONDS * 0.9


def test_idle_keep_alive_connection_is_closed(short_timeout, connect) -> None:
    response, connection = exchange(connect, request("GET", "/api/v2/"))

    assert response.status_line == "HTTP/1.1 200 OK"
    assert connection.closed_by_server()


def test_unfinished_body_gets_timeout_error(short_timeout, connect) -> None:
    response, connection = exchange(connect, request("POST", CSP_PATH, [("Content-Length", "10")], b'{"a'))

    assert response.status_line == "HTTP/1.1 400 Bad Request"
    assert response.body == invalid_json_body("i/o timeout")
    assert response.header("Connection") == "close"
    assert connection.closed_by_server()


# Name -> Content-Length header values, each rejected with 400 as Go's net/http rejects them.
BAD_CONTENT_LENGTHS = {
    "two-different": ["2", "10"],
    "not-a-number": ["abc"],
    "negative": ["-1"],
    "plus-sign": ["+2"],
    "empty": [""],
    "too-large": ["9223372036854775808"],
}


@pytest.mark.parametrize("case", BAD_CONTENT_LENGTHS)
def test_bad_content_length_is_rejected(connect, store: Store, case: str) -> None:
    headers = [("Content-Length", value) for value in BAD_CONTENT_LENGTHS[case]]

    response, connection = exchange(connect, request("POST", CSP_PATH, headers, b"{}"))

    assert_envelope(response, "HTTP/1.1 400 Bad Request", b'{"message":"Bad Request."}\n', store.active.version)
    assert connection.closed_by_server()


def test_repeated_equal_content_length_is_accepted(connect) -> None:
    headers = [("Content-Length", "2"), ("Content-Length", " 2")]

    response, connection = exchange(connect, request("POST", CSP_PATH, headers, b"{}"))

    assert response.status_line == "HTTP/1.1 200 OK"
    assert response.body == CSP_OK_BODY


# --- Errors sent by the HTTP layer ------------------------------------------------------------

REQUEST_LINE_TOO_LONG = b"GET /?q=" + b"a" * (MAX_HEADER_BYTES - len(b"GET /?q="))
HEADERS_TOO_LONG_START = b"GET / HTTP/1.1\r\nX-Padding: "
HEADERS_TOO_LONG = HEADERS_TOO_LONG_START + b"a" * (MAX_HEADER_BYTES - len(HEADERS_TOO_LONG_START))

# Name -> (raw request, status line). Each too-long head is exactly the budget, so the server
# reads all of it before it responds and closes.
PROTOCOL_ERRORS = {
    "http-0.9-request-line": (b"GET /\r\n", "HTTP/1.1 400 Bad Request"),
    "double-space": (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    "empty-method": (b" / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    "method-with-slash": (b"G/T / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    "bad-version": (b"GET / HTTP/x\r\nHost: a\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    "two-digit-version": (b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    "header-without-colon": (b"GET / HTTP/1.1\r\nHost a\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    "space-before-colon": (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    "http-2.0": (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"),
    "http-0.9-version": (b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"),
    "request-line-too-long": (REQUEST_LINE_TOO_LONG, "HTTP/1.1 431 Request Header Fields Too Large"),
    "headers-too-long": (HEADERS_TOO_LONG, "HTTP/1.1 431 Request Header Fields Too Large"),
    "gzip-transfer-encoding": (request("POST", CSP_PATH, [("Transfer-Encoding", "gzip")], b"{}"),
                               "HTTP/1.1 501 Not Implemented"),
    "two-transfer-encodings": (request("POST", CSP_PATH, [("Transfer-Encoding", "chunked")] * 2, b"0\r\n\r\n"),
                               "HTTP/1.1 501 Not Implemented"),
    "unknown-expect": (request("POST", CSP_PATH, [("Expect", "teapot"), ("Content-Length", "2")], b"{}"),
                       "HTTP/1.1 417 Expectation Failed"),
}


@pytest.mark.parametrize("case", PROTOCOL_ERRORS)
def test_protocol_error_is_json(connect, store: Store, case: str) -> None:
    data, status_line = PROTOCOL_ERRORS[case]
    phrase = status_line.split(" ", 2)[2]

    response, connection = exchange(connect, data)

    assert_envelope(response, status_line, f'{{"message":"{phrase}."}}\n'.encode(), store.active.version)
    assert connection.closed_by_server()


def test_protocol_error_has_live_scenario_version(connect, store: Store) -> None:
    default_version = store.active.version
    store.switch("dev-build")

    response, _ = exchange(connect, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n")

    assert store.active.version != default_version
    assert response.header("X-Coder-Build-Version") == store.active.version


def test_protocol_error_without_store(serve_app) -> None:
    connection = Connection(serve_app(Flask("plain")))
    try:
        connection.send(b"GET /\r\n")
        response = connection.response()
    finally:
        connection.close()

    assert response.status_line == "HTTP/1.1 400 Bad Request"
    assert response.body == b'{"message":"Bad Request."}\n'
    assert response.header("X-Coder-Build-Version") is None
    assert response.header("X-Content-Type-Options") == "nosniff"


def test_header_budget_is_go_default() -> None:
    assert MAX_HEADER_BYTES == (1 << 20) + 4096


def test_long_request_line_is_served(connect, client) -> None:
    response, _ = exchange(connect, request("GET", "/api/v2/buildinfo?pad=" + "a" * 200_000))

    assert response.status_line == "HTTP/1.1 200 OK"
    assert response.body == client.get("/api/v2/buildinfo").data


def test_long_header_is_served(connect, client) -> None:
    response, _ = exchange(connect, request("GET", "/api/v2/buildinfo", [("X-Padding", "a" * 200_000)]))

    assert response.status_line == "HTTP/1.1 200 OK"
    assert response.body == client.get("/api/v2/buildinfo").data


# --- Keep-alive ------------------------------------------------------------------------------


def test_two_requests_on_one_connection(connect, client) -> None:
    first, connection = exchange(connect, request("GET", "/api/v2/buildinfo"))
    connection.send(request("GET", "/api/v2/"))
    second = connection.response()

    assert first.status_line == "HTTP/1.1 200 OK"
    assert first.body == client.get("/api/v2/buildinfo").data
    assert first.header("Connection") is None
    assert second.status_line == "HTTP/1.1 200 OK"
    assert second.body == ROOT_BODY
    assert second.header("Connection") is None


def test_pipelined_requests(connect, client) -> None:
    connection = connect()
    connection.send(request("GET", "/api/v2/buildinfo") + request("GET", "/api/v2/") + request("GET", "/healthz"))

    responses = [connection.response() for _ in range(3)]

    assert [response.status_line for response in responses] == ["HTTP/1.1 200 OK"] * 3
    assert responses[0].body == client.get("/api/v2/buildinfo").data
    assert responses[1].body == ROOT_BODY
    assert responses[2].body == b"OK"


def test_connection_close_request(connect) -> None:
    response, connection = exchange(connect, request("GET", "/api/v2/", [("Connection", "close")]))

    assert response.status_line == "HTTP/1.1 200 OK"
    assert response.header("Connection") == "close"
    assert connection.closed_by_server()


def test_http_1_0_closes_by_default(connect) -> None:
    response, connection = exchange(connect, request("GET", "/api/v2/", version="HTTP/1.0"))

    assert response.status_line == "HTTP/1.0 200 OK"
    assert response.body == ROOT_BODY
    assert response.header("Connection") is None
    assert connection.closed_by_server()


def test_http_1_0_keep_alive(connect) -> None:
    keep_alive = request("GET", "/api/v2/", [("Connection", "keep-alive")], version="HTTP/1.0")

    first, connection = exchange(connect, keep_alive)
    connection.send(request("GET", "/api/v2/", version="HTTP/1.0"))
    second = connection.response()

    assert first.status_line == "HTTP/1.0 200 OK"
    assert first.header("Connection") == "keep-alive"
    assert second.status_line == "HTTP/1.0 200 OK"
    assert second.body == ROOT_BODY


def test_unread_body_is_drained(connect) -> None:
    """A body the app does not read is skipped, so the next request on the connection is parsed whole."""
    first, connection = exchange(connect, request("POST", "/api/v2/buildinfo", [("Content-Length", "5")], b"hello"))
    connection.send(request("GET", "/api/v2/"))
    second = connection.response()

    assert first.status_line == "HTTP/1.1 405 Method Not Allowed"
    assert first.body == METHOD_NOT_ALLOWED_BODY
    assert first.header("Connection") is None
    assert second.status_line == "HTTP/1.1 200 OK"
    assert second.body == ROOT_BODY


def test_head_response_has_no_body(connect) -> None:
    connection = connect()
    connection.send(request("HEAD", "/api/v2/buildinfo") + request("GET", "/api/v2/"))

    head = connection.response(head=True)
    following = connection.response()

    assert head.status_line == "HTTP/1.1 405 Method Not Allowed"
    assert head.header("Content-Length") == str(len(METHOD_NOT_ALLOWED_BODY))
    assert head.header("Allow") == "GET"
    assert following.status_line == "HTTP/1.1 200 OK"
    assert following.body == ROOT_BODY


def test_expect_continue(connect) -> None:
    connection = connect()
    connection.send(request("POST", CSP_PATH, [("Content-Length", "2"), ("Expect", "100-continue")]))

    interim = connection.reader.readline(100)
    blank = connection.reader.readline(100)
    connection.send(b"{}")
    response = connection.response()

    assert interim == b"HTTP/1.1 100 Continue\r\n"
    assert blank == b"\r\n"
    assert response.status_line == "HTTP/1.1 200 OK"
    assert response.body == CSP_OK_BODY
    assert response.header("Connection") is None


# --- Headers read as Go reads them ---------------------------------------------------------------

SIGNED_OUT_PREFIX = (b'{"message":"You are signed out or your session has expired. Please sign in again to continue.",'
                     b'"detail":"')

# Name -> (header fields, whether the owner token is the one read).
TOKEN_HEADERS = {
    "trailing-space-and-tab": ([("Coder-Session-Token", OWNER_TOKEN + " \t")], True),
    "leading-tab": ([("Coder-Session-Token", "\t" + OWNER_TOKEN)], True),
    "first-of-two": ([("Coder-Session-Token", OWNER_TOKEN), ("Coder-Session-Token", MEMBER_TOKEN)], True),
    "bearer-trailing-tab": ([("Authorization", f"Bearer {OWNER_TOKEN}\t")], True),
    "bearer-first-of-two": ([("Authorization", f"Bearer {OWNER_TOKEN}"), ("Authorization", f"Bearer {MEMBER_TOKEN}")],
                            True),
    "second-of-two-ignored": ([("Coder-Session-Token", "not-a-token"), ("Coder-Session-Token", OWNER_TOKEN)], False),
}


@pytest.mark.parametrize("case", TOKEN_HEADERS)
def test_token_header_read_as_go_does(connect, client, case: str) -> None:
    headers, owner_read = TOKEN_HEADERS[case]

    response, _ = exchange(connect, request("GET", "/api/v2/deployment/config", headers))

    if owner_read:
        assert response.status_line == "HTTP/1.1 200 OK"
        expected = client.get("/api/v2/deployment/config", headers={"Coder-Session-Token": OWNER_TOKEN})
        assert response.body == expected.data
    else:
        assert response.status_line == "HTTP/1.1 401 Unauthorized"
        assert response.body == SIGNED_OUT_PREFIX + (
            b"Invalid API key format: incorrect amount of API key parts, expected 2 got 3\"}\n")


@pytest.mark.parametrize("header", ["Coder-Session-Token", "Authorization"])
def test_token_trimmed_without_server(client, header: str) -> None:
    """Authentication trims the value itself, for WSGI servers that pass trailing blanks through."""
    value = OWNER_TOKEN if header == "Coder-Session-Token" else f"Bearer {OWNER_TOKEN}"

    response = client.get("/api/v2/deployment/config", headers={header: value + " \t"})

    assert response.status_code == 200


def test_member_token_second_header_not_owner(connect) -> None:
    """The member token sent first wins over an owner token sent second, so the owner-only config is 403."""
    headers = [("Coder-Session-Token", MEMBER_TOKEN), ("Coder-Session-Token", OWNER_TOKEN)]

    response, _ = exchange(connect, request("GET", "/api/v2/deployment/config", headers))

    assert response.status_line == "HTTP/1.1 403 Forbidden"


# --- OPTIONS ------------------------------------------------------------------------------------

# Path -> the Allow header of its 405.
OPTIONS_PATHS = {
    "/__admin/health": "GET",
    "/__admin/scenarios": "GET",
    "/__admin/scenario": "GET, PUT",
    "/__admin/reset": "POST",
    "/swagger/doc.json": "GET",
    "/api/v2/buildinfo": "GET",
}


@pytest.mark.parametrize("path", OPTIONS_PATHS)
def test_options_is_method_not_allowed(connect, store: Store, path: str) -> None:
    response, _ = exchange(connect, request("OPTIONS", path))

    assert response.status_line == "HTTP/1.1 405 Method Not Allowed"
    assert response.header("Allow") == OPTIONS_PATHS[path]
    assert response.body == METHOD_NOT_ALLOWED_BODY
    assert response.header("Content-Type") == JSON
    assert response.header("X-Coder-Build-Version") == store.active.version


# --- {user} bytes ---------------------------------------------------------------------------------

# Name -> (path segment as sent, detail after "queried user=" in the JSON body).
USER_SEGMENTS = {
    "raw-utf8": ("é".encode(), b'\\"\xc3\xa9\\"'),
    "percent-utf8": (b"%C3%A9", b'\\"\xc3\xa9\\"'),
    "invalid-byte": (b"%FF", b'\\"\\\\xff\\"'),
    "raw-invalid-byte": (b"\xff", b'\\"\\\\xff\\"'),
    "mixed": (b"a%FFb%c3%a9", b'\\"a\\\\xffb\xc3\xa9\\"'),
    "truncated-utf8": (b"%E2%82", b'\\"\\\\xe2\\\\x82\\"'),
    "control-byte": (b"%07x", b'\\"\\\\ax\\"'),
}


@pytest.mark.parametrize("case", USER_SEGMENTS)
def test_unknown_user_quoted_from_bytes(connect, case: str) -> None:
    segment, quoted = USER_SEGMENTS[case]
    target = b"/api/v2/users/" + segment + b"/keys/tokens/tokenconfig"

    response, _ = exchange(connect, request("GET", target, [("Coder-Session-Token", OWNER_TOKEN)]))

    assert response.status_line == "HTTP/1.1 400 Bad Request"
    assert response.body == UNKNOWN_USER_PREFIX + quoted + b'"}\n'


def test_percent_encoded_me(connect, client) -> None:
    response, _ = exchange(connect, request("GET", "/api/v2/users/%6De/keys/tokens/tokenconfig",
                                            [("Coder-Session-Token", OWNER_TOKEN)]))

    assert response.status_line == "HTTP/1.1 200 OK"
    assert response.body == client.get(TOKEN_CONFIG_PATH, headers={"Coder-Session-Token": OWNER_TOKEN}).data


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [
        (b"", '""'),
        (b"me", '"me"'),
        ("é".encode(), '"é"'),
        (b"\xff", '"\\xff"'),
        (b"\xed\xa0\x80", '"\\xed\\xa0\\x80"'),
        (b"\xc0\xaf", '"\\xc0\\xaf"'),
        (b"\t\xff\"", '"\\t\\xff\\""'),
        ("\u00ad".encode(), '"\\u00ad"'),
    ],
    ids=["empty", "ascii", "utf8", "invalid", "surrogate", "overlong", "escapes", "unprintable"],
)
def test_go_quote_bytes(raw: bytes, quoted: str) -> None:
    assert go_quote_bytes(raw) == quoted


# --- coder-mock serve start-up failures ----------------------------------------------------------


def run_serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coder_mock", "serve", *args],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
    )


@pytest.mark.parametrize("value", ["70000", "-1", "65536", "abc"])
def test_port_out_of_range(tmp_path: Path, value: str) -> None:
    completed = run_serve(tmp_path, "--port", value)

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith("usage: coder-mock serve ")
    assert completed.stderr.splitlines()[-1] == (
        f"coder-mock serve: error: argument --port: invalid port '{value}';"
        " use a number from 0 to 65535 (0 picks a free port)"
    )


def test_invalid_ipv4_host(tmp_path: Path) -> None:
    completed = run_serve(tmp_path, "--port", "0", "--host", "256.1.1.1")

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        "coder-mock: invalid host '256.1.1.1': not an IPv4 address of 4 numbers from 0 to 255;"
        " use an address such as 127.0.0.1 or 0.0.0.0."
    ]


def test_unresolvable_host(tmp_path: Path) -> None:
    # glibc rejects a name with a space without asking a DNS server, so no query leaves the machine.
    with pytest.raises(socket.gaierror) as resolved:
        socket.getaddrinfo("bad host", 0, type=socket.SOCK_STREAM)

    completed = run_serve(tmp_path, "--port", "0", "--host", "bad host")

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        f"coder-mock: cannot resolve host 'bad host': {resolved.value.strerror}; use an IP address such as"
        " 127.0.0.1 or a host name this machine can resolve."
    ]


def test_address_of_another_machine(tmp_path: Path) -> None:
    # 192.0.2.1 is reserved for documentation (RFC 5737), so no interface of this machine has it.
    completed = run_serve(tmp_path, "--port", "0", "--host", "192.0.2.1")

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        f"coder-mock: cannot listen on 192.0.2.1 port 0: {os.strerror(errno.EADDRNOTAVAIL)};"
        " use an address of this machine, such as 127.0.0.1."
    ]


def test_busy_port_prints_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy_port = taken.getsockname()[1]

        completed = run_serve(tmp_path, "--port", str(busy_port))

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        f"coder-mock: port {busy_port} on 127.0.0.1 is already in use; stop the process using it"
        " or pick another port with --port (0 picks a free one)."
    ]


@pytest.mark.parametrize("option", ["--fixtures-dir", "--scenarios-dir"])
def test_file_given_as_folder(tmp_path: Path, option: str) -> None:
    (tmp_path / "hostname").write_text("coder\n", encoding="utf-8")

    completed = run_serve(tmp_path, "--port", "0", option, "hostname")

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        "coder-mock: hostname: is not a folder; check the --scenarios-dir or --fixtures-dir value."
    ]
