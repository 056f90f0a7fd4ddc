"""Request bodies read the way coderd reads them with Go's json.Decoder.

coderd decodes the first JSON value of a body whatever its Content-Type and
puts Go's error text in the `detail` of its 400 responses, so clients see
messages such as `invalid character 'o' in literal null (expecting 'u')` or
`unexpected EOF`. `scan` walks the bytes with the same state machine as Go's
scanner, iteratively so that deep nesting cannot exhaust Python's stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# Go's scanner rejects nesting deeper than this (encoding/json maxNestingDepth).
MAX_NESTING_DEPTH = 10000

_SPACE = b" \t\r\n"
_DIGITS = b"0123456789"
_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}
_KIND_BY_FIRST_BYTE = {ord("{"): "object", ord("["): "array", ord('"'): "string", ord("t"): "bool",
                       ord("f"): "bool", ord("n"): "null"}
_NAMED_QUOTES = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v"}


def quote_byte(byte: int) -> str:
    """Quote one byte as Go's scanner does in its errors (quoteChar)."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    if byte in _NAMED_QUOTES:
        return "'" + _NAMED_QUOTES[byte] + "'"
    if byte < 0x20 or byte == 0x7F:
        return f"'\\x{byte:02x}'"
    char = chr(byte)
    if 0x80 <= byte <= 0x9F or byte in (0xA0, 0xAD):
        # Go's strconv.Quote escapes runes that unicode.IsPrint rejects.
        return f"'\\u{byte:04x}'"
    return "'" + char + "'"


@dataclass
class Member:
    """One member of the top-level object: its decoded key and the kind of its value."""

    key: str
    kind: str


@dataclass
class Scan:
    """The result of scanning a body: an error text, or the first value's shape.

    `end` is the index of the value's last byte.
    """

    error: str | None = None
    end: int = 0
    kind: str = ""
    members: list[Member] = field(default_factory=list)


class _SyntaxError(Exception):
    pass


def _value_kind(byte: int) -> str:
    return _KIND_BY_FIRST_BYTE.get(byte, "number")


def _decode_key(raw: bytes) -> str:
    return json.loads(raw.decode("utf-8", "replace"))


