"""Run coder-mock inside a test process and drive it through its admin API.

`CoderMock` starts the server in a background thread on a free port of
127.0.0.1, or attaches to a server that is already running. With
`session=True` it works in a session of its own on that server, so other
clients of a shared server neither see nor change its scenario, fault rules
and journal. Every change and query after the start goes through the admin
HTTP API under /__admin/, so an attached server and an owned one behave the
same. `CoderMock.admin` is the only method that sends admin requests, and it
adds the session's header to each.

    with CoderMock(scenario="outdated") as mock:
        response = urllib.request.urlopen(mock.url + "/api/v2/updatecheck")
        mock.assert_called("GET", "/api/v2/updatecheck", times=1)

    shared = CoderMock.attach("http://127.0.0.1:3000", session=True, scenario="dev-build")
    request = urllib.request.Request(shared.url + "/api/v2/buildinfo", headers=shared.headers)
    shared.stop()  # ends the session; the server keeps running
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import functools
import json
import logging
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from werkzeug.serving import BaseWSGIServer

from coder_mock.app import create_app
from coder_mock.catalog import Catalog, load_catalog
from coder_mock.differences import PROFILES
from coder_mock.documents import FileProblem
from coder_mock.journal import DEFAULT_SIZE
from coder_mock.rendering import Rendered
from coder_mock.schemas.fields import INT64_MAX, INT64_MIN
from coder_mock.server import ListenError, create_server, listen
from coder_mock.state.sessions import SESSION_HEADER
from coder_mock.store import Store

log = logging.getLogger("coder_mock.testing")

ADMIN_PREFIX = "/__admin"
REQUEST_TIMEOUT_SECONDS = 10.0
# How often the serving thread checks for a stop request, so stop() returns within about this long.
POLL_INTERVAL_SECONDS = 0.05
# Lines of received requests that an assert_called failure lists before it summarises the rest.
LISTED_REQUESTS = 20
# difflib ratio from which a path of the same method counts as a near miss. Paths share
# "/api/v2/", so lower ratios match unrelated operations such as /api/v2/ for /api/v2/buildinfo.
SIMILAR_PATH_RATIO = 0.8

PathList = Sequence[str | Path]


class CoderMockError(Exception):
    """coder-mock cannot start, cannot be reached, or was given an invalid value; the message names the fix."""


class JournalDisabled(CoderMockError):
    """The server's request journal is off (size 0), so a journal query would wrongly report no requests."""


