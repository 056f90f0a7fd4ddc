"""JSON bytes exactly as Go's encoding/json writes them in coderd.

coderd encodes with `json.NewEncoder(rw)` and HTML escaping on: compact
output, one trailing newline, `<`, `>`, `&`, U+2028 and U+2029 escaped,
other non-ASCII text raw, floats in Go's shortest form. Object keys keep the
order of the mapping given, which callers set to Go's struct field order (or
sorted, for Go maps).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _escape_char(char: str) -> str:
    escaped = _SHORT_ESCAPES.get(char)
    if escaped is not None:
        return escaped
    code = ord(char)
    if code < 0x20:
        return f"\\u{code:04x}"
    if 0xD800 <= code <= 0xDFFF:
        # A lone surrogate cannot be UTF-8; Go writes invalid UTF-8 as U+FFFD.
        return "\\ufffd"
    return char


_ESCAPE_TABLE = {code: _escape_char(chr(code)) for code in range(0x20)}
_ESCAPE_TABLE.update({ord(char): escaped for char, escaped in _SHORT_ESCAPES.items()})
_ESCAPE_TABLE.update({code: "\\ufffd" for code in range(0xD800, 0xE000)})


def encode_string(text: str) -> str:
    """Quote `text` as Go's encoder does with HTML escaping on."""
    return '"' + text.translate(_ESCAPE_TABLE) + '"'


def encode_float(number: float) -> str:
    """Format a float64 as Go's encoder does: 'f' form, or 'e' form outside [1e-6, 1e21)."""
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"Go's encoder cannot encode the float {number!r}")
    if number == 0:
        return "-0" if str(number).startswith("-") else "0"
    shortest = Decimal(repr(number)).normalize()
    magnitude = abs(number)
    if 1e-6 <= magnitude < 1e21:
        return format(shortest, "f")

    sign, digits, _ = shortest.as_tuple()
    exponent = shortest.adjusted()
    mantissa = str(digits[0])
    if len(digits) > 1:
        mantissa += "." + "".join(str(digit) for digit in digits[1:])
    exponent_text = f"{abs(exponent):02d}"
    if exponent < 0 and exponent_text.startswith("0"):
        exponent_text = exponent_text[1:]
    sign_text = "-" if sign else ""
    exponent_sign = "-" if exponent < 0 else "+"
    return f"{sign_text}{mantissa}e{exponent_sign}{exponent_text}"


def encode_value(value: Any) -> str:
    """Encode `value` compactly, keys in the mapping's own order."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return encode_string(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return encode_float(value)
    if isinstance(value, dict):
        members = (encode_string(str(key)) + ":" + encode_value(item) for key, item in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(encode_value(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode(value: Any) -> bytes:
    """Return the bytes coderd's `httpapi.Write` sends for `value`."""
    return (encode_value(value) + "\n").encode("utf-8")
