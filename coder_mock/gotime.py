"""Go's time.Time: an instant in UTC with nanosecond precision, in Go's text forms.

This module does not import marshmallow, so that a start that reads its
scenario from the render cache, whose entries contain GoTime values, skips it.
"""

from __future__ import annotations

import datetime as dt
import re

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:(Z)|([+-])(\d{2}):(\d{2}))?$"
)


def _invalid(message: str) -> Exception:
    # Only an invalid timestamp needs marshmallow, so it is imported here.
    from marshmallow import ValidationError

    return ValidationError(message)


def _written(value: object) -> str:
    from coder_mock.schemas.fields import written

    return written(value)


class GoTime:
    """An instant in UTC with nanosecond precision, printed as Go prints time.Time."""

    __slots__ = ("moment", "nanos")

    def __init__(self, moment: dt.datetime, nanos: int = 0) -> None:
        self.moment = moment.astimezone(dt.timezone.utc).replace(microsecond=0)
        self.nanos = nanos

    @classmethod
    def parse(cls, text: str) -> "GoTime":
        match = _RFC3339.match(text)
        if not match:
            raise _invalid(
                f"invalid timestamp {_written(text)}: expected RFC 3339 such as"
                ' "2025-04-17T12:00:00Z".'
            )
        year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
        if not zulu and not sign:
            raise _invalid(
                f"invalid timestamp {_written(text)}: it has no time zone. Add Z for UTC,"
                f' as in "{text}Z", or an offset such as +02:00.'
            )
        offset = dt.timedelta(0)
        if sign:
            if int(off_h) > 23 or int(off_m) > 59:
                raise _invalid(
                    f"invalid timestamp {_written(text)}: the offset {sign}{off_h}:{off_m} is out of range;"
                    " use hours 00-23 and minutes 00-59."
                )
            offset = dt.timedelta(hours=int(off_h), minutes=int(off_m))
            offset = -offset if sign == "-" else offset
        try:
            moment = dt.datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second),
                tzinfo=dt.timezone(offset),
            )
            moment.astimezone(dt.timezone.utc)
        except ValueError as error:
            raise _invalid(f"invalid timestamp {_written(text)}: {error}; check the date and time.") from None
        except OverflowError:
            raise _invalid(
                f"invalid timestamp {_written(text)}: in UTC it falls before year 1; use a later time."
            ) from None
        # Go reads any number of fraction digits and keeps nanoseconds.
        nanos = int((fraction or "")[:9].ljust(9, "0"))
        return cls(moment, nanos)

    def shifted(self, nanoseconds: int) -> "GoTime":
        total = self.nanos + nanoseconds
        seconds, nanos = divmod(total, 1_000_000_000)
        return GoTime(self.moment + dt.timedelta(seconds=seconds), nanos)

    def key(self) -> tuple[dt.datetime, int]:
        return (self.moment, self.nanos)

    def _date_time(self, separator: str) -> str:
        moment = self.moment
        return (
            f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}{separator}"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        )

    def rfc3339(self) -> str:
        """Format like Go's RFC3339Nano: trailing zeros of the fraction dropped."""
        text = self._date_time("T")
        if self.nanos:
            text += "." + f"{self.nanos:09d}".rstrip("0")
        return text + "Z"

    def go_string(self) -> str:
        """Format like Go's time.Time.String() for a UTC time."""
        text = self._date_time(" ")
        if self.nanos:
            text += "." + f"{self.nanos:09d}".rstrip("0")
        return text + " +0000 UTC"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and self.key() == other.key()

    def __lt__(self, other: "GoTime") -> bool:
        return self.key() < other.key()

    def __le__(self, other: "GoTime") -> bool:
        return self.key() <= other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return f"GoTime({self.rfc3339()!r})"
