"""A small Chrome DevTools Protocol client for the browser test, on the standard library alone.

It speaks just enough of WebSocket (RFC 6455) to send CDP commands as text
frames and read the replies and events. It sends no Origin header, which
Chromium requires for DevTools connections unless --remote-allow-origins is given.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit

_WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CONTINUATION, _CLOSE, _PING, _PONG = 0x1, 0x0, 0x8, 0x9, 0xA


class CdpError(Exception):
    """A CDP command failed, the page threw, or the connection broke."""


class WebSocket:
    """A client WebSocket connection that sends and receives text messages."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "ws" or parts.hostname is None or parts.port is None:
            raise CdpError(f"expected a ws://host:port/path URL, got {url!r}")
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.reader = self.sock.makefile("rb")
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        status = self.reader.readline().decode("latin-1")
        if not status.startswith("HTTP/1.1 101"):
            raise CdpError(f"WebSocket handshake with {url} failed: {status.strip()!r}")
        headers = {}
        while (line := self.reader.readline().decode("latin-1")) not in ("\r\n", ""):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(key + _WEBSOCKET_GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise CdpError(f"WebSocket handshake with {url} returned a wrong Sec-WebSocket-Accept")

    def send_frame(self, opcode: int, payload: bytes) -> None:
        # Client frames must be masked (RFC 6455 section 5.3).
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_text(self, text: str) -> None:
        self.send_frame(_TEXT, text.encode("utf-8"))

    def read_exactly(self, size: int) -> bytes:
        data = self.reader.read(size)
        if len(data) != size:
            raise CdpError("the DevTools connection closed")
        return data

    def receive_text(self) -> str:
        """Return the next text message, replying to pings on the way."""
        message = b""
        while True:
            first, second = self.read_exactly(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self.read_exactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self.read_exactly(8))
            payload = self.read_exactly(length)
            if opcode == _PING:
                self.send_frame(_PONG, payload)
                continue
            if opcode == _CLOSE:
                raise CdpError("the DevTools connection was closed by the browser")
            if opcode in (_TEXT, _CONTINUATION):
                message += payload
                if first & 0x80:
                    return message.decode("utf-8")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class PageSession:
    """CDP commands to one page target; events that arrive meanwhile are kept in `events`."""

    def __init__(self, websocket_url: str, timeout: float) -> None:
        self.socket = WebSocket(websocket_url, timeout)
        self.timeout = timeout
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send_text(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.receive_text())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise CdpError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for_event(self, method: str, timeout: float) -> dict[str, Any]:
        """Return the first kept or incoming event named `method`, waiting at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if event["method"] == method:
                    return self.events.pop(index)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CdpError(f"no {method} event within {timeout} seconds")
            self.socket.sock.settimeout(remaining)
            try:
                message = json.loads(self.socket.receive_text())
            finally:
                self.socket.sock.settimeout(self.timeout)
            if "method" in message:
                self.events.append(message)

    def navigate(self, url: str, timeout: float) -> None:
        """Load `url` in the page and return once its load event has fired."""
        self.command("Page.enable")
        self.events = [event for event in self.events if event["method"] != "Page.loadEventFired"]
        result = self.command("Page.navigate", url=url)
        if "errorText" in result:
            raise CdpError(f"loading {url} failed: {result['errorText']}")
        self.wait_for_event("Page.loadEventFired", timeout)

    def evaluate(self, expression: str) -> Any:
        """Run `expression` in the page, await it when it is a promise, and return its JSON value."""
        result = self.command("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            description = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"the page threw while evaluating {expression!r}: {description}")
        return result["result"].get("value")

    def wait_for(self, expression: str, expected: Any, timeout: float) -> Any:
        """Evaluate `expression` until it returns `expected` or `timeout` seconds pass; return the last value."""
        deadline = time.monotonic() + timeout
        value = self.evaluate(expression)
        while value != expected and time.monotonic() < deadline:
            time.sleep(0.05)
            value = self.evaluate(expression)
        return value

    def close(self) -> None:
        self.socket.close()
