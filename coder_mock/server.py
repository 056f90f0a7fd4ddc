"""Serve the app over HTTP/1.1 with werkzeug's threaded server, reading requests as Go's net/http does.

coderd runs on Go's net/http, so the request handler here frames requests and
reports framing errors the way that server does. It keeps connections alive,
allows 1 MB of request line and headers, parses Content-Length and chunked
bodies strictly with Go's error texts, and trims header values of spaces and
tabs. Errors raised before the app runs are sent as coderd's JSON envelope
with its common headers.
"""

from __future__ import annotations

import errno
import io
import ipaddress
import logging
import re
import signal
import socket
import sys
from http import HTTPStatus
from types import FrameType
from typing import Any, Callable
from urllib.parse import unquote_to_bytes, urlsplit

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from coder_mock import faults, gojson
from coder_mock.cors import add_vary_origin
from coder_mock.http11 import (
    DIGITS,
    TOKEN,
    BodyReadError,
    ChunkedBody,
    LengthBody,
    RequestBody,
    has_token,
    parse_header_fields,
)
from coder_mock.statustext import reason_phrase
from coder_mock.wire import INTERNAL_ERROR, error_body

log = logging.getLogger("coder_mock.server")

JSON = "application/json; charset=utf-8"
# A connection is closed when a read or write on it waits this long, so a client that never
# finishes its request line, headers or body, or leaves a keep-alive connection idle, cannot
# hold a server thread forever. Go's net/http has no such limit unless the server sets one.
READ_TIMEOUT_SECONDS = 30.0
# Go's http.DefaultMaxHeaderBytes (1 MB) for the request line and headers together, plus the
# 4096 bytes of slack its server adds (initialReadLimitSize in net/http/server.go).
MAX_HEADER_BYTES = (1 << 20) + 4096
# After the handler, Go reads up to this much of an unread body (maxPostHandlerReadBytes), so the
# connection can serve another request. With more left, it closes the connection instead.
MAX_DRAIN_BYTES = 256 << 10

_HTTP_VERSION = re.compile(r"HTTP/(\d)\.(\d)")


class ListenError(Exception):
    """The server cannot listen on the requested host and port."""


class PortInUse(ListenError):
    """The address the server should listen on is taken."""


