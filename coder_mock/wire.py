"""Schema values to the JSON shapes coderd writes, and coderd's fixed messages.

`to_wire` applies Go's encoding rules: struct fields in declaration order,
`omitempty` dropping false, 0, "", null and empty lists and maps (but never a
struct), map keys sorted, timestamps in RFC 3339 UTC.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from coder_mock.godefaults import zero_value

if TYPE_CHECKING:
    from marshmallow import Schema
    from marshmallow import fields as mm_fields

# The functions that walk a schema import marshmallow and the field types
# themselves, so that the messages here stay importable without them.

SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."
NO_TOKEN_DETAIL = 'Cookie "coder_session_token" or query parameter must be provided.'
FORBIDDEN = {
    "message": "Forbidden.",
    "detail": "You don't have permission to view this content. If you believe this is a mistake,"
    " please contact your administrator or try signing in with different credentials.",
}
ROUTE_NOT_FOUND = {"message": "Route not found."}
RESOURCE_NOT_FOUND = "Resource not found or you do not have access to this resource"
INTERNAL_ERROR = "An internal server error occurred."
STATS_PROCESSING = {"message": "Deployment stats are still processing!"}
RATE_LIMIT_COUNT = 512
RATE_LIMIT_MESSAGE = f"You've been rate limited for sending more than {RATE_LIMIT_COUNT} requests in 1m0s."


def sort_maps(value: Any) -> Any:
    """Sort the keys of every mapping in `value`, as Go does when it encodes a map."""
    if isinstance(value, dict):
        return {key: sort_maps(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sort_maps(item) for item in value]
    return value


def is_empty(value: Any) -> bool:
    """Return whether Go's `omitempty` drops `value`."""
    if value is None or value is False:
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    return False


def field_to_wire(schema_field: mm_fields.Field, value: Any, omit: bool, nil_as_empty: bool = False) -> Any:
    from marshmallow import fields as mm_fields

    from coder_mock.schemas import fields

    if isinstance(schema_field, fields.Nested):
        if value is None:
            return None
        return to_wire(schema_field.schema, value, omit, nil_as_empty)
    if isinstance(schema_field, (mm_fields.List, fields.StringList)):
        if value is None:
            return [] if nil_as_empty else None
        inner = getattr(schema_field, "inner", None)
        if isinstance(inner, fields.Nested):
            return [to_wire(inner.schema, item, omit, nil_as_empty) for item in value]
        return list(value)
    if isinstance(schema_field, fields.Timestamp):
        return value.rfc3339() if value is not None else None
    if isinstance(schema_field, (fields.StringMap, fields.AnyMap)):
        if value is None and nil_as_empty:
            return {}
        return sort_maps(value)
    if isinstance(schema_field, fields.AnyValue):
        return sort_maps(value)
    return value


def omits_empty(schema: Schema, schema_field: mm_fields.Field) -> bool:
    return schema.omit_empty or bool(schema_field.metadata.get("omitempty"))


def to_wire(schema: Schema, data: dict[str, Any], omit: bool = True, nil_as_empty: bool = False) -> dict[str, Any]:
    """Return `data` shaped as coderd encodes `schema`'s Go type.

    `omit=False` keeps empty fields, and `nil_as_empty` writes nil lists and
    maps as [] and {} instead of null, as the API reference shows them.
    """
    from coder_mock.schemas import fields

    result: dict[str, Any] = {}
    for name, schema_field in schema.fields.items():
        value = data.get(name, zero_value(schema_field)) if isinstance(data, dict) else None
        wire = field_to_wire(schema_field, value, omit, nil_as_empty)
        structural = isinstance(schema_field, fields.Nested) and not schema.omit_empty
        if omit and omits_empty(schema, schema_field) and not structural and is_empty(wire):
            continue
        if isinstance(schema_field, fields.Nested) and wire is None and not omits_empty(schema, schema_field):
            wire = to_wire(schema_field.schema, {}, omit, nil_as_empty)
        result[schema_field.data_key or name] = wire
    return result


def error_body(message: str, detail: str = "") -> dict[str, str]:
    """Return a codersdk.Response with `detail` left out when empty."""
    body = {"message": message}
    if detail:
        body["detail"] = detail
    return body


_GO_NAMED_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                     "\v": "\\v", '"': '\\"', "\\": "\\\\"}


def go_quote(text: str) -> str:
    """Quote `text` as Go's %q and strconv.Quote do."""
    quoted = []
    for char in text:
        code = ord(char)
        if char in _GO_NAMED_ESCAPES:
            quoted.append(_GO_NAMED_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            quoted.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            quoted.append("\\ufffd")
        elif char != " " and unicodedata.category(char)[0] in "CZ":
            quoted.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            quoted.append(char)
    return '"' + "".join(quoted) + '"'
