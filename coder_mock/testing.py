"""Run coder-mock inside a test process and drive it through its admin API.

`CoderMock` starts the server in a background thread on a free port of
127.0.0.1, or attaches to a server that is already running. Every change and
query after the start goes through the admin HTTP API under /__admin/, so an
attached server and an owned one behave the same. `CoderMock.admin` is the
only method that sends admin requests.

    with CoderMock(scenario="outdated") as mock:
        response = urllib.request.urlopen(mock.url + "/api/v2/updatecheck")
        mock.assert_called("GET", "/api/v2/updatecheck", times=1)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import functools
import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from werkzeug.serving import BaseWSGIServer

from coder_mock.app import create_app
from coder_mock.catalog import Catalog, load_catalog
from coder_mock.differences import PROFILES
from coder_mock.documents import FileProblem
from coder_mock.journal import DEFAULT_SIZE
from coder_mock.rendering import Rendered
from coder_mock.schemas.fields import INT64_MAX, INT64_MIN
from coder_mock.server import ListenError, create_server, listen
from coder_mock.store import Store

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
    """One session token of a scenario user."""

    username: str
    roles: tuple[str, ...]
    token: str
    expired: bool


class Tokens:
    """The session tokens of the live scenario's users.

    `owner` is the first unexpired token of the first user with the owner
    role, `member` that of the first user without it, and `expired` the first
    expired token. `tokens["alice"]` and `tokens.alice` give the first
    unexpired token of the user named alice.
    """

    def __init__(self, scenario: str, records: Iterable[Token]) -> None:
        self.scenario = scenario
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
        return f"Tokens(scenario={self.scenario!r}, users={self.usernames()!r})"


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
        entries = self.mock.admin("GET", "/requests", query=query)["requests"]
        if not keep_admin:
            entries = [entry for entry in entries if not is_admin_path(entry["path"])]
            if limit is not None:
                entries = entries[-limit:]
        return entries

    def count(self, **filters: Any) -> int:
        """Return how many entries match the filters, which are those of a journal query."""
        return len(self(**filters))

    def clear(self) -> int:
        """Remove every entry and return how many there were."""
        return self.mock.admin("DELETE", "/requests")["cleared"]


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


class CoderMock:
    """A coder-mock server for one test process, driven through the admin API.

    Use it as a context manager, or call start() and stop(). `url` is the base
    URL (such as http://127.0.0.1:40123), `tokens` the live scenario's
    session tokens and `journal` the request journal.
    """

    def __init__(self, scenario: str = "default", seed: int | None = None, profile: str | None = None, *,
                 scenarios_dir: PathList = (), fixtures_dir: PathList = (),
                 journal_size: int = DEFAULT_SIZE, port: int = 0) -> None:
        check_choice(scenario, seed, profile)
        if isinstance(journal_size, bool) or not isinstance(journal_size, int) or journal_size < 1:
            raise CoderMockError(f"invalid journal_size {journal_size!r}: give a positive number of entries,"
                                 " because assert_called and the journal need recorded requests.")
        self.scenario_name = scenario
        self.seed = seed
        self.profile = profile
        self.scenarios_dir = tuple(scenarios_dir)
        self.fixtures_dir = tuple(fixtures_dir)
        self.journal_size = journal_size
        self.port = port
        self.journal = Journal(self)
        self.admin_headers: dict[str, str] = {}
        self._url: str | None = None
        self._store: Store | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._attached = False
        # Proxies from the environment are ignored, because the server is always reached directly.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def attach(cls, url: str, *, scenarios_dir: PathList = (), fixtures_dir: PathList = ()) -> "CoderMock":
        """Return a CoderMock for a coder-mock server already running at `url`; stop() leaves it running.

        The folders are those the server was started with. They are read only
        for `tokens`, because the admin API does not list the users.
        """
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise CoderMockError(f"invalid url {url!r}: give the server's base URL, such as http://127.0.0.1:3000.")
        mock = cls(scenarios_dir=scenarios_dir, fixtures_dir=fixtures_dir)
        mock._url = f"{parsed.scheme}://{parsed.netloc}{parsed.path.rstrip('/')}"
        mock._attached = True
        mock.admin("GET", "/health")
        return mock

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

    def start(self) -> "CoderMock":
        """Load the scenarios and serve them on 127.0.0.1 in a daemon thread; return self."""
        if self._url is not None:
            raise CoderMockError(f"coder-mock is already running at {self._url}; call stop() before start().")
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
        return self

    def stop(self) -> None:
        """Stop serving, wait for the serving thread, close the listening socket and end open connections.

        A no-op when stopped. An attached server keeps running, and only this
        object lets go of it.
        """
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
        return f"CoderMock({where}, scenario={self.scenario_name!r})"

    # --- Admin API ----------------------------------------------------------------------------

    def admin(self, method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None) -> Any:
        """Send one request to the admin API and return its decoded JSON body.

        `path` is relative to /__admin. Every admin request goes through here,
        with `admin_headers` added. Raise AdminRequestFailed for an error
        status and CoderMockError when the server cannot be reached.
        """
        target = ADMIN_PREFIX + path
        url = self.url + target
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json", **self.admin_headers}
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
        return json.loads(payload)

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

    def reset(self) -> Scenario:
        """Go back to the scenario, seed and profile the server started with, and clear the journal."""
        body = self.admin("POST", "/reset")
        self.journal.clear()
        return Scenario.from_json(body)

    @property
    def tokens(self) -> Tokens:
        """The session tokens of the live scenario's users, read when accessed."""
        if self._store is not None:
            return tokens_of(self._store.active)
        # An attached server: the users come from the same scenario files, loaded here.
        # TODO: read the users from the admin API once it lists them, so custom folders need not be repeated.
        live = self.scenario
        catalog = load_catalog_for(self.scenarios_dir, self.fixtures_dir)
        if live.name not in catalog.entries:
            raise CoderMockError(f"the users of scenario {live.name!r} are unknown here: pass the server's"
                                 " scenarios_dir and fixtures_dir to CoderMock.attach().")
        return tokens_of(catalog.rendered(live.name, live.seed, live.profile))

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