class AdminRequestFailed(CoderMockError):
    """The admin API returned an error status; `status` and `body` are those of its response."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        super().__init__(describe_failure(method, path, status, body))


def describe_failure(method: str, path: str, status: int, body: Any) -> str:
    """Build one message from an admin error response: its message, detail and any list of valid names."""
    text = f"{method} {path} failed with status {status}"
    if not isinstance(body, dict):
        return f"{text}: {body!r}"
    message = body.get("message")
    if message:
        text = f"{text}: {message}"
    detail = body.get("detail")
    if detail:
        text = f"{text} {detail}"
    available = body.get("available")
    if available:
        text = f"{text} Available: {', '.join(available)}."
    return text


@dataclass(frozen=True)
class Scenario:
    """The live scenario as GET /__admin/scenario returns it."""

    name: str
    seed: int
    profile: str
    description: str
    version: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "Scenario":
        return cls(body["name"], body["seed"], body["profile"], body["description"], body["version"])


@dataclass(frozen=True)
class Token:
    """One session token of a scenario user; `expired` is None when the server does not report it."""

    username: str
    roles: tuple[str, ...]
    token: str
    expired: bool | None


class Tokens:
    """The session tokens of the live scenario's users.

    `owner` is the first unexpired token of the first user with the owner
    role, `member` that of the first user without it, and `expired` the first
    expired token. `tokens["alice"]` and `tokens.alice` give the first
    unexpired token of the user named alice.

    The tokens of a session (`session` set) are those the session issued,
    one per user. The admin API lists them without their expiry, so they
    count as unexpired and `expired` raises LookupError.
    """

    def __init__(self, scenario: str, records: Iterable[Token], session: str | None = None) -> None:
        self.scenario = scenario
        self.session = session
        self.all: tuple[Token, ...] = tuple(records)

    def first(self, description: str, records: Iterable[Token]) -> str:
        for record in records:
            return record.token
        raise LookupError(f"scenario {self.scenario!r} has no {description};"
                          f" its tokens are: {self.summary()}.")

    def summary(self) -> str:
        if not self.all:
            return "none"
        return ", ".join(f"{record.username} ({'/'.join(record.roles)}{', expired' if record.expired else ''})"
                         for record in self.all)

    @property
    def owner(self) -> str:
        owners = [record for record in self.all if "owner" in record.roles]
        first_owner = owners[0].username if owners else None
        return self.first("owner with an unexpired token",
                          (record for record in owners if record.username == first_owner and not record.expired))

    @property
    def member(self) -> str:
        members = [record for record in self.all if "owner" not in record.roles]
        first_member = members[0].username if members else None
        return self.first("user without the owner role with an unexpired token",
                          (record for record in members if record.username == first_member and not record.expired))

    @property
    def expired(self) -> str:
        if self.session is not None:
            raise LookupError(f"the tokens of session {self.session} carry no expiry, so none is known to have"
                              " expired; send an expired token of the scenario file together with the"
                              " session's headers, which the session accepts as well.")
        return self.first("expired token", (record for record in self.all if record.expired))

    def __getitem__(self, username: str) -> str:
        # coderd matches usernames case-insensitively.
        lowered = username.lower()
        known = [record for record in self.all if record.username.lower() == lowered]
        if not known:
            raise KeyError(f"scenario {self.scenario!r} has no user {username!r};"
                           f" its users are: {', '.join(self.usernames()) or 'none'}.")
        return self.first(f"unexpired token for user {username!r}",
                          (record for record in known if not record.expired))

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as error:
            raise AttributeError(error.args[0]) from None

    def usernames(self) -> list[str]:
        return list(dict.fromkeys(record.username for record in self.all))

    def __repr__(self) -> str:
        session = "" if self.session is None else f", session={self.session!r}"
        return f"Tokens(scenario={self.scenario!r}{session}, users={self.usernames()!r})"


def tokens_of(rendered: Rendered) -> Tokens:
    """List the tokens of a `Rendered` scenario's users, each marked expired at the scenario's time."""
    world = rendered.world
    records = [
        Token(user.username, tuple(user.roles), token, expires < world.time)
        for user in world.users
        for token, expires in user.tokens.items()
    ]
    return Tokens(rendered.name, records)


@functools.lru_cache(maxsize=1)
def builtin_catalog() -> Catalog:
    """Load the built-in scenarios once per process; CoderMocks without folders of their own share them."""
    return load_catalog()


def load_catalog_for(scenarios_dir: PathList, fixtures_dir: PathList) -> Catalog:
    """Load the built-ins plus the given folders, raising CoderMockError for a missing folder or a broken file."""
    folders = [Path(folder) for folder in scenarios_dir] + [Path(folder) for folder in fixtures_dir]
    for folder in folders:
        if not folder.is_dir():
            raise CoderMockError(f"{folder}: folder not found; check the scenarios_dir and fixtures_dir values.")
    if not folders:
        return builtin_catalog()
    try:
        return load_catalog([Path(folder) for folder in scenarios_dir], [Path(folder) for folder in fixtures_dir])
    except FileProblem as problem:
        raise CoderMockError("; ".join(problem.lines)) from None


def check_choice(scenario: str, seed: int | None, profile: str | None) -> None:
    """Raise CoderMockError for a scenario, seed or profile that the admin API would reject."""
    if not isinstance(scenario, str) or not scenario:
        raise CoderMockError(f"invalid scenario {scenario!r}: give a scenario name such as 'outdated'.")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise CoderMockError(f"invalid seed {seed!r}: give an integer or None for the scenario's own seed.")
    if seed is not None and not INT64_MIN <= seed <= INT64_MAX:
        raise CoderMockError(f"invalid seed {seed}: give an integer within the range of a 64-bit integer.")
    if profile is not None and profile not in PROFILES:
        raise CoderMockError(f"invalid profile {profile!r}: use 'wire' or 'reference', or None for the"
                             " scenario's own profile.")


def format_since(since: str | dt.datetime) -> str:
    if isinstance(since, dt.datetime):
        if since.tzinfo is None:
            raise CoderMockError(f"invalid since {since!r}: give an aware datetime, such as one with tzinfo=UTC.")
        return since.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return since


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


class Journal:
    """The server's request journal, read and cleared through the admin API.

    Queries leave out the admin API's own requests (the switches and resets a
    CoderMock sends) unless `include_admin` is true or the filter names an
    admin path.
    """

    def __init__(self, mock: "CoderMock") -> None:
        self.mock = mock

    def __call__(self, *, method: str | None = None, path: str | None = None, path_prefix: str | None = None,
                 status: int | None = None, operation: str | None = None, unmatched: bool | None = None,
                 since: str | dt.datetime | None = None, limit: int | None = None,
                 include_admin: bool = False) -> list[dict[str, Any]]:
        """Return the journal entries that match every given filter, oldest first.

        `limit` keeps the newest entries. Entries are the dicts that
        GET /__admin/requests returns.
        """
        query: dict[str, str] = {}
        if method is not None:
            query["method"] = method
        if path is not None:
            query["path"] = path
        if path_prefix is not None:
            query["path_prefix"] = path_prefix
        if status is not None:
            query["status"] = str(status)
        if operation is not None:
            query["operation"] = operation
        if unmatched is not None:
            query["unmatched"] = "true" if unmatched else "false"
        if since is not None:
            query["since"] = format_since(since)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise CoderMockError(f"invalid limit {limit!r}: give a positive integer.")
        admin_named = any(is_admin_path(value) for value in (path, path_prefix) if value is not None)
        keep_admin = include_admin or admin_named
        # Without admin entries, the limit is applied here so the dropped entries do not use it up.
        if limit is not None and keep_admin:
            query["limit"] = str(limit)
        listed = self.mock.admin("GET", "/requests", query=query)
        if listed["size"] == 0:
            # An empty list would read as "no request came", which is false when nothing is recorded.
            raise JournalDisabled(f"the request journal of the coder-mock server at {self.mock.url} is off"
                                  " (GET /__admin/requests reports size 0, as after `coder-mock serve"
                                  " --journal-size 0`), so it recorded no requests: restart that server with"
                                  " a positive --journal-size, such as 1000, the default.")
        entries = listed["requests"]
        if not keep_admin:
            entries = [entry for entry in entries if not is_admin_path(entry["path"])]
            if limit is not None:
                entries = entries[-limit:]
        return entries

    def count(self, **filters: Any) -> int:
        """Return how many entries match the filters, which are those of a journal query.

        Like a query, it raises JournalDisabled when the server's journal is off.
        """
        return len(self(**filters))

    def clear(self) -> int:
        """Remove every entry and return how many there were."""
        return self.mock.admin("DELETE", "/requests")["cleared"]


# Keys of a fault rule whose values are durations, and the state keys that GET /__admin/faults adds to a rule.
DURATION_KEYS = ("delay", "drip_interval")
STATE_KEYS = ("applied", "remaining")


def go_duration(value: Any) -> Any:
    """Write a timedelta as a duration the admin API accepts, such as "250000us"; pass other values through.

    The server checks every value, so a number without a unit reaches it and
    gets its message naming the fix.
    """
    if isinstance(value, dt.timedelta):
        return f"{value // dt.timedelta(microseconds=1)}us"
    return value


def rule_body(rule: Mapping[str, Any]) -> dict[str, Any]:
    """Return a fault rule as the admin API takes it: timedeltas as durations and a (min, max) delay as a range."""
    body = dict(rule)
    for key in DURATION_KEYS:
        if key not in body:
            continue
        value = body[key]
        if isinstance(value, tuple) and len(value) == 2:
            value = {"min": value[0], "max": value[1]}
        if isinstance(value, Mapping):
            value = {bound: go_duration(duration) for bound, duration in value.items()}
        body[key] = go_duration(value)
    return body


def definition_of(state: Mapping[str, Any]) -> dict[str, Any]:
    """Return a rule as GET /__admin/faults lists it, without its counters."""
    return {key: value for key, value in state.items() if key not in STATE_KEYS}


class Faults:
    """The fault rules through /__admin/faults: the session's rules for a CoderMock with a session, else the server's.

    The server checks every rule. An invalid one raises AdminRequestFailed
    with the server's message, which names the field and the fix, and
    changes nothing.
    """

    def __init__(self, mock: "CoderMock") -> None:
        self.mock = mock
        # The rules that fault() added and has not removed yet, kept up to date when a removal rewrites the list.
        self.added: list[AddedFault] = []

    def list(self) -> list[dict[str, Any]]:
        """Return the rules in order, each with `applied` and, for a rule with a count, `remaining`."""
        return self.mock.admin("GET", "/faults")["faults"]

    def add(self, operation: str, **rule: Any) -> dict[str, Any]:
        """Add one rule after the others and return it as the server lists it.

        `rule` takes the keys of a scenario's `faults:` entry: delay, status,
        message, detail, connection, truncate_at, drip_bytes, drip_interval,
        probability and count. A duration may be a string such as "250ms" or
        a timedelta, and a delay may also be a (min, max) tuple.
        """
        return self.add_listed(operation, rule)[-1]

    def add_listed(self, operation: str, rule: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Add one rule and return every rule as the server lists them after the addition."""
        return self.mock.admin("POST", "/faults", body=rule_body({"operation": operation, **rule}))["faults"]

    def set(self, rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Replace every rule with `rules`, restarting counts and draws, and return the new list."""
        if isinstance(rules, (str, bytes, Mapping)):
            raise CoderMockError(f"invalid rules {rules!r}: give a list of rules, such as"
                                 ' [{"operation": "build-info", "status": 503}], or [] for none.')
        body = {"faults": [rule_body(rule) if isinstance(rule, Mapping) else rule for rule in rules]}
        return self.mock.admin("PUT", "/faults", body=body)["faults"]

    def clear(self) -> int:
        """Remove every rule and return how many there were."""
        return self.mock.admin("DELETE", "/faults")["cleared"]

    def remove(self, added: "AddedFault") -> bool:
        """Remove a rule that fault() added, unless a switch, reset or change of the rules replaced it already.

        Return whether it was removed. The admin API replaces the whole list
        only, so this sends the other rules back. Each keeps the calls it has
        left as its `count`, and a rule with none left is dropped, since it
        can no longer apply. The other rules that fault() added are tracked
        to their new positions.
        """
        # TODO: remove the one rule on the server once the admin API can, so that the other rules keep
        # their `applied` counters and their draws instead of starting them again.
        if added not in self.added:
            return False
        states = self.list()
        if not added.matches(states):
            self.added.remove(added)
            return False
        rules_left: list[dict[str, Any]] = []
        # Old position to new position, for the rules that stay.
        moved: dict[int, int] = {}
        for index, state in enumerate(states):
            rule = definition_of(state)
            remaining = state.get("remaining")
            if index == added.position or remaining == 0:
                continue
            if remaining is not None:
                rule["count"] = remaining
            moved[index] = len(rules_left)
            rules_left.append(rule)
        self.set(rules_left)

        for other in list(self.added):
            if not other.matches(states):
                continue
            other.applied_before += states[other.position]["applied"]
            if other.position in moved:
                other.position = moved[other.position]
                other.definition = rules_left[other.position]
            else:
                # This rule, or a spent one, which can no longer apply.
                other.removed = True
                self.added.remove(other)
        return True


class AddedFault:
    """A rule that `CoderMock.fault()` added: its definition as listed, its position, and its counter."""

    def __init__(self, faults: Faults, position: int, definition: dict[str, Any]) -> None:
        self.faults = faults
        self.position = position
        self.definition = definition
        # Requests the rule applied to before a rewrite of the list started its counter again.
        self.applied_before = 0
        # Set once Faults.remove removed the rule, or dropped it because it had no calls left.
        self.removed = False

    def matches(self, states: list[dict[str, Any]]) -> bool:
        """Return whether `states`, a listing of the rules, still has this rule at its position."""
        return (not self.removed and self.position < len(states)
                and definition_of(states[self.position]) == self.definition)

    def state(self) -> dict[str, Any] | None:
        """Return the rule as the server lists it now, or None once it was removed or replaced."""
        if self.removed:
            return None
        states = self.faults.list()
        return states[self.position] if self.matches(states) else None

    @property
    def applied(self) -> int:
        """The number of requests the rule applied to, read from the server while the rule is set."""
        if self.removed:
            return self.applied_before
        state = self.state()
        if state is None:
            raise CoderMockError(f"the fault rule {self.definition} is no longer set: a switch, a reset or a"
                                 " change of the rules replaced it, so its counter is gone.")
        return self.applied_before + state["applied"]

    def remove(self) -> bool:
        """Remove the rule unless it is gone already; return whether it was removed."""
        return self.faults.remove(self)

    def __repr__(self) -> str:
        return f"AddedFault(position={self.position}, definition={self.definition!r})"


def plural(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def group_requests(entries: Iterable[dict[str, Any]]) -> list[tuple[str, str, int, int]]:
    """Group entries by method, path and status, in order of first appearance, with how often each came."""
    counts: dict[tuple[str, str, int], int] = {}
    for entry in entries:
        key = (entry["method"], entry["path"], entry["status"])
        counts[key] = counts.get(key, 0) + 1
    return [(method, path, status, count) for (method, path, status), count in counts.items()]


def request_line(method: str, path: str, status: int, count: int, note: str = "") -> str:
    times = "" if count == 1 else f" ({count} times)"
    return f"  {method} {path} -> {status}{times}{note}"


def near_misses(method: str, path: str, status: int | None,
                received: list[tuple[str, str, int, int]]) -> list[str]:
    """List the received requests that almost match: other status, other method, or a similar path."""
    other_status = [group for group in received
                    if status is not None and group[0] == method and group[1] == path and group[2] != status]
    other_method = [group for group in received if group[0] != method and group[1] == path]
    same_method_paths = list(dict.fromkeys(group[1] for group in received if group[0] == method and group[1] != path))
    similar = difflib.get_close_matches(path, same_method_paths, n=max(1, len(same_method_paths)),
                                        cutoff=SIMILAR_PATH_RATIO)
    similar_path = sorted((group for group in received if group[0] == method and group[1] in similar),
                          key=lambda group: similar.index(group[1]))
    lines = [request_line(*group, note="  (other status)") for group in other_status]
    lines += [request_line(*group, note="  (same path, other method)") for group in other_method]
    lines += [request_line(*group, note="  (same method, similar path)") for group in similar_path]
    return lines


def called_message(method: str, path: str, status: int | None, times: int | None, matched: int,
                   entries: list[dict[str, Any]]) -> str:
    """Build the assert_called failure: what was expected, the near misses, and every request received."""
    expected_request = f"{method} {path}"
    if status is not None:
        expected_request += f" with status {status}"
    if times is None:
        expected = "at least once"
    elif times == 0:
        expected = "never"
    else:
        expected = plural(times)
    actual = "it was not called" if matched == 0 else f"it was called {plural(matched)}"
    lines = [f"Expected {expected_request} to be called {expected}, but {actual}."]
    received = group_requests(entries)
    misses = near_misses(method, path, status, received)
    if misses:
        lines.append("Near misses:")
        lines += misses
    if not received:
        lines.append("No requests were received.")
        return "\n".join(lines)
    lines.append(f"Requests received ({len(entries)}):")
    lines += [request_line(*group) for group in received[:LISTED_REQUESTS]]
    if len(received) > LISTED_REQUESTS:
        rest = sum(group[3] for group in received[LISTED_REQUESTS:])
        lines.append(f"  ... and {rest} more")
    return "\n".join(lines)


def track_connections(server: BaseWSGIServer) -> "weakref.WeakSet[socket.socket]":
    """Record every connection `server` accepts from now on, so stop() can end those still open."""
    connections: weakref.WeakSet[socket.socket] = weakref.WeakSet()
    accept = server.get_request

    def get_request() -> tuple[socket.socket, Any]:
        connection, address = accept()
        connections.add(connection)
        return connection, address

    server.get_request = get_request  # type: ignore[method-assign]
    return connections


def base_url(url: str) -> str:
    """Return the scheme and host of `url`, or raise CoderMockError for a value that is not an HTTP base URL.

    A path other than "/", a query or a fragment is rejected, because the
    admin API and Coder's API are at /__admin and /api/v2 of the server's root.
    """
    parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise CoderMockError(f"invalid url {url!r}: give the server's base URL, such as http://127.0.0.1:3000.")
    root = f"{parsed.scheme}://{parsed.netloc}"
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        raise CoderMockError(f"invalid url {url!r}: give the server's base URL without a path, {root}, because"
                             " CoderMock adds /api/v2 and /__admin itself.")
    return root


class CoderMock:
    """A coder-mock server for one test process, driven through the admin API.

    Use it as a context manager, or call start() and stop(). Without `url`,
    start() serves on a free port of 127.0.0.1 in a background thread. With
    `url`, start() attaches to the server running there, and stop() leaves it
    running. With `session=True`, start() also creates a session serving
    `scenario`, `seed` and `profile`, every admin request acts on that
    session alone, and stop() ends it.

    `url` is the base URL (such as http://127.0.0.1:40123), `headers` the
    headers that put a request in the session, `tokens` the live scenario's
    session tokens, `journal` the request journal and `faults` the fault rules.
    """

    def __init__(self, scenario: str | None = None, seed: int | None = None, profile: str | None = None, *,
                 scenarios_dir: PathList = (), fixtures_dir: PathList = (),
                 journal_size: int = DEFAULT_SIZE, port: int = 0, url: str | None = None,
                 session: bool = False) -> None:
        chosen = scenario is not None or seed is not None or profile is not None
        scenario = "default" if scenario is None else scenario
        check_choice(scenario, seed, profile)
        if isinstance(journal_size, bool) or not isinstance(journal_size, int) or journal_size < 1:
            raise CoderMockError(f"invalid journal_size {journal_size!r}: give a positive number of entries,"
                                 " because assert_called and the journal need recorded requests.")
        if not isinstance(session, bool):
            raise CoderMockError(f"invalid session {session!r}: give True for a session of its own, or False.")
        if url is not None:
            url = base_url(url)
            if port != 0:
                raise CoderMockError(f"port {port} applies to a server that CoderMock starts; leave it out with"
                                     " url, whose server is running already.")
            if journal_size != DEFAULT_SIZE:
                raise CoderMockError(f"journal_size {journal_size} applies to a server that CoderMock starts;"
                                     " leave it out with url, or start that server with --journal-size.")
            if chosen and not session:
                raise CoderMockError("scenario, seed and profile choose the scenario of a session on the server at"
                                     " url: pass session=True, or call switch() to change that server's scenario"
                                     " for every client.")
            if session and (scenarios_dir or fixtures_dir):
                raise CoderMockError("scenarios_dir and fixtures_dir are read only for the tokens of an attached"
                                     " server without a session; a session lists its own tokens, so leave them"
                                     " out, and start the server with --scenarios-dir and --fixtures-dir.")
        self.scenario_name = scenario
        self.seed = seed
        self.profile = profile
        self.scenarios_dir = tuple(scenarios_dir)
        self.fixtures_dir = tuple(fixtures_dir)
        self.journal_size = journal_size
        self.port = port
        self.target_url = url
        self.with_session = session
        self.journal = Journal(self)
        self.faults = Faults(self)
        self.admin_headers: dict[str, str] = {}
        self._url: str | None = None
        self._session: str | None = None
        self._store: Store | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        # Proxies from the environment are ignored, because the server is always reached directly.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def attach(cls, url: str, *, session: bool = False, scenario: str | None = None, seed: int | None = None,
               profile: str | None = None, scenarios_dir: PathList = (),
               fixtures_dir: PathList = ()) -> "CoderMock":
        """Return a started CoderMock for a coder-mock server already running at `url`; stop() leaves it running.

        With `session=True`, it creates a session serving `scenario` (default:
        default), `seed` and `profile`, and stop() ends that session. Without a
        session, `scenarios_dir` and `fixtures_dir` are those the server was
        started with, read only for `tokens`, because the admin API lists
        users only for sessions.
        """
        mock = cls(scenario, seed, profile, url=url, session=session, scenarios_dir=scenarios_dir,
                   fixtures_dir=fixtures_dir)
        return mock.start()

    # --- Lifecycle ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._url is not None

    @property
    def url(self) -> str:
        """The server's base URL, without a trailing slash."""
        if self._url is None:
            raise CoderMockError("coder-mock is not running: call start() or use the CoderMock in a with block.")
        return self._url

    @property
    def session(self) -> str | None:
        """The id of this CoderMock's session, or None without a session or when stopped."""
        return self._session

    @property
    def headers(self) -> dict[str, str]:
        """The headers that put a request in this CoderMock's session: {"Coder-Mock-Session": id}, or {}.

        Requests that carry one of the session's `tokens` belong to it without them.
        """
        return {} if self._session is None else {SESSION_HEADER: self._session}

    def start(self) -> "CoderMock":
        """Serve on 127.0.0.1 in a daemon thread, or attach to the server at `url`; create the session; return self.

        A failure raises CoderMockError and leaves nothing running: no thread
        and no session.
        """
        if self._url is not None:
            raise CoderMockError(f"coder-mock is already running at {self._url}; call stop() before start().")
        if self.target_url is None:
            self.start_server()
        else:
            self._url = self.target_url
        try:
            if self.target_url is not None:
                self.admin("GET", "/health")
            if self.with_session:
                self.open_session()
        except BaseException:
            self.stop()
            raise
        return self

    def start_server(self) -> None:
        """Load the scenarios and serve them on 127.0.0.1 in a daemon thread."""
        catalog = load_catalog_for(self.scenarios_dir, self.fixtures_dir)
        if self.scenario_name in catalog.rejected:
            raise CoderMockError(f"scenario {self.scenario_name!r} cannot be served:"
                                 f" {catalog.rejected[self.scenario_name][0]}")
        if self.scenario_name not in catalog.entries:
            raise CoderMockError(f"unknown scenario {self.scenario_name!r}; choose one of"
                                 f" {', '.join(catalog.names())}.")
        store = Store(catalog, self.scenario_name, self.seed, self.profile, journal_size=self.journal_size)
        try:
            listener = listen("127.0.0.1", self.port)
        except ListenError as error:
            raise CoderMockError(str(error)) from None
        try:
            server = create_server(create_app(store, quiet=True), listener)
        finally:
            # The server has its own duplicate of the socket.
            listener.close()
        self._connections = track_connections(server)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL_SECONDS},
                                  name=f"coder-mock 127.0.0.1:{server.server_port}", daemon=True)
        thread.start()
        self._store, self._server, self._thread = store, server, thread
        self._url = f"http://127.0.0.1:{server.server_port}"

    def open_session(self) -> None:
        """Create this CoderMock's session on the server; from then on every admin request acts on it."""
        body: dict[str, Any] = {"scenario": self.scenario_name}
        if self.seed is not None:
            body["seed"] = self.seed
        if self.profile is not None:
            body["profile"] = self.profile
        created = self.admin("POST", "/sessions", body=body)
        self._session = created["id"]

    def end_session(self) -> None:
        """End this CoderMock's session on the server; one that ended already, such as after sitting idle, is fine."""
        session = self._session
        if session is None:
            return
        try:
            self.admin("DELETE", "/sessions/" + urllib.parse.quote(session, safe=""))
        except AdminRequestFailed as error:
            if error.status != 404:
                raise
        finally:
            self._session = None

    def stop(self) -> None:
        """End the session, then stop serving: wait for the serving thread, close the socket, end open connections.

        A no-op when stopped. An attached server keeps running, and only this
        object lets go of it. When the session cannot be ended because the
        server is unreachable, this raises CoderMockError after letting go.
        """
        try:
            if self._url is not None:
                self.end_session()
        finally:
            self._session = None
            self.stop_server()

    def stop_server(self) -> None:
        server, thread, connections = self._server, self._thread, self._connections
        self._url = None
        self._server = self._thread = self._store = None
        self._connections = weakref.WeakSet()
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join()
        server.server_close()
        # Keep-alive connections have handler threads of their own, which would go on serving them.
        for connection in list(connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                # The handler closed this connection already.
                pass

    def __enter__(self) -> "CoderMock":
        if self._url is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._url or "not running"
        session = "" if self._session is None else f", session={self._session!r}"
        return f"CoderMock({where}, scenario={self.scenario_name!r}{session})"

    # --- Admin API ----------------------------------------------------------------------------

    def admin(self, method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None) -> Any:
        """Send one request to the admin API and return its decoded JSON body.

        `path` is relative to /__admin. Every admin request goes through here,
        with `admin_headers` and the session's `headers` added, so it acts on
        the session when there is one. A response without a body, such as a
        204, returns None. Raise AdminRequestFailed for an error status and
        CoderMockError when the server cannot be reached.
        """
        target = ADMIN_PREFIX + path
        url = self.url + target
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json", **self.admin_headers, **self.headers}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            with error:
                raw = error.read()
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = raw.decode("utf-8", "replace")
            raise AdminRequestFailed(method, target, error.code, decoded) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CoderMockError(f"cannot reach coder-mock at {self.url}: {reason};"
                                 " check that the server is running at that URL.") from None
        return json.loads(payload) if payload else None

    @property
    def scenario(self) -> Scenario:
        """The live scenario, read from the server."""
        return Scenario.from_json(self.admin("GET", "/scenario"))

    def switch(self, scenario: str, seed: int | None = None, profile: str | None = None) -> Scenario:
        """Make `scenario` live at `seed` (None: the scenario's own) and return it.

        A given `profile` stays chosen for later switches, as with the admin API.
        """
        check_choice(scenario, seed, profile)
        body: dict[str, Any] = {"name": scenario}
        if seed is not None:
            body["seed"] = seed
        if profile is not None:
            body["profile"] = profile
        return Scenario.from_json(self.admin("PUT", "/scenario", body=body))

    @contextlib.contextmanager
    def use(self, scenario: str, seed: int | None = None, profile: str | None = None) -> Iterator[Scenario]:
        """Switch to `scenario` for the with block, then switch back to the scenario live before it.

        A failed switch raises and leaves the previous scenario live.
        """
        previous = self.scenario
        switched = self.switch(scenario, seed, profile)
        try:
            yield switched
        finally:
            # NOTE: after a use() with a profile, the previous profile is restored by name, so a scenario
            # file's own profile no longer applies to later switches until reset().
            restore_profile = previous.profile if profile is not None else None
            self.switch(previous.name, previous.seed, restore_profile)

    @contextlib.contextmanager
    def fault(self, operation: str, **rule: Any) -> Iterator[AddedFault]:
        """Add a fault rule for the with block and remove it on exit; yield it as an `AddedFault`.

        The arguments are those of `faults.add()`. The rule is tried after the
        rules set before it. `applied` on the yielded object counts the
        requests it applied to, also after the block. On exit, a rule that a
        switch, reset or change of the rules replaced meanwhile is gone
        already, and nothing is removed.
        """
        listed = self.faults.add_listed(operation, rule)
        added = AddedFault(self.faults, len(listed) - 1, definition_of(listed[-1]))
        self.faults.added.append(added)
        try:
            yield added
        finally:
            self.faults.remove(added)

    def reset(self) -> Scenario:
        """Go back to the scenario, seed and profile of the start, and clear the journal.

        The start is the server's, or the session's for a CoderMock with a
        session. The fault rules go back to the scenario's.

        When the server ended this CoderMock's session, for example after it
        sat idle longer than the server's --session-idle, this creates a new
        session with the same choice and logs a warning. `session`, `headers`
        and `tokens` then belong to the new session.
        """
        try:
            body = self.admin("POST", "/reset")
        except AdminRequestFailed as error:
            if not self.session_gone(error):
                raise
            ended = self._session
            self.renew_session()
            log.warning("coder-mock session %s on %s was ended by the server, so session %s replaces it",
                        ended, self.url, self._session)
            # Reset as usual, so the new session's journal is empty like that of a reset one.
            body = self.admin("POST", "/reset")
        self.journal.clear()
        return Scenario.from_json(body)

    def session_gone(self, error: AdminRequestFailed) -> bool:
        """Return whether `error` is the server's 404 for this CoderMock's own session id."""
        if self._session is None or error.status != 404 or not isinstance(error.body, dict):
            return False
        # Both 404s for a session, that of the request's header and that of the admin API, quote its id.
        return json.dumps(self._session) in str(error.body.get("message", ""))

    def renew_session(self) -> None:
        """Replace this CoderMock's session, which the server ended, with a new one of the same choice.

        On failure, this raises and keeps the ended session's id, so later
        admin requests fail instead of acting on the server's global scope.
        """
        ended = self._session
        self._session = None
        try:
            self.open_session()
        except BaseException:
            self._session = ended
            raise

    @property
    def tokens(self) -> Tokens:
        """The session tokens of the live scenario's users, read when accessed.

        In a session, these are the tokens the session issued, read from
        GET /__admin/sessions. They put a request in the session without the
        session's `headers`.
        """
        if self._session is not None:
            return self.session_tokens()
        if self._store is not None:
            return tokens_of(self._store.active)
        # An attached server without a session: the admin API lists users only for sessions, so the users
        # come from the same scenario files, loaded here.
        # TODO: read the users from the admin API once it lists the global scenario's, so custom folders
        # need not be repeated.
        live = self.scenario
        catalog = load_catalog_for(self.scenarios_dir, self.fixtures_dir)
        if live.name not in catalog.entries:
            raise CoderMockError(f"the users of scenario {live.name!r} are unknown here: pass the server's"
                                 " scenarios_dir and fixtures_dir to CoderMock.attach().")
        return tokens_of(catalog.rendered(live.name, live.seed, live.profile))

    def session_tokens(self) -> Tokens:
        """Read the tokens that the session issued to the users of its live scenario."""
        for listed in self.admin("GET", "/sessions")["sessions"]:
            if listed["id"] == self._session:
                records = [Token(entry["username"], tuple(entry["roles"]), entry["token"], None)
                           for entry in listed["tokens"]]
                return Tokens(listed["scenario"], records, session=self._session)
        raise CoderMockError(f"session {self._session} is no longer listed by the server at {self.url}: it was"
                             " ended or sat idle too long; call stop() and start() for a new session.")

    # --- Assertions ---------------------------------------------------------------------------

    def assert_called(self, method: str, path: str, times: int | None = None, *, status: int | None = None) -> None:
        """Raise AssertionError unless `method` `path` was received `times` times (None: at least once).

        `path` is matched exactly, without a query string. With `status`, only
        responses of that status count. The message lists the near misses and
        every request received since the journal was last cleared.
        """
        if "?" in path:
            raise CoderMockError(f"invalid path {path!r}: give the path without its query string,"
                                 " because the journal matches paths alone.")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
            raise CoderMockError(f"invalid times {times!r}: give a count of 0 or more, or None for at least once.")
        method = method.upper()
        entries = self.journal(include_admin=is_admin_path(path))
        matched = sum(1 for entry in entries
                      if entry["method"] == method and entry["path"] == path
                      and (status is None or entry["status"] == status))
        if (matched >= 1) if times is None else (matched == times):
            return
        raise AssertionError(called_message(method, path, status, times, matched, entries))
