"""Request bodies and header fields read as Go's net/http reads them.

Content-Length and chunked bodies are framed strictly and fail with the error
texts of Go's net/http, which coderd's handlers pass on in their `detail`.
"""

from __future__ import annotations

import io
import re
import time
from typing import Any, BinaryIO, Callable, NoReturn

from werkzeug.exceptions import BadRequest

# Go reads chunk size lines and trailers through a 4096-byte bufio buffer (net/http/internal/chunked.go).
MAX_CHUNK_LINE_BYTES = 4096
# Go rejects a chunked body whose overhead exceeds 16 bytes per chunk plus twice its data by this much.
MAX_CHUNK_EXCESS_BYTES = 16 * 1024

HEX_DIGITS = b"0123456789abcdefABCDEF"
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
DIGITS = re.compile(r"[0-9]+")


class BodyReadError(BadRequest):
    """A request body that could not be read, with Go's net/http error text as `description`."""


# --- Request bodies ------------------------------------------------------------------------


class RequestBody(io.RawIOBase):
    """A request body framed as Go's net/http frames it.

    A read returns the bytes already received (at least one) instead of waiting
    for the whole request, as Go's body reader does, so a JSON decoder can stop
    at the end of the first value. A failed read raises BodyReadError, and so
    does every later read.
    """

    def __init__(self, rfile: BinaryIO, on_first_read: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.rfile = rfile
        self.on_first_read = on_first_read
        self.expects_continue = on_first_read is not None
        self.finished = False
        self.error: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.error is not None:
            raise BodyReadError(self.error)
        view = memoryview(buffer).cast("B")
        if self.finished or len(view) == 0:
            return 0
        if self.on_first_read is not None:
            # Go sends "100 Continue" when the handler first reads the body, not before.
            self.on_first_read()
            self.on_first_read = None
        try:
            return self.read_some(view)
        except TimeoutError:
            # NOTE: coderd sets no body read deadline, so Go has no error for this case. The text
            # is the end of the one Go gives when a deadline is set ("read tcp ...: i/o timeout").
            self.fail("i/o timeout")

    def read_some(self, view: memoryview) -> int:
        raise NotImplementedError

    def known_remaining(self) -> int:
        """Return how many bytes the body still declares, as far as is known without reading."""
        raise NotImplementedError

    def fail(self, text: str) -> NoReturn:
        self.error = text
        raise BodyReadError(text)

    def read_available(self, limit: int) -> bytes:
        """Read up to `limit` bytes of the socket, waiting only when none has arrived."""
        data = self.rfile.read1(limit)  # type: ignore[attr-defined]
        if not data:
            self.fail("unexpected EOF")
        return data

    def drain(self, limit: int, timeout: float) -> None:
        """Read and discard up to `limit` more bytes of the body, starting no read after `timeout` seconds."""
        scratch = bytearray(min(limit, 65536))
        deadline = time.monotonic() + timeout
        total = 0
        while not self.finished and total <= limit and time.monotonic() < deadline:
            total += self.readinto(scratch)


class LengthBody(RequestBody):
    """A body of exactly Content-Length bytes."""

    def __init__(self, rfile: BinaryIO, length: int, on_first_read: Callable[[], None] | None = None) -> None:
        super().__init__(rfile, on_first_read)
        self.remaining = length
        self.finished = length == 0

    def read_some(self, view: memoryview) -> int:
        data = self.read_available(min(len(view), self.remaining))
        view[: len(data)] = data
        self.remaining -= len(data)
        self.finished = self.remaining == 0
        return len(data)

    def known_remaining(self) -> int:
        return self.remaining


class ChunkedBody(RequestBody):
    """A body in chunked transfer coding, decoded with the checks and error texts of Go's chunkedReader."""

    def __init__(self, rfile: BinaryIO, on_first_read: Callable[[], None] | None = None) -> None:
        super().__init__(rfile, on_first_read)
        self.chunk_remaining = 0
        self.chunk_end_due = False
        # Bytes of chunk overhead beyond what Go allows per chunk, as Go counts them.
        self.excess = 0

    def read_some(self, view: memoryview) -> int:
        if self.chunk_remaining == 0:
            if self.chunk_end_due:
                self.read_chunk_end()
            size = self.read_chunk_size()
            if size == 0:
                self.read_trailer()
                self.finished = True
                return 0
            self.chunk_remaining = size
        data = self.read_available(min(len(view), self.chunk_remaining))
        view[: len(data)] = data
        self.chunk_remaining -= len(data)
        self.chunk_end_due = self.chunk_remaining == 0
        return len(data)

    def known_remaining(self) -> int:
        # Only the rest of the current chunk is known; later chunks are not announced yet.
        return self.chunk_remaining

    def read_chunk_end(self) -> None:
        ending = self.rfile.read(2)
        if len(ending) < 2:
            self.fail("unexpected EOF")
        if ending != b"\r\n":
            self.fail("malformed chunked encoding")
        self.chunk_end_due = False

    def read_chunk_size(self) -> int:
        line = self.rfile.readline(MAX_CHUNK_LINE_BYTES)
        if not line.endswith(b"\n"):
            self.fail("header line too long" if len(line) == MAX_CHUNK_LINE_BYTES else "unexpected EOF")
        carriage_return = line.find(b"\r")
        if carriage_return == -1:
            self.fail("chunked line ends with bare LF")
        if carriage_return != len(line) - 2:
            self.fail("invalid CR in chunked line")
        line = line[:-2]
        self.excess += len(line) + 2
        # Chunk extensions (";name=value") are ignored, as Go ignores them.
        digits = line.rstrip(b" \t").split(b";", 1)[0]
        size = self.parse_chunk_size(digits)
        # Go converts the size to int64 here, so sizes of 2**63 and more count as negative.
        signed_size = size - (1 << 64) if size >= 1 << 63 else size
        self.excess = max(self.excess - 16 - 2 * signed_size, 0)
        if self.excess > MAX_CHUNK_EXCESS_BYTES:
            self.fail("chunked encoding contains too much non-data")
        return size

    def parse_chunk_size(self, digits: bytes) -> int:
        """Parse a chunk size as Go's parseHexUint does: at most 16 hex digits, so any uint64."""
        if not digits:
            self.fail("empty hex number for chunk length")
        size = 0
        for index, byte in enumerate(digits):
            if byte not in HEX_DIGITS:
                self.fail("invalid byte in chunk length")
            if index == 16:
                self.fail("http chunk length too large")
            size = size * 16 + int(chr(byte), 16)
        return size

    def read_trailer(self) -> None:
        """Read and discard the trailer fields after the last chunk, within Go's 4096-byte buffer."""
        budget = MAX_CHUNK_LINE_BYTES
        while True:
            line = self.rfile.readline(budget)
            if not line.endswith(b"\n"):
                if len(line) == budget:
                    self.fail("http: suspiciously long trailer after chunked body")
                self.fail("http: unexpected EOF reading trailer")
            if line in (b"\r\n", b"\n"):
                return
            budget -= len(line)


# --- Request heads ----------------------------------------------------------------------


def parse_header_fields(lines: list[bytes]) -> list[tuple[str, str]] | None:
    """Split header lines into (name, value) pairs with values trimmed as Go trims them.

    Return None when a line is malformed.
    """
    fields: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.decode("latin-1").rstrip("\r\n")
        if line[:1] in (" ", "\t"):
            # An obsolete folded line continues the previous value; Go joins it with one space.
            if not fields:
                return None
            name, value = fields[-1]
            fields[-1] = (name, (value + " " + line.strip(" \t")).strip(" \t"))
            continue
        name, colon, value = line.partition(":")
        if not colon or TOKEN.fullmatch(name) is None:
            return None
        fields.append((name, value.strip(" \t")))
    return fields


def has_token(values: list[str], token: str) -> bool:
    """Return whether comma-separated header `values` contain `token`, ignoring case."""
    return any(part.strip(" \t").lower() == token for value in values for part in value.split(","))
