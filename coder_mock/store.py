"""The server's live state: the global scenario, the sessions, and the request journal.

The state itself lives in a backend (`coder_mock.state`); the Store keeps
this process's rendered views of it. Request handlers read `Store.active`,
or `Store.view(session_id)`, once and use that snapshot for the whole
request, so a switch in flight is seen entirely or not at all. A change is
rendered before it is written, so a failed switch leaves the previous
scenario live.

With a shared backend (SQLite, Redis), each change increments a version
counter in the backend. `refresh` compares that counter with the one this
process last read, and re-reads the selections and the sessions only when
another process changed them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable

from coder_mock.catalog import Catalog
from coder_mock.documents import FileProblem
from coder_mock.faults import FaultBook
from coder_mock.journal import DEFAULT_SIZE, Journal, check_size, format_time
from coder_mock.rendering import Rendered
from coder_mock.state import (JournalStorage, MemoryBackend, SessionRecord, Selection, Snapshot, StateBackend,
                              StateMissing)
from coder_mock.state.sessions import issue_tokens, listed_tokens, with_session_tokens

log = logging.getLogger("coder_mock.store")

DEFAULT_SESSION_IDLE = 1800.0
"""Seconds a session may go without a request before it is ended."""

TOUCH_INTERVAL = 1.0
"""Seconds between two writes of a session's last use to a shared backend."""


class UnknownScenario(LookupError):
    """A scenario name that the catalog does not have."""


class UnknownSession(LookupError):
    """A session id that names no live session: it never existed, was ended, or sat idle too long."""

    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.session_id = session_id


@dataclass
class LiveSession:
    """This process's view of one session: its record and its scenario with the session tokens."""

    record: SessionRecord
    rendered: Rendered
    touched_at: float


