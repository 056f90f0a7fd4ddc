"""Go value parsing for option defaults, and Go's zero values for schema fields."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from marshmallow import fields as mm_fields

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_NANOS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
               "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(text: str) -> int:
    """Parse a Go duration string such as "24h0m0s" or "500ms" into nanoseconds."""
    body = text.lstrip("+-")
    if body == "0":
        return 0
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_NANOS[match.group(2)]
        position = match.end()
    if position != len(body) or not body:
        raise ValueError(f"invalid Go duration {text!r}")
    return -int(total) if text.startswith("-") else int(total)


def parse_default(kind: str, text: str) -> Any:
    """Turn an option's default string into the value serpent would hold."""
    if kind == "bool":
        return text == "true"
    if kind == "int":
        return int(text)
    if kind == "duration":
        return parse_duration(text)
    if kind == "string_list":
        return [item for item in text.split(",") if item] if text else None
    if kind == "struct":
        # serpent.Struct parses its default as JSON (YAML, a superset, for maps).
        return json.loads(text)
    return text


def zero_value(field: mm_fields.Field) -> Any:
    """Return the JSON form of Go's zero value for `field`'s type."""
    # Imported here because parse_duration and parse_default run without marshmallow.
    from coder_mock.schemas import fields

    if isinstance(field, fields.Bool):
        return False
    if isinstance(field, (fields.Int, fields.Duration)):
        return 0
    if isinstance(field, fields.Number):
        return 0.0
    if isinstance(field, fields.String):
        return ""
    # A nil slice or map, which Go encodes as null.
    return None