class _Scanner:
    """Go's scanner states, stepped one byte at a time."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.stack: list[str] = []
        self.step = self.begin_value
        self.literal = b""
        self.literal_at = 0
        self.escape_left = 0
        self.string_start = 0
        self.value_start = 0
        self.result = Scan()
        self.pending_key: str | None = None
        self.done = False
        self.closed_container = False

    def fail(self, byte: int, context: str) -> None:
        raise _SyntaxError(f"invalid character {quote_byte(byte)} {context}")

    def push(self, byte: int, state: str) -> None:
        self.stack.append(state)
        if len(self.stack) > MAX_NESTING_DEPTH:
            self.fail(byte, "exceeded max depth")

    def start_value(self, index: int, byte: int) -> None:
        depth = len(self.stack)
        if depth == 0:
            self.result.kind = _value_kind(byte)
        elif depth == 1 and self.stack[0] == "object_value" and self.pending_key is not None:
            self.result.members.append(Member(self.pending_key, _value_kind(byte)))
            self.pending_key = None

    def begin_value(self, index: int, byte: int) -> None:
        if byte in _SPACE:
            return
        if byte == ord("]") and self.stack and self.stack[-1] == "array_empty":
            self.stack.pop()
            self.end_container()
            return
        if self.stack and self.stack[-1] == "array_empty":
            self.stack[-1] = "array"
        self.start_value(index, byte)
        if byte == ord("{"):
            self.push(byte, "object_key")
            self.step = self.begin_key_or_empty
        elif byte == ord("["):
            self.push(byte, "array_empty")
            self.step = self.begin_value
        elif byte == ord('"'):
            self.string_start = index
            self.step = self.in_string
        elif byte == ord("-"):
            self.step = self.negative
        elif byte == ord("0"):
            self.step = self.zero
        elif ord("1") <= byte <= ord("9"):
            self.step = self.integer
        elif byte in _LITERALS:
            self.literal = _LITERALS[byte]
            self.literal_at = 1
            self.step = self.in_literal
        else:
            self.fail(byte, "looking for beginning of value")

    def begin_key_or_empty(self, index: int, byte: int) -> None:
        if byte in _SPACE:
            return
        if byte == ord("}"):
            self.stack.pop()
            self.end_container()
            return
        self.begin_key(index, byte)

    def begin_key(self, index: int, byte: int) -> None:
        if byte in _SPACE:
            return
        if byte != ord('"'):
            self.fail(byte, "looking for beginning of object key string")
        self.string_start = index
        self.step = self.in_string

    def in_string(self, index: int, byte: int) -> None:
        if byte == ord('"'):
            if len(self.stack) == 1 and self.stack[0] == "object_key":
                self.pending_key = _decode_key(self.data[self.string_start:index + 1])
            self.step = self.end_value
        elif byte == ord("\\"):
            self.step = self.in_escape
        elif byte < 0x20:
            self.fail(byte, "in string literal")

    def in_escape(self, index: int, byte: int) -> None:
        if byte in b'btnfr\\/"':
            self.step = self.in_string
        elif byte == ord("u"):
            self.escape_left = 4
            self.step = self.in_unicode_escape
        else:
            self.fail(byte, "in string escape code")

    def in_unicode_escape(self, index: int, byte: int) -> None:
        if byte not in b"0123456789abcdefABCDEF":
            self.fail(byte, "in \\u hexadecimal character escape")
        self.escape_left -= 1
        if self.escape_left == 0:
            self.step = self.in_string

    def negative(self, index: int, byte: int) -> None:
        if byte == ord("0"):
            self.step = self.zero
        elif ord("1") <= byte <= ord("9"):
            self.step = self.integer
        else:
            self.fail(byte, "in numeric literal")

    def zero(self, index: int, byte: int) -> None:
        if byte == ord("."):
            self.step = self.dot
        elif byte in b"eE":
            self.step = self.exponent
        else:
            self.finish_number(index, byte)

    def integer(self, index: int, byte: int) -> None:
        if byte in _DIGITS:
            return
        self.zero(index, byte)

    def dot(self, index: int, byte: int) -> None:
        if byte not in _DIGITS:
            self.fail(byte, "after decimal point in numeric literal")
        self.step = self.fraction

    def fraction(self, index: int, byte: int) -> None:
        if byte in _DIGITS:
            return
        if byte in b"eE":
            self.step = self.exponent
        else:
            self.finish_number(index, byte)

    def exponent(self, index: int, byte: int) -> None:
        if byte in b"+-":
            self.step = self.exponent_sign
        else:
            self.exponent_sign(index, byte)

    def exponent_sign(self, index: int, byte: int) -> None:
        if byte not in _DIGITS:
            self.fail(byte, "in exponent of numeric literal")
        self.step = self.exponent_digits

    def exponent_digits(self, index: int, byte: int) -> None:
        if byte not in _DIGITS:
            self.finish_number(index, byte)

    def finish_number(self, index: int, byte: int) -> None:
        # A number ends at the first byte that cannot continue it; that byte
        # is then read as what follows the value.
        self.step = self.end_value
        self.end_value(index, byte)

    def in_literal(self, index: int, byte: int) -> None:
        expected = self.literal[self.literal_at]
        if byte != expected:
            self.fail(byte, f"in literal {self.literal.decode()} (expecting {quote_byte(expected)})")
        self.literal_at += 1
        if self.literal_at == len(self.literal):
            self.step = self.end_value

    def end_container(self) -> None:
        self.step = self.end_value
        if not self.stack:
            self.done = True
            self.closed_container = True

    def end_value(self, index: int, byte: int) -> None:
        if not self.stack:
            self.done = True
            return
        if byte in _SPACE:
            return
        top = self.stack[-1]
        if top == "object_key":
            if byte != ord(":"):
                self.fail(byte, "after object key")
            self.stack[-1] = "object_value"
            self.step = self.begin_value
        elif top == "object_value":
            if byte == ord(","):
                self.stack[-1] = "object_key"
                self.step = self.begin_key
            elif byte == ord("}"):
                self.stack.pop()
                self.end_container()
            else:
                self.fail(byte, "after object key:value pair")
        else:
            if byte == ord(","):
                self.step = self.begin_value
            elif byte == ord("]"):
                self.stack.pop()
                self.end_container()
            else:
                self.fail(byte, "after array element")

    def value_complete_at_eof(self) -> bool:
        """Return whether the input so far contains a whole top-level value."""
        if self.done:
            return True
        if self.stack:
            return False
        return self.step in (self.end_value, self.zero, self.integer, self.fraction, self.exponent_digits)


def scan(data: bytes, limit: int | None = None) -> Scan:
    """Scan the first JSON value of `data` as Go's json.Decoder does.

    With `limit`, only that many bytes are read, as http.MaxBytesReader
    allows; `Scan.error` is then "too large" when the value needs more.
    """
    window = data if limit is None else data[:limit]
    scanner = _Scanner(window)
    try:
        for index, byte in enumerate(window):
            scanner.step(index, byte)
            if scanner.done:
                # A container ends on its closing byte; a scalar ends on the byte before the one that ended it.
                scanner.result.end = index if scanner.closed_container else index - 1
                return scanner.result
    except _SyntaxError as error:
        return Scan(error=str(error))

    if limit is not None and len(data) > limit:
        return Scan(error="too large")
    if scanner.value_complete_at_eof():
        scanner.result.end = len(window) - 1
        return scanner.result
    if window.strip(_SPACE):
        return Scan(error="unexpected EOF")
    return Scan(error="EOF")


def unmarshal_error(kind: str, go_type: str, field_path: str = "", struct: str = "") -> str:
    """Return Go's UnmarshalTypeError text for a value of `kind` that does not fit `go_type`."""
    if field_path:
        return f"json: cannot unmarshal {kind} into Go struct field {struct}.{field_path} of type {go_type}"
    return f"json: cannot unmarshal {kind} into Go value of type {go_type}"
