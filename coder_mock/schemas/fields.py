"""Field types that mirror Go's JSON types, with errors written for fixture authors.

Each rejection names the value as the author wrote it and the fix, because
the loader prefixes it with the file and key path and shows it as is. The
loader runs these fields once per scenario, never per request.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import uuid
from typing import Any, Mapping

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from coder_mock.gotime import GoTime
from coder_mock.schemas.constants import INT64_MAX, INT64_MIN
from coder_mock.yamlsource import SourceBool, SourceFloat


_SEMVER = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


def written(value: Any) -> str:
    """Return `value` the way a fixture author wrote it."""
    if isinstance(value, (SourceFloat, SourceBool)):
        return value.source
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        return text if len(text) <= 80 else text[:77] + "..."
    return repr(value)


def _yaml_hint(value: Any) -> str:
    """Explain a YAML implicit conversion, or return "" when there was none."""
    if isinstance(value, SourceBool):
        return (
            f" YAML reads unquoted {value.source} as the boolean {'true' if value else 'false'};"
            f' quote it: "{value.source}".'
        )
    if isinstance(value, SourceFloat):
        return f' YAML reads unquoted {value.source} as a number; quote it: "{value.source}".'
    return ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class CoderField(fields.Field):
    """Base of every coder-mock field.

    `secret` marks values coderd blanks before serving them. `fake` names the
    generator that fills the value when a fixture leaves it out.
    """

    type_name = "value"

    def __init__(self, *, secret: bool = False, fake: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", {})
        kwargs["error_messages"].setdefault(
            "null", f"invalid value null: expected {self.type_name}; leave the key out instead."
        )
        kwargs["error_messages"].setdefault("required", f"missing: add this key with {self.type_name}.")
        super().__init__(**kwargs)
        self.secret = secret
        self.fake = fake

    def invalid(self, value: Any, fix: str = "") -> ValidationError:
        message = f"invalid value {written(value)}: expected {self.type_name}."
        hint = _yaml_hint(value)
        return ValidationError(message + (hint or (f" {fix}" if fix else "")))

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class String(CoderField):
    type_name = "a string"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.invalid(value, "Quote the value.")
        return value


class Bool(CoderField):
    type_name = "true or false"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if isinstance(value, SourceBool):
            return value.value
        if not isinstance(value, bool):
            raise ValidationError(f"invalid value {written(value)}: expected true or false.")
        return value


class Int(CoderField):
    type_name = "an integer"

    def __init__(self, *, minimum: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        number = self._integer(value)
        if self.minimum is not None and number < self.minimum:
            raise ValidationError(f"invalid value {number}: expected {self.minimum} or more.")
        return number

    def _integer(self, value: Any) -> int:
        if not _is_int(value):
            if isinstance(value, SourceFloat) and float(value).is_integer():
                raise ValidationError(
                    f"invalid value {value.source}: expected an integer; write {int(value)} without the fraction."
                )
            raise ValidationError(f"invalid value {written(value)}: expected an integer.")
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValidationError(f"invalid value {value}: outside the range of a 64-bit integer.")
        return value


class Number(CoderField):
    """A Go float64."""

    type_name = "a number"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> float:
        if isinstance(value, bool) or isinstance(value, SourceBool) or not isinstance(value, (int, float)):
            raise ValidationError(f"invalid value {written(value)}: expected a number.")
        if not math.isfinite(value):
            raise ValidationError(f"invalid value {written(value)}: expected a finite number; JSON has no NaN or infinity.")
        return float(value)


class Duration(Int):
    """A Go time.Duration: whole nanoseconds, 9223372036854775807 meaning unlimited."""

    type_name = "a duration in whole nanoseconds"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if isinstance(value, (SourceFloat, float)) and not isinstance(value, bool):
            seconds = float(value)
            shown = f"{seconds:.0f}" if seconds.is_integer() else f"{seconds}"
            raise ValidationError(
                f"invalid value {written(value)}: a duration is an integer number of nanoseconds, not a"
                f" fraction. If you meant {shown} seconds, write {seconds * 1e9:.0f}."
            )
        if isinstance(value, str):
            raise ValidationError(
                f"invalid value {written(value)}: a duration is an integer number of nanoseconds"
                " (30s is 30000000000), not a string."
            )
        nanoseconds = super()._deserialize(value, attr, data, **kwargs)
        if nanoseconds < 0:
            raise ValidationError(
                f"invalid value {nanoseconds}: no Coder setting takes a negative duration; give 0 or more."
            )
        return nanoseconds


class SemVer(String):
    """A Coder version: SemVer 2.0 with a leading `v`, such as v2.21.0+abc1234."""

    type_name = "a SemVer version with a leading v"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if isinstance(value, (SourceFloat, int)) and not isinstance(value, bool):
            source = written(value)
            raise ValidationError(
                f"invalid value {source}: expected a SemVer version with a leading v. YAML reads unquoted"
                f' {source} as a number; quote it and write the whole version, such as "v{source}.0".'
            )
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _SEMVER.match(text):
            raise ValidationError(
                f"invalid version {written(text)}: expected SemVer with a leading v, such as"
                ' "v2.21.0+abc1234", "v2.20.0-rc.1" or "v0.0.0-devel+abc1234".'
            )
        return text


class Timestamp(CoderField):
    """A Go time.Time: RFC 3339 with a time zone, served in UTC with `Z`."""

    type_name = "an RFC 3339 timestamp"

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> "GoTime":
        if not isinstance(value, str):
            raise ValidationError(f"invalid value {written(value)}: expected an RFC 3339 timestamp string.")
        return GoTime.parse(value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return value.rfc3339()


class UUID(String):
    type_name = "a UUID"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = uuid.UUID(text)
        except ValueError:
            raise ValidationError(
                f"invalid UUID {written(text)}: expected 36 characters such as"
                ' "7b0c6f1e-6a7e-4c57-9a59-2f3b7f0e5d11".'
            ) from None
        if str(parsed) != text.lower() or len(text) != 36:
            raise ValidationError(f"invalid UUID {written(text)}: write it in the 8-4-4-4-12 hyphenated form.")
        return text.lower()


class URL(String):
    """A serpent.URL: absolute http(s) URL on the wire as a plain string, or empty."""

    type_name = "a URL string"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s]*$", text):
            raise ValidationError(
                f"invalid URL {written(text)}: expected an absolute URL such as"
                ' "https://coder.example.com", or "" for none.'
            )
        return text


class Regexp(String):
    type_name = "a regular expression string"


class Enum(String):
    def __init__(self, *choices: str, **kwargs: Any) -> None:
        self.choices = choices
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text not in self.choices:
            allowed = ", ".join(json.dumps(choice) for choice in self.choices)
            raise ValidationError(f"invalid value {written(text)}: expected one of {allowed}.")
        return text


class StringList(CoderField):
    type_name = "a list of strings"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> list[str]:
        if not isinstance(value, list):
            raise ValidationError(f"invalid value {written(value)}: expected a list of strings.")
        errors = {}
        for index, item in enumerate(value):
            if not isinstance(item, str):
                errors[index] = [f"invalid value {written(item)}: expected a string.{_yaml_hint(item)}"]
        if errors:
            raise ValidationError(errors)
        return list(value)


class StringMap(CoderField):
    type_name = "a mapping of strings to strings"

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, str]:
        if not isinstance(value, dict):
            raise ValidationError(f"invalid value {written(value)}: expected a mapping of strings to strings.")
        errors = {}
        for key, item in value.items():
            if not isinstance(key, str):
                errors[str(key)] = [f"invalid key {written(key)}: expected a string.{_yaml_hint(key)}"]
            elif not isinstance(item, str):
                errors[key] = [f"invalid value {written(item)}: expected a string.{_yaml_hint(item)}"]
        if errors:
            raise ValidationError(errors)
        return dict(value)


class AnyMap(CoderField):
    """A JSON object with values of any type (Go map[string]interface{})."""

    type_name = "a mapping"

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, Any]:
        from coder_mock.yamlsource import plain

        if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
            raise ValidationError(f"invalid value {written(value)}: expected a mapping with string keys.")
        return plain(value)


class AnyValue(CoderField):
    """Any JSON value."""

    type_name = "a JSON value"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        from coder_mock.yamlsource import plain

        return plain(value)


class Nested(fields.Nested):
    """A nested Coder struct; `secret` and `fake` work as on CoderField."""

    def __init__(self, nested: Any, *, secret: bool = False, fake: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault(
            "error_messages", {"type": "invalid value: expected a mapping.", "null": "invalid value null: expected a mapping."}
        )
        super().__init__(nested, **kwargs)
        self.secret = secret
        self.fake = fake


LIST_ERRORS = {"invalid": "invalid value: expected a list.", "null": "invalid value null: expected a list."}


def NestedList(nested: Any, **kwargs: Any) -> fields.List:
    """Declare a JSON array of Coder structs."""
    kwargs.setdefault("error_messages", LIST_ERRORS)
    return fields.List(Nested(nested), **kwargs)


class CoderSchema(Schema):
    """Base of every schema that mirrors a Coder type.

    Fields are declared in Go's struct order, which is the key order on the
    wire. `omit_empty` mirrors Go's `omitempty` on every field of the type.
    """

    omit_empty: bool = False
    error_messages = {"type": "invalid value: expected a mapping."}

    class Meta:
        # Unknown keys are rejected by reject_unknown_keys, with a hint.
        unknown = EXCLUDE

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def reject_unknown_keys(self, data: Any, original: Any, **kwargs: Any) -> None:
        if not isinstance(original, dict):
            return
        known = [field.data_key or name for name, field in self.load_fields.items()]
        errors: dict[str, list[str]] = {}
        for key in original:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1)
            if close:
                hint = f'did you mean "{close[0]}"? Rename it.'
            else:
                hint = "remove it; the keys allowed here are " + ", ".join(known) + "."
            errors[str(key)] = [f"unknown key {written(str(key))}: {hint}"]
        if errors:
            raise ValidationError(errors)
