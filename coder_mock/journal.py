"""The request journal: a bounded record of the requests the app handled.

Entries are plain dicts kept in a ring of a fixed size, so storage stays
bounded whatever the traffic and the oldest entry is dropped first. The ring
lives in the state backend (`coder_mock.state`): a deque in memory, or a table
or list that several server processes share. Session tokens and cookies are
redacted before an entry is stored, so they never reach the journal. The admin
API reads the journal through `Journal.query`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import IO, Any, Iterator, Mapping

from coder_mock.state import JournalStorage, MemoryJournalStorage

DEFAULT_SIZE = 1000
BODY_LIMIT = 8192
"""Bytes of each request body that an entry keeps."""
HEADERS_LIMIT = 16384
"""Characters of header names and values that an entry keeps, counted over all headers."""
QUERY_LIMIT = 8192
"""Characters of query parameter names and values that an entry keeps, counted over all parameters."""

REDACTED = "[REDACTED]"
SECRET_HEADERS = frozenset({"coder-session-token", "authorization", "proxy-authorization", "cookie"})
SECRET_QUERY_PARAMETERS = frozenset({"coder_session_token", "access_token"})

UNMATCHED = "unmatched"
FILTER_NAMES = ("method", "path", "path_prefix", "status", "operation", "unmatched", "session", "since", "limit")
SESSION_ID_LIMIT = 200

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND = dt.timedelta(microseconds=1)


class InvalidFilter(ValueError):
    """A query parameter of GET /__admin/requests that cannot be used; the message names it and the fix."""


class BodyCopy:
    """A request stream wrapper that keeps a copy of the first `limit` bytes read through it."""

    def __init__(self, stream: IO[bytes], limit: int = BODY_LIMIT) -> None:
        self.stream = stream
        self.limit = limit
        self.head = bytearray()
        self.length = 0

    def keep(self, data: bytes) -> bytes:
        self.length += len(data)
        room = self.limit - len(self.head)
        if room > 0:
            self.head += data[:room]
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self.keep(self.stream.read(size))

    def readline(self, size: int | None = -1) -> bytes:
        return self.keep(self.stream.readline(size))

    def readinto(self, buffer: bytearray | memoryview) -> int:
        count = self.stream.readinto(buffer) or 0  # type: ignore[attr-defined]
        self.keep(bytes(buffer[:count]))
        return count

    def __iter__(self) -> Iterator[bytes]:
        line = self.readline()
        while line:
            yield line
            line = self.readline()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def redact_header(name: str, value: str) -> str:
    """Return a header value with its secret replaced; other headers are returned unchanged."""
    lowered = name.lower()
    if lowered not in SECRET_HEADERS:
        return value
    if lowered == "cookie":
        # Cookie names stay, so a reader can see which cookies were sent.
        names = [pair.split("=", 1)[0].strip() for pair in value.split(";") if pair.strip()]
        return "; ".join(f"{cookie}={REDACTED}" for cookie in names)
    if lowered.endswith("authorization"):
        scheme, separator, _ = value.strip().partition(" ")
        if separator:
            return f"{scheme} {REDACTED}"
    return REDACTED


def redact_query(query: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {name: [REDACTED] * len(values) if name in SECRET_QUERY_PARAMETERS else values
            for name, values in query.items()}


def cap_headers(headers: Mapping[str, str] | Any, limit: int = HEADERS_LIMIT) -> tuple[dict[str, str], bool]:
    """Redact headers and keep them in order up to `limit` characters; return them and whether any were cut.

    The header that crosses the limit keeps the start of its value and later
    headers are dropped, so one request cannot grow an entry past the limit.
    """
    kept: dict[str, str] = {}
    room = limit
    for name, value in headers.items():
        value = redact_header(name, value)
        if len(name) + len(value) > room:
            if len(name) < room:
                kept[name] = value[:room - len(name)]
            return kept, True
        kept[name] = value
        room -= len(name) + len(value)
    return kept, False


def cap_query(query: Mapping[str, list[str]], limit: int = QUERY_LIMIT) -> tuple[dict[str, list[str]], bool]:
    """Redact query parameters and keep them in order up to `limit` characters; return them and whether any were cut.

    The value that crosses the limit keeps its start, and later values and
    parameters are dropped.
    """
    kept: dict[str, list[str]] = {}
    room = limit
    for name, values in redact_query(query).items():
        if len(name) > room:
            return kept, True
        room -= len(name)
        kept[name] = []
        for value in values:
            if len(value) > room:
                kept[name].append(value[:room])
                return kept, True
            kept[name].append(value)
            room -= len(value)
    return kept, False


def microseconds(moment: dt.datetime) -> int:
    """Return an aware datetime as whole microseconds since the Unix epoch, the precision of entry times."""
    return (moment - _EPOCH) // _MICROSECOND


def format_time(moment: dt.datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with microseconds, such as 2024-05-01T12:00:00.000000Z."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_entry(*, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str] | Any,
              body: BodyCopy | None, content_length: int | None, status: int, operation: str,
              scenario: str, session: str | None = None, fault: str = "") -> tuple[int, dict[str, Any]]:
    """Build one journal entry with its secrets redacted, paired with its time in microseconds for `since`.

    The body contains the bytes the app read, so it is empty for a handler that
    ignores the body. `body_truncated` is true when the request declared or
    sent more bytes than the entry keeps. Headers and query parameters are
    kept up to HEADERS_LIMIT and QUERY_LIMIT characters, and
    `headers_truncated` and `query_truncated` are true when some were cut.
    `time` is taken here, after the response is built. `fault` describes the fault rule
    applied to the request, such as "delay 250ms, reset", or is "".
    """
    now = dt.datetime.now(dt.timezone.utc)
    head = bytes(body.head) if body is not None else b""
    read = body.length if body is not None else 0
    truncated = read > len(head) or (content_length is not None and content_length > len(head))
    kept_query, query_truncated = cap_query(query)
    kept_headers, headers_truncated = cap_headers(headers)
    entry = {
        "time": format_time(now),
        "method": method,
        "path": path,
        "query": kept_query,
        "query_truncated": query_truncated,
        "headers": kept_headers,
        "headers_truncated": headers_truncated,
        "body": head.decode("utf-8", "replace"),
        "body_truncated": truncated,
        "status": status,
        "operation": operation,
        "scenario": scenario,
        "session": session,
        "fault": fault,
    }
    return microseconds(now), entry


@dataclass(frozen=True)
class Filters:
    """Conditions of a journal query, where None matches any value."""

    method: str | None = None
    path: str | None = None
    path_prefix: str | None = None
    status: int | None = None
    operation: str | None = None
    unmatched: bool | None = None
    session: str | None = None
    since: int | None = None
    limit: int | None = None

    def match(self, timestamp: int, entry: Mapping[str, Any]) -> bool:
        if self.method is not None and entry["method"] != self.method:
            return False
        if self.path is not None and entry["path"] != self.path:
            return False
        if self.path_prefix is not None and not entry["path"].startswith(self.path_prefix):
            return False
        if self.status is not None and entry["status"] != self.status:
            return False
        if self.operation is not None and entry["operation"] != self.operation:
            return False
        if self.unmatched is not None and (entry["operation"] == UNMATCHED) != self.unmatched:
            return False
        if self.session is not None and entry.get("session") != self.session:
            return False
        return self.since is None or timestamp >= self.since


def parse_filters(args: Mapping[str, list[str]]) -> Filters:
    """Read the query parameters of GET /__admin/requests; raise InvalidFilter naming the bad one and the fix."""
    unknown = sorted(set(args) - set(FILTER_NAMES))
    if unknown:
        raise InvalidFilter(f'Unknown query parameter "{unknown[0]}": use one of {", ".join(FILTER_NAMES)}.')
    values: dict[str, str] = {}
    for name, given in args.items():
        if len(given) != 1:
            raise InvalidFilter(f'Query parameter "{name}" is given {len(given)} times: give it once.')
        values[name] = given[0]

    parsed: dict[str, Any] = {}
    if "method" in values:
        method = values["method"]
        if not _TOKEN.match(method):
            raise InvalidFilter(f'Invalid "method" {json.dumps(method)}: give an HTTP method such as GET.')
        parsed["method"] = method.upper()
    for name in ("path", "path_prefix"):
        if name in values:
            if not values[name].startswith("/"):
                raise InvalidFilter(f'Invalid "{name}" {json.dumps(values[name])}: give a path starting with "/",'
                                    " such as /api/v2/buildinfo.")
            parsed[name] = values[name]
    if "status" in values:
        parsed["status"] = parse_integer("status", values["status"], 100, 599, "an HTTP status code from 100 to 599")
    if "operation" in values:
        if not values["operation"]:
            raise InvalidFilter('Invalid "operation": give an operation ID such as build-info, or leave it out.')
        parsed["operation"] = values["operation"]
    if "unmatched" in values:
        flag = values["unmatched"]
        if flag not in ("true", "false"):
            raise InvalidFilter(f'Invalid "unmatched" {json.dumps(flag)}: use true or false.')
        parsed["unmatched"] = flag == "true"
    if "session" in values:
        session = values["session"]
        if not session or len(session) > SESSION_ID_LIMIT:
            raise InvalidFilter(f'Invalid "session" {json.dumps(session[:SESSION_ID_LIMIT])}: give a session id'
                                " from GET /__admin/sessions, or leave it out.")
        parsed["session"] = session
    if "since" in values:
        parsed["since"] = parse_since(values["since"])
    if "limit" in values:
        parsed["limit"] = parse_integer("limit", values["limit"], 1, None, "a positive integer")
    return Filters(**parsed)


def parse_integer(name: str, text: str, minimum: int, maximum: int | None, expected: str) -> int:
    # isdigit alone would accept other scripts' digits, which int() also reads.
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InvalidFilter(f'Invalid "{name}" {json.dumps(text)}: give {expected}.')
    number = int(text)
    if number < minimum or (maximum is not None and number > maximum):
        raise InvalidFilter(f'Invalid "{name}" {json.dumps(text)}: give {expected}.')
    return number


def parse_since(text: str) -> int:
    """Parse an RFC 3339 time into microseconds since the Unix epoch, dropping digits past the microsecond."""
    found = _RFC3339.match(text)
    if not found:
        raise InvalidFilter(f'Invalid "since" {json.dumps(text)}: give an RFC 3339 time such as 2024-05-01T12:00:00Z.')
    try:
        seconds, fraction, offset = found.groups()
        offset = "+00:00" if offset in ("Z", "z") else offset
        moment = dt.datetime.fromisoformat(f"{seconds.replace('t', 'T')}.{(fraction or '')[:6]:0<6}{offset}")
    except ValueError:
        raise InvalidFilter(f'Invalid "since" {json.dumps(text)}: the date or time is out of range;'
                            " give an RFC 3339 time such as 2024-05-01T12:00:00Z.") from None
    return microseconds(moment)


def check_size(size: int) -> None:
    """Raise ValueError for a journal size below 0."""
    if size < 0:
        raise ValueError(f"journal size must be 0 or more, not {size}")


class Journal:
    """The last `size` requests, oldest first; a size of 0 disables recording.

    `storage` keeps the entries; without it they stay in this process's memory.
    """

    def __init__(self, size: int = DEFAULT_SIZE, storage: JournalStorage | None = None) -> None:
        check_size(size)
        self.size = size
        self.storage = storage if storage is not None else MemoryJournalStorage(size)

    @property
    def enabled(self) -> bool:
        return self.size > 0

    def record(self, timestamp: int, entry: dict[str, Any]) -> None:
        """Append an entry, dropping the oldest when the journal is full."""
        if not self.enabled:
            return
        self.storage.append(timestamp, entry)

    def query(self, filters: Filters = Filters()) -> list[dict[str, Any]]:
        """Return the entries that match `filters`, oldest first; `limit` keeps the newest ones."""
        matched = [entry for timestamp, entry in self.storage.entries() if filters.match(timestamp, entry)]
        if filters.limit is not None:
            matched = matched[-filters.limit:]
        return matched

    def count(self, filters: Filters = Filters()) -> int:
        return len(self.query(filters))

    def clear(self, session: str | None = None) -> int:
        """Remove every entry, or only those of `session`, and return how many were removed."""
        return self.storage.clear(session)

    def __len__(self) -> int:
        return self.storage.length()
