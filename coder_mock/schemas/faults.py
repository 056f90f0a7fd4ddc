"""The schema of fault rules: the `faults:` list of a scenario file and the bodies of /__admin/faults.

A rule names one operation (Coder's operation ID, or `all` for every
/api/v2 operation) and what goes wrong there: a delay, a status, or a broken
connection. Loading returns plain dictionaries with durations in
nanoseconds; `coder_mock.faults` turns them into rules.
"""

from __future__ import annotations

from typing import Any, Mapping

from marshmallow import ValidationError, validates_schema

from coder_mock.schemas.constants import ALL, DEFAULT_DRIP_BYTES, DEFAULT_DRIP_INTERVAL_NS  # noqa: F401 - exported
from coder_mock.godefaults import parse_duration
from coder_mock.schemas.fields import (
    LIST_ERRORS,
    CoderField,
    CoderSchema,
    Enum,
    Int,
    NestedList,
    Number,
    String,
    written,
)

CONNECTION_FAULTS = ("reset", "empty", "truncate", "drip")
"""Kinds of broken connection: TCP reset, close before any byte, body cut short, body sent slowly."""

MAX_DELAY_NS = 3_600_000_000_000
"""The maximum delay of a rule (1h), so that a wrong unit cannot park a server thread for days."""


class GoDuration(String):
    """A duration written as Go writes one, such as "250ms", "2s" or "1m30s"; loaded as nanoseconds."""

    type_name = 'a duration with a unit, such as "250ms" or "2s"'

    def __init__(self, *, maximum: int = MAX_DELAY_NS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.maximum = maximum

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            shown = written(value)
            raise ValidationError(
                f'invalid value {shown}: a duration needs a unit; write "{shown}ms" for milliseconds'
                f' or "{shown}s" for seconds.'
            )
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            nanoseconds = parse_duration(text.strip())
        except ValueError:
            raise ValidationError(
                f"invalid duration {written(value)}: write a number and a unit (ns, us, ms, s, m or h),"
                ' such as "250ms", "2s" or "1m30s".'
            ) from None
        if nanoseconds < 0:
            raise ValidationError(f"invalid duration {written(value)}: a delay cannot be negative; give 0s or more.")
        if nanoseconds > self.maximum:
            raise ValidationError(f"invalid duration {written(value)}: the maximum is 1h; give a shorter duration.")
        return nanoseconds


class DelayRange(CoderSchema):
    """A random delay, drawn uniformly between `min` and `max` for each request."""

    min = GoDuration(required=True)
    max = GoDuration(required=True)

    @validates_schema
    def check_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "min" in data and "max" in data and data["min"] > data["max"]:
            raise ValidationError(
                "invalid range: min is longer than max; swap them or make them equal.", "max"
            )


class Delay(CoderField):
    """A fixed delay ("250ms") or a random one ({min: 100ms, max: 2s}); loaded as (min, max) nanoseconds."""

    type_name = 'a duration such as "250ms", or a range such as {min: 100ms, max: 2s}'

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> tuple[int, int]:
        if isinstance(value, dict):
            loaded = DelayRange().load(value)
            return loaded["min"], loaded["max"]
        nanoseconds = GoDuration().deserialize(value)
        return nanoseconds, nanoseconds


class Probability(Number):
    type_name = "a probability from 0 to 1"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> float:
        number = super()._deserialize(value, attr, data, **kwargs)
        if not 0 <= number <= 1:
            raise ValidationError(
                f"invalid value {written(value)}: a probability is from 0 to 1, such as 0.25 for one request in four."
            )
        return number


class Operation(String):
    type_name = "an operation ID"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        # The scenario schema imports this module, so its list of operations is imported here.
        from coder_mock.schemas.scenario import OPERATIONS

        text = super()._deserialize(value, attr, data, **kwargs)
        if text not in OPERATIONS and text != ALL:
            raise ValidationError(
                f"unknown operation {written(text)}: use Coder's operation ID, one of {', '.join(OPERATIONS)},"
                ' or "all" for every operation.'
            )
        return text


# Keys that only make sense with one kind of fault, and that kind.
NEEDS = {
    "message": ("status", None),
    "detail": ("status", None),
    "truncate_at": ("connection", "truncate"),
    "drip_bytes": ("connection", "drip"),
    "drip_interval": ("connection", "drip"),
}


OPTIONAL = {"omitempty": True}


class FaultRule(CoderSchema):
    """One fault rule. It needs `delay`, `status` or `connection`; `status` and `connection` exclude each other.

    `delay` is a duration such as "250ms" or a range such as {"min": "100ms", "max": "2s"}.
    """

    operation = Operation(required=True)
    delay = Delay(metadata=OPTIONAL)
    status = Int(metadata=OPTIONAL)
    message = String(metadata=OPTIONAL)
    detail = String(metadata=OPTIONAL)
    connection = Enum(*CONNECTION_FAULTS, metadata=OPTIONAL)
    truncate_at = Int(minimum=0, metadata=OPTIONAL)
    drip_bytes = Int(minimum=1, metadata=OPTIONAL)
    drip_interval = GoDuration(metadata=OPTIONAL)
    probability = Probability(metadata=OPTIONAL)
    count = Int(minimum=1, metadata=OPTIONAL)

    @validates_schema
    def check_combination(self, data: dict[str, Any], **kwargs: Any) -> None:
        status = data.get("status")
        if status is not None and not 400 <= status <= 599:
            raise ValidationError(
                f"invalid status {status}: a fault sends an error response, so use a status from 400 to 599.",
                "status",
            )
        if not any(key in data for key in ("delay", "status", "connection")):
            raise ValidationError(
                'a rule does nothing without "delay", "status" or "connection"; add one of them.'
            )
        if "status" in data and "connection" in data:
            raise ValidationError(
                'a rule sends either a "status" or a broken "connection", not both; split it into two rules.',
                "connection",
            )
        for key, (needed, kind) in NEEDS.items():
            if key not in data:
                continue
            if kind is None and needed not in data:
                raise ValidationError(f'"{key}" belongs to a status fault; add "status" or remove "{key}".', key)
            if kind is not None and data.get(needed) != kind:
                raise ValidationError(
                    f'"{key}" belongs to connection: {kind}; set connection to {kind} or remove "{key}".', key
                )


class FaultList(CoderSchema):
    """The body of PUT /__admin/faults: every rule, replacing the current ones."""

    faults = NestedList(FaultRule, required=True, error_messages={
        **LIST_ERRORS,
        # marshmallow formats this message with str.format, so the braces are doubled.
        "required": 'missing: add "faults" with the list of rules, such as [{{"operation": "all", "delay": "250ms"}}],'
                    " or [] for none.",
    })