class Store:
    """The catalog of scenarios, the global and per-session live scenarios, and the journal of recent requests.

    With a shared backend, `Store(...)` returns a `SharedStore`, whose `active`
    checks the backend's version on every read.
    """

    def __new__(cls, *args: Any, state: StateBackend | None = None, **kwargs: Any) -> "Store":
        if cls is Store and state is not None and state.shared:
            cls = SharedStore
        return super().__new__(cls)

    def __init__(self, catalog: Catalog, scenario: str = "default", seed: int | None = None,
                 profile: str | None = None, journal_size: int = DEFAULT_SIZE, *,
                 state: StateBackend | None = None, session_idle: float = DEFAULT_SESSION_IDLE,
                 journal_storage: JournalStorage | None = None) -> None:
        self.catalog = catalog
        self.state = state if state is not None else MemoryBackend()
        self.shared = self.state.shared
        check_size(journal_size)
        # `journal_storage` replaces the backend's journal, such as the worker rings of `serve --workers`.
        if journal_storage is None:
            journal_storage = self.state.journal_storage(journal_size)
        self.journal = Journal(journal_size, journal_storage)
        self.instance_id = str(uuid.uuid4())
        self.session_idle = session_idle
        self._touch_interval = min(TOUCH_INTERVAL, session_idle / 4)
        self._lock = threading.RLock()
        self._version = -1
        self._sessions: dict[str, LiveSession] = {}
        self._tokens: dict[str, str] = {}
        self._next_sweep = 0.0
        # Fault rules stay in this process; _apply fills the global book from the live scenario.
        self.faults = FaultBook()

        requested = self._requested = Selection(scenario, seed, profile)
        self.active: Rendered = self._render(requested)
        self.state.initialise(requested)
        snapshot = self._read()
        # A backend that serves a scenario this process lacks raises UnknownScenario here, at start.
        self._render(snapshot.selection)
        if snapshot.initial != requested:
            log.warning("state %s was started with scenario %s (seed %s, profile %s); this process joins it,"
                        " and POST /__admin/reset goes back to that", self.state.spec, snapshot.initial.name,
                        snapshot.initial.seed, snapshot.initial.profile)
        self._apply(snapshot)

    # Reading the state.

    def _render(self, selection: Selection, catalog: Catalog | None = None) -> Rendered:
        catalog = self.catalog if catalog is None else catalog
        if selection.name not in catalog.entries:
            raise UnknownScenario(selection.name)
        return catalog.rendered(selection.name, selection.seed, selection.profile)

    def _apply(self, snapshot: Snapshot) -> None:
        """Make this process's views match `snapshot`, rendering only what changed."""
        with self._lock:
            if snapshot.selection != getattr(self, "_selection", None):
                try:
                    self.active = self._render(snapshot.selection)
                except UnknownScenario:
                    log.error("another process switched to scenario %s, which this process did not load;"
                              " start every process with the same --scenarios-dir", snapshot.selection.name)
                else:
                    self._selection = snapshot.selection
                    self.faults.replace(self.active.faults, self.active.world.seed)
            # A profile chosen on the command line or through the admin API wins
            # over the one a scenario file names, and stays for later switches.
            self.profile = snapshot.selection.profile
            self.initial = (snapshot.initial.name, snapshot.initial.seed, snapshot.initial.profile)
            self._initial = snapshot.initial

            sessions: dict[str, LiveSession] = {}
            for session_id, record in snapshot.sessions.items():
                previous = self._sessions.get(session_id)
                touched_at = max(record.last_used_at, previous.touched_at if previous else 0.0)
                if previous is not None and (previous.record.selection, previous.record.tokens) == (
                        record.selection, record.tokens):
                    sessions[session_id] = LiveSession(record, previous.rendered, touched_at)
                    continue
                try:
                    rendered = with_session_tokens(self._render(record.selection), record.tokens)
                except UnknownScenario:
                    log.error("session %s serves scenario %s, which this process did not load;"
                              " start every process with the same --scenarios-dir", session_id,
                              record.selection.name)
                    continue
                sessions[session_id] = LiveSession(record, rendered, touched_at)
            for session_id, live in self._sessions.items():
                # An ended or switched session starts its fault rules again from its scenario.
                record = snapshot.sessions.get(session_id)
                if record is None or record.selection != live.record.selection:
                    self.faults.forget_session(session_id)
            self._sessions = sessions
            self._tokens = {token: session_id for session_id, live in sessions.items() for token in live.record.tokens}
            self._version = snapshot.version

    def cached_active(self) -> Rendered:
        """Return the global live scenario as this process last read it, without reading the backend."""
        return self.active

    def refresh(self) -> None:
        """Re-read the state when another process changed it since this one last read it."""
        if self.shared and self.state.version() != self._version:
            self._reload()

    def _reload(self) -> None:
        # Reading inside the lock keeps two threads from applying their snapshots out of order.
        with self._lock:
            self._apply(self._read())

    def _read(self) -> Snapshot:
        """Read the backend's state, starting it again from this process's arguments if it was deleted."""
        try:
            return self.state.snapshot()
        except StateMissing as error:
            log.warning("%s; starting it again with scenario %s", error, self._requested.name)
            self.state.initialise(self._requested)
            return self.state.snapshot()

    def has_sessions(self) -> bool:
        """Return whether any session exists, which takes every request off the fast path."""
        self.refresh()
        return bool(self._sessions)

    def session_for_token(self, token: str) -> str | None:
        """Return the id of the session that issued `token`, or None."""
        return self._tokens.get(token)

    def view(self, session_id: str | None) -> Rendered:
        """Return the live scenario of a session, or the global one for None; raise UnknownSession.

        Each call counts as a use of the session, which keeps it from being ended as idle.
        """
        if session_id is None:
            return self.active
        self.refresh()
        return self._session_view(session_id)

    def resolve(self, named: str | None, read_token: Callable[[], str] | None) -> tuple[str | None, Rendered]:
        """Return the session a request belongs to (or None) and the scenario to serve it; raise UnknownSession.

        `named` is the Coder-Mock-Session header's value, which wins. Otherwise
        `read_token` returns the request's token, and a token that a session
        issued selects that session. The backend's version is read once.
        """
        if self.shared:
            self.refresh()
            active = self._active
        else:
            active = self.active
        if named:
            return named, self._session_view(named)
        if not self._sessions:
            return None, active
        if time.time() >= self._next_sweep:
            self.end_idle_sessions()
        session_id = self._tokens.get(read_token()) if read_token is not None else None
        if session_id is None:
            return None, active
        return session_id, self._session_view(session_id)

    def _session_view(self, session_id: str) -> Rendered:
        live = self._sessions.get(session_id)
        now = time.time()
        if live is not None and now - live.touched_at > self.session_idle:
            self.end_idle_sessions()
            live = self._sessions.get(session_id)
        if live is None:
            raise UnknownSession(session_id)
        if not self.shared:
            self.state.touch_session(session_id, now)
        elif now - live.touched_at >= self._touch_interval:
            self.state.touch_session(session_id, now)
        live.touched_at = now
        return live.rendered

    # Changing the state.

    def switch(self, name: str, seed: int | None = None, profile: str | None = None,
               session: str | None = None) -> Rendered:
        """Make `name` at `seed` live in the global scope or in `session`, and return it.

        `profile` changes the profile for this and later switches in that scope;
        None keeps the current choice. Raise UnknownScenario for an unknown name
        and UnknownSession for an unknown session.
        """
        if session is not None:
            return self._switch_session(session, name, seed, profile)
        with self._lock:
            self.refresh()
            chosen = self.profile if profile is None else profile
            return self._set_global(Selection(name, seed, chosen))

    def reset(self, session: str | None = None) -> Rendered:
        """Go back to the scenario, seed and profile that the global scope or `session` started with.

        The journal keeps its entries; DELETE /__admin/requests clears it.
        """
        if session is not None:
            record = self._live(session).record
            return self._switch_session(session, record.initial.name, record.initial.seed, record.initial.profile,
                                        keep_profile=False)
        with self._lock:
            self.refresh()
            return self._set_global(self._initial)

    def _set_global(self, selection: Selection) -> Rendered:
        with self._lock:
            rendered = self._render(selection)
            previous = self.active
            self.state.set_selection(selection)
            self._reload()
            # A switch or reset restarts the rules even when the selection is unchanged.
            self.faults.replace(rendered.faults, rendered.world.seed)
        log.info("scenario switched from %s (seed %d, %s) to %s (seed %d, %s)",
                 previous.name, previous.world.seed, previous.profile,
                 rendered.name, rendered.world.seed, rendered.profile)
        return rendered

    def _live(self, session_id: str) -> LiveSession:
        self.refresh()
        live = self._sessions.get(session_id)
        if live is None:
            raise UnknownSession(session_id)
        return live

    def _switch_session(self, session_id: str, name: str, seed: int | None, profile: str | None,
                        keep_profile: bool = True) -> Rendered:
        with self._lock:
            live = self._live(session_id)
            chosen = live.record.selection.profile if profile is None and keep_profile else profile
            selection = Selection(name, seed, chosen)
            rendered = self._render(selection)
            taken = {token.split("-", 1)[0] for token in self._tokens}

            def change(record: SessionRecord) -> SessionRecord:
                tokens = issue_tokens(rendered, record.tokens, set(taken))
                return replace(record, selection=selection, tokens=tokens, last_used_at=time.time())

            updated = self.state.update_session(session_id, change)
            if updated is None:
                raise UnknownSession(session_id)
            self._reload()
            self.faults.forget_session(session_id)
        log.info("session %s switched to %s (seed %d, %s)", session_id, rendered.name, rendered.world.seed,
                 rendered.profile)
        return self._live(session_id).rendered

    def create_session(self, name: str, seed: int | None = None, profile: str | None = None) -> dict[str, Any]:
        """Start a session serving `name` and return its description; raise UnknownScenario."""
        selection = Selection(name, seed, profile)
        rendered = self._render(selection)
        self.end_idle_sessions()
        with self._lock:
            taken = {token.split("-", 1)[0] for token in self._tokens}
            now = time.time()
            # NOTE: the number of sessions is not capped. Each costs one rendering per process
            # when its seed or profile differs from every other live selection.
            record = SessionRecord(str(uuid.uuid4()), selection, selection, now, now,
                                   issue_tokens(rendered, {}, taken))
            self.state.add_session(record)
            self._reload()
        log.info("session %s started with scenario %s (seed %d, %s)", record.id, rendered.name,
                 rendered.world.seed, rendered.profile)
        return self.describe_session(record.id)

    def end_session(self, session_id: str) -> bool:
        """End a session; return whether it existed."""
        with self._lock:
            ended = self.state.end_session(session_id)
            self._reload()
        if ended:
            log.info("session %s ended", session_id)
        return ended

    def end_idle_sessions(self) -> list[str]:
        """End the sessions idle longer than `session_idle` seconds and return their ids."""
        now = time.time()
        with self._lock:
            ended = self.state.end_idle_sessions(now - self.session_idle)
            self._next_sweep = now + min(self.session_idle / 2, 60.0)
            if ended:
                self._reload()
        for session_id in ended:
            log.info("session %s ended after %g s without requests", session_id, self.session_idle)
        return ended

    # Describing sessions.

    def describe_session(self, session_id: str) -> dict[str, Any]:
        """Return the admin API's description of a session; raise UnknownSession."""
        live = self._live(session_id)
        return self._describe(live)

    def _describe(self, live: LiveSession) -> dict[str, Any]:
        rendered = live.rendered
        return {
            "id": live.record.id,
            "scenario": rendered.name,
            "seed": rendered.world.seed,
            "profile": rendered.profile,
            "created_at": format_time(dt.datetime.fromtimestamp(live.record.created_at, dt.timezone.utc)),
            "last_used_at": format_time(dt.datetime.fromtimestamp(max(live.record.last_used_at, live.touched_at),
                                                                  dt.timezone.utc)),
            "tokens": listed_tokens(rendered, live.record.tokens),
        }

    def list_sessions(self) -> list[dict[str, Any]]:
        """Return every live session's description, oldest first, after ending the idle ones."""
        self.end_idle_sessions()
        with self._lock:
            self._reload()
            live = sorted(self._sessions.values(), key=lambda session: (session.record.created_at, session.record.id))
        return [self._describe(session) for session in live]

    def replace_catalog(self, catalog: Catalog) -> Rendered:
        """Serve from `catalog` from now on, with the global and every session's scenario rendered from it.

        A selection keeps its seed, unless it used the scenario's own seed,
        which then follows the new file. A scenario that `catalog` lacks stays
        live until the next switch. Everything is rendered before anything
        changes: when the global scenario is broken in `catalog`, this raises
        FileProblem and changes nothing. With a shared backend, every process
        replaces its own catalog. Return the global live scenario.
        """
        with self._lock:
            snapshot = self._read()
            previous = self.active
            active = self._rerendered(snapshot.selection, catalog) or previous
            sessions = {}
            for session_id, record in snapshot.sessions.items():
                live = self._sessions.get(session_id)
                try:
                    rendered = self._rerendered(record.selection, catalog)
                except FileProblem:
                    # A session's scenario that an edit broke keeps its previous version.
                    rendered = None
                if rendered is not None:
                    sessions[session_id] = LiveSession(record, with_session_tokens(rendered, record.tokens),
                                                       live.touched_at if live else record.last_used_at)
                elif live is not None:
                    sessions[session_id] = live
            self.catalog = catalog
            self.active = active
            self._selection = snapshot.selection
            self._sessions = sessions
            self._tokens = {token: key for key, live in sessions.items() for token in live.record.tokens}
            self._version = snapshot.version
            if active is not previous:
                # Rules added through the admin API stay until the live scenario's file changes.
                self.faults.replace(active.faults, active.world.seed)
        log.info("catalog replaced; %d sessions re-rendered", len(sessions))
        return active

    def _rerendered(self, selection: Selection, catalog: Catalog) -> Rendered | None:
        """Render `selection` from `catalog`; return None when `catalog` lacks the scenario.

        Raise FileProblem when the scenario is broken in `catalog`.
        """
        if selection.name in catalog.entries:
            return catalog.rendered(selection.name, selection.seed, selection.profile)
        if selection.name in catalog.rejected:
            raise FileProblem(catalog.rejected[selection.name])
        log.warning("scenario %s was removed from the scenario folders; it stays live until the next switch",
                    selection.name)
        return None

    def close(self) -> None:
        """Release the backend's connections, and stop a journal storage that has a close method."""
        close_journal = getattr(self.journal.storage, "close", None)
        if close_journal is not None:
            close_journal()
        self.state.close()


class SharedStore(Store):
    """A Store on a backend that other processes change too, so `active` checks the backend's version."""

    @property  # type: ignore[override]
    def active(self) -> Rendered:
        self.refresh()
        return self._active

    @active.setter
    def active(self, rendered: Rendered) -> None:
        self._active = rendered

    def cached_active(self) -> Rendered:
        return self._active