class QuietRequestHandler(WSGIRequestHandler):
    """A WSGI request handler that reads HTTP/1.1 requests as Go's net/http does.

    It keeps connections alive between requests, sends no Server header (Go
    sends none), gives every response a Content-Length, and leaves the access
    log to the app.
    """

    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_SECONDS

    # HTTP version of the status line: HTTP/1.0 for HTTP/1.0 requests, as Go sends, else HTTP/1.1.
    response_version = "HTTP/1.1"

    def handle_one_request(self) -> None:
        self.close_connection = True
        self.response_version = "HTTP/1.1"
        self.command = None  # type: ignore[assignment]
        # Errors sent before the headers are parsed must not see the previous request's Origin.
        self.headers = self.MessageClass()
        # Bytes the request line and headers may still take.
        self.head_budget = MAX_HEADER_BYTES
        try:
            # Go rejects a malformed request line before it reads the headers.
            request_line = self.read_request_line()
            if request_line is None or not self.parse_request_line(request_line):
                return
            header_lines = self.read_header_lines()
            if header_lines is None or not self.parse_headers(header_lines):
                return
            self.run_wsgi()
        except TimeoutError:
            log.debug("closed the connection from %s after %s seconds without data",
                      self.client_address[0], self.timeout)
            self.close_connection = True

    def read_head_line(self) -> bytes | None:
        """Read one line of the request head within what is left of Go's header budget.

        Return None when the client closed the connection or the head is too
        large. In the second case the 431 response has been sent.
        """
        line = self.rfile.readline(self.head_budget)
        if line.endswith(b"\n"):
            self.head_budget -= len(line)
            return line
        if self.head_budget == 0 or len(line) == self.head_budget:
            self.reject(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                        f"request line and headers exceed {MAX_HEADER_BYTES} bytes")
        return None

    def read_request_line(self) -> bytes | None:
        while True:
            line = self.read_head_line()
            # RFC 9112 section 2.2: a server should ignore empty lines before the request line.
            # Each one uses up the head budget, so this loop ends.
            if line not in (b"\r\n", b"\n"):
                return line

    def read_header_lines(self) -> list[bytes] | None:
        lines: list[bytes] = []
        while True:
            line = self.read_head_line()
            if line is None:
                return None
            if line in (b"\r\n", b"\n"):
                return lines
            lines.append(line)

    def parse_request_line(self, line: bytes) -> bool:
        """Parse the request line, or send the error response and return False when it is invalid."""
        self.raw_requestline = line
        self.requestline = line.decode("latin-1").rstrip("\r\n")
        # Go splits the request line at single spaces, so "GET /" (HTTP/0.9) and doubled spaces are malformed.
        method, first_space, rest = self.requestline.partition(" ")
        target, second_space, version = rest.partition(" ")
        if not first_space or not second_space:
            return self.reject(HTTPStatus.BAD_REQUEST, "malformed request line")
        if TOKEN.fullmatch(method) is None:
            return self.reject(HTTPStatus.BAD_REQUEST, "invalid method")
        match = _HTTP_VERSION.fullmatch(version)
        if match is None:
            return self.reject(HTTPStatus.BAD_REQUEST, "malformed HTTP version")
        if match.group(1) != "1":
            return self.reject(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"unsupported protocol version {version}")
        if match.group(2) == "0":
            self.response_version = "HTTP/1.0"

        self.command, self.path, self.request_version = method, target, version
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")
        return True

    def parse_headers(self, lines: list[bytes]) -> bool:
        """Parse the header lines, or send the error response and return False when one is malformed."""
        fields = parse_header_fields(lines)
        if fields is None:
            return self.reject(HTTPStatus.BAD_REQUEST, "malformed header line")
        self.headers = self.MessageClass()
        for name, value in fields:
            self.headers[name] = value

        connection = self.headers.get_all("Connection") or []
        if self.response_version == "HTTP/1.0":
            self.close_connection = not has_token(connection, "keep-alive")
        else:
            self.close_connection = has_token(connection, "close")
        return True

    def open_body(self) -> RequestBody | None:
        """Frame the request body from its headers, or send the error response and return None when they are invalid."""
        on_first_read = None
        expect = self.headers.get_all("Expect") or []
        if expect:
            if not has_token(expect, "100-continue"):
                self.reject(HTTPStatus.EXPECTATION_FAILED, "unsupported Expect header")
                return None
            if self.response_version == "HTTP/1.1":
                on_first_read = self.send_continue

        # Go ignores Transfer-Encoding in HTTP/1.0 requests.
        transfer = self.headers.get_all("Transfer-Encoding") or []
        if transfer and self.response_version == "HTTP/1.1":
            if len(transfer) != 1 or transfer[0].lower() != "chunked":
                self.reject(HTTPStatus.NOT_IMPLEMENTED, "unsupported transfer encoding")
                return None
            return ChunkedBody(self.rfile, on_first_read)

        lengths = self.headers.get_all("Content-Length") or []
        if len(set(lengths)) > 1:
            self.reject(HTTPStatus.BAD_REQUEST, "different Content-Length values " + ", ".join(lengths))
            return None
        if not lengths:
            return LengthBody(self.rfile, 0)
        if DIGITS.fullmatch(lengths[0]) is None or int(lengths[0]) >= 1 << 63:
            self.reject(HTTPStatus.BAD_REQUEST, f"invalid Content-Length {lengths[0]!r}")
            return None
        length = int(lengths[0])
        # Go sends "100 Continue" only for a body that is not empty.
        return LengthBody(self.rfile, length, on_first_read if length else None)

    def send_continue(self) -> None:
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def make_environ(self, body: RequestBody | None = None) -> dict[str, Any]:  # type: ignore[override]
        """Build the WSGI environ with the raw path bytes and Go's view of the headers.

        PATH_INFO carries the percent-decoded path bytes as latin-1, as WSGI
        specifies. werkzeug's own environ decodes them as UTF-8 first, which
        turns invalid bytes into U+FFFD and raw UTF-8 into mojibake.
        """
        url = urlsplit(self.path)
        # A path starting with "//" parses as a network location; it is part of the path here.
        path = f"/{url.netloc}{url.path}" if not url.scheme and url.netloc else url.path
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": body if body is not None else LengthBody(self.rfile, 0),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": self.server.multithread,
            "wsgi.multiprocess": self.server.multiprocess,
            "wsgi.run_once": False,
            "werkzeug.socket": self.connection,
            "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path.encode("latin-1")).decode("latin-1"),
            "QUERY_STRING": url.query,
            "REQUEST_URI": self.path,
            "RAW_URI": self.path,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
        }

        chunked = isinstance(body, ChunkedBody)
        joined: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            # werkzeug drops names with "_", so that X_Forwarded_For cannot pose as X-Forwarded-For.
            if "_" in name:
                continue
            key = name.upper().replace("-", "_")
            if key == "CONTENT_LENGTH" and chunked:
                continue
            if key == "TRANSFER_ENCODING" and not chunked:
                continue
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            joined.setdefault(key, []).append(value)
        for key, values in joined.items():
            # Go's Header.Get returns the first of repeated fields; werkzeug joins other repeats with commas.
            environ[key] = values[0] if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else ",".join(values)

        if url.scheme and url.netloc:
            environ["HTTP_HOST"] = url.netloc
        return environ

    def run_wsgi(self) -> None:
        body = self.open_body()
        if body is None:
            return
        self.environ = environ = self.make_environ(body)
        status, headers, payload = self.call_app(environ)
        if not self.finish_body(body):
            self.close_connection = True
        code, _, reason = status.partition(" ")
        fault = environ.get(faults.ENVIRON_KEY)
        if fault is not None:
            return self.send_with_fault(fault, int(code), reason, headers, payload)
        self.write_response(int(code), reason, headers, payload)

    def call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run the WSGI app and collect its whole response, so that its length is known before sending."""
        started: list[tuple[str, list[tuple[str, str]]]] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], None]:
            # Nothing is sent before the app returns, so a later call replaces the status and headers.
            started[:] = [(status, list(headers))]
            return chunks.append

        try:
            iterable = self.server.app(environ, start_response)
            try:
                chunks.extend(iterable)
            finally:
                close = getattr(iterable, "close", None)
                if close is not None:
                    close()
        except Exception:
            log.exception("unhandled error on %s %s", self.command, environ.get("PATH_INFO"))
            started.clear()
        if not started:
            payload = gojson.encode(error_body(INTERNAL_ERROR))
            return "500 Internal Server Error", self.envelope_headers(payload), payload
        status, headers = started[0]
        return status, headers, b"".join(chunks)

    def finish_body(self, body: RequestBody) -> bool:
        """Read what the app left of the body, as Go does before it responds.

        Return whether the connection can serve another request: not after a
        failed read, an unread body sent with "Expect: 100-continue", or more
        than MAX_DRAIN_BYTES left over.
        """
        if body.finished:
            return True
        if body.error is not None or body.expects_continue:
            return False
        # Go reads a chunked body here whatever its chunk sizes. Here a chunk declared too large to
        # drain closes the connection at once, instead of waiting for bytes that may never come.
        if body.known_remaining() >= MAX_DRAIN_BYTES:
            return False
        try:
            body.drain(MAX_DRAIN_BYTES, self.timeout or READ_TIMEOUT_SECONDS)
        except BodyReadError:
            return False
        return body.finished

    def write_response(self, code: int, reason: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        """Send the status line, headers and payload in one write, with Date, Content-Length and Connection."""
        lines = [f"{self.response_version} {code} {reason}", f"Date: {self.date_time_string()}"]
        names = set()
        for name, value in headers:
            lines.append(f"{name}: {value}")
            names.add(name.lower())
        bodiless = self.command == "HEAD" or 100 <= code < 200 or code in (204, 304)
        if "content-length" not in names and not bodiless:
            lines.append(f"Content-Length: {len(payload)}")
        if self.close_connection and self.response_version == "HTTP/1.1":
            lines.append("Connection: close")
        elif not self.close_connection and self.response_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if bodiless else head + payload)

    def send_with_fault(self, fault: faults.Fault, code: int, reason: str, headers: list[tuple[str, str]],
                        payload: bytes) -> None:
        """Send the app's response broken in the way its connection fault specifies (see coder_mock.faults)."""
        # The response is written to memory first, so the head is exactly what write_response sends.
        real_wfile = self.wfile
        self.wfile = io.BytesIO()  # type: ignore[assignment]
        try:
            self.write_response(code, reason, headers, payload)
            written = self.wfile.getvalue()  # type: ignore[attr-defined]
        finally:
            self.wfile = real_wfile
        head_length = len(written) - len(payload) if payload and written.endswith(payload) else len(written)
        if faults.send_broken(fault, self.wfile.write, written[:head_length], written[head_length:]):
            self.close_connection = True
        if fault.connection == "reset":
            # The socket closes only after its buffered reader does, so the reader is closed first.
            self.rfile.close()
            faults.reset_connection(self.connection)

    def envelope_headers(self, payload: bytes) -> list[tuple[str, str]]:
        """Return coderd's common headers for a JSON `payload` sent by this handler instead of the app."""
        headers = [("Content-Type", JSON)]
        store = getattr(getattr(self.server, "app", None), "extensions", {}).get("coder_mock.store")
        if store is not None:
            # The scenario last read, because this handler also responds when the state backend fails.
            headers.append(("X-Coder-Build-Version", store.cached_active().version))
        headers.append(("X-Content-Type-Options", "nosniff"))
        cors = getattr(getattr(self.server, "app", None), "extensions", {}).get("coder_mock.cors")
        if cors is not None:
            headers.extend(add_vary_origin(cors.response_headers(self.headers.get("Origin"))))
        headers.append(("Content-Length", str(len(payload))))
        return headers

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Send `{"message": "<reason phrase>."}` with coderd's headers, and close the connection.

        `message` and `explain` are accepted for http.server's signature but
        not sent, because coderd's envelope carries only the reason phrase here.
        """
        phrase = reason_phrase(code)
        payload = gojson.encode(error_body(phrase + "."))
        self.close_connection = True
        self.write_response(code, phrase, self.envelope_headers(payload), payload)

    def reject(self, code: int, reason: str) -> bool:
        """Log why a request is rejected before it reaches the app, send the error, and return False."""
        log.info("rejected a request from %s with %d: %s", self.client_address[0], code, reason)
        self.send_error(code)
        return False


# --- Listening and serving -----------------------------------------------------------------


def check_ipv4_literal(host: str) -> None:
    """Reject a host made of dotted numbers that is no IPv4 address, before a DNS lookup is tried for it."""
    parts = host.split(".")
    if not all(part.isascii() and part.isdigit() for part in parts):
        return
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ListenError(f"invalid host {host!r}: not an IPv4 address of 4 numbers from 0 to 255;"
                          " use an address such as 127.0.0.1 or 0.0.0.0.") from None


def listen(host: str, port: int) -> socket.socket:
    """Open a listening socket on host:port (0 picks a free port); raise ListenError when that fails."""
    if not 0 <= port <= 65535:
        raise ListenError(f"invalid port {port}: use a number from 0 to 65535 (0 picks a free port).")
    check_ipv4_literal(host)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as error:
        raise ListenError(f"cannot resolve host {host!r}: {error.strerror}; use an IP address such as"
                          " 127.0.0.1 or a host name this machine can resolve.") from None
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is already in use; stop the process using it"
                " or pick another port with --port (0 picks a free one)."
            ) from None
        if error.errno == errno.EACCES:
            advice = "pick a port from 1024 up, or run with the privilege that port needs"
        else:
            advice = "use an address of this machine, such as 127.0.0.1"
        raise ListenError(f"cannot listen on {host} port {port}: {error.strerror}; {advice}.") from None
    listener.listen(128)
    return listener


def create_server(app: Flask, listener: socket.socket) -> BaseWSGIServer:
    """Create the threaded server on an open listening socket, which the caller may then close.

    The socket is opened beforehand because werkzeug exits the process on a
    busy port instead of raising.
    """
    host, port = listener.getsockname()[:2]
    # werkzeug duplicates the descriptor, so the caller's copy can be closed.
    server = make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler,
                         fd=listener.fileno())
    # socketserver sets server_port only when it binds the socket itself.
    server.server_port = server.server_address[1]
    return server


def bind(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """Bind a threaded server to host:port (0 picks a free port); raise ListenError when that fails."""
    listener = listen(host, port)
    try:
        return create_server(app, listener)
    finally:
        listener.close()


def stop_on_sigterm() -> None:
    """Make SIGTERM stop the server the way Ctrl-C (SIGINT) does."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def serve_until_stopped(server: BaseWSGIServer, announce: Callable[[], None] = lambda: None) -> None:
    """Call `announce`, then serve until SIGINT or SIGTERM, and close."""
    stop_on_sigterm()
    try:
        announce()
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        log.info("coder-mock stopped")
