"""The records every state backend stores, and the interface the backends implement.

A backend stores three things: the scenario selection of the global scope
(plus the one it started with, for POST /__admin/reset), the sessions, and
the request journal. Every change to the selections or the sessions increments
one version counter, so a process that caches what it rendered needs to read
only that counter per request to know whether its cache is current.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable


class BackendUnavailable(RuntimeError):
    """A state backend that cannot be opened or reached; the message names the --state value and the fix."""


class StateMissing(LookupError):
    """A backend whose selections were deleted while servers ran, such as by FLUSHDB on Redis."""


def start_version() -> int:
    """Return the version counter's value for a backend whose selection is being created.

    The counter restarts when the state is deleted while processes run (FLUSHALL
    on Redis), and a process compares only the counter with the one it cached.
    Starting at the current time in nanoseconds makes the new values differ from
    any counter cached before the deletion, which was started earlier and has
    grown by one per change, far fewer than the nanoseconds passed since.
    NOTE: this relies on the clocks of the processes on one backend not going
    backwards by more than the time between the two starts.
    """
    return time.time_ns()


@dataclass(frozen=True)
class Selection:
    """A scenario choice: its name, the seed asked for and the profile chosen (None: the scenario's own)."""

    name: str
    seed: int | None = None
    profile: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "profile": self.profile}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Selection":
        return cls(data["name"], data["seed"], data["profile"])


@dataclass
class SessionRecord:
    """One session as a backend stores it. Times are Unix seconds.

    `tokens` maps each session token to the username it signs in as, in the
    order the tokens were issued.
    """

    id: str
    selection: Selection
    initial: Selection
    created_at: float
    last_used_at: float
    tokens: dict[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        return json.dumps({
            "id": self.id,
            "selection": self.selection.to_json(),
            "initial": self.initial.to_json(),
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "tokens": self.tokens,
        }, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | bytes) -> "SessionRecord":
        data = json.loads(text)
        return cls(data["id"], Selection.from_json(data["selection"]), Selection.from_json(data["initial"]),
                   data["created_at"], data["last_used_at"], data["tokens"])


@dataclass(frozen=True)
class Snapshot:
    """Everything but the journal, read in one consistent step."""

    version: int
    selection: Selection
    initial: Selection
    sessions: dict[str, SessionRecord]


SessionChange = Callable[[SessionRecord], SessionRecord]


class JournalStorage(ABC):
    """The storage of a journal: a ring of at most `size` entries, oldest first."""

    def __init__(self, size: int) -> None:
        self.size = size

    @abstractmethod
    def append(self, timestamp: int, entry: dict[str, Any]) -> None:
        """Add an entry, dropping the oldest ones beyond `size`."""

    @abstractmethod
    def entries(self) -> list[tuple[int, dict[str, Any]]]:
        """Return every (timestamp in microseconds, entry) pair, oldest first."""

    @abstractmethod
    def clear(self, session: str | None = None) -> int:
        """Remove every entry, or only those of `session`, and return how many were removed."""

    @abstractmethod
    def length(self) -> int:
        """Return how many entries are kept."""


class StateBackend(ABC):
    """The store of selections, sessions and the journal that one or more server processes share."""

    shared: bool = True
    """False only for the in-process memory backend, whose one Store is the only writer."""

    errors: tuple[type[Exception], ...] = ()
    """The exceptions that the backend's client raises when the backend fails while servers run."""

    def __init__(self, spec: str) -> None:
        self.spec = spec

    @abstractmethod
    def initialise(self, selection: Selection) -> None:
        """Make `selection` the starting and the live global selection, unless the backend already has one."""

    @abstractmethod
    def version(self) -> int:
        """Return the counter that every change to the selections or the sessions increments."""

    @abstractmethod
    def snapshot(self) -> Snapshot:
        """Read the version, the selections and every session in one consistent step."""

    @abstractmethod
    def set_selection(self, selection: Selection) -> int:
        """Make `selection` the live global selection and return the new version."""

    @abstractmethod
    def add_session(self, record: SessionRecord) -> int:
        """Store a new session and return the new version."""

    @abstractmethod
    def update_session(self, session_id: str, change: SessionChange) -> SessionRecord | None:
        """Replace a session by `change(current)` in one step; return None when the session does not exist."""

    @abstractmethod
    def end_session(self, session_id: str) -> bool:
        """Remove a session; return whether it existed."""

    @abstractmethod
    def touch_session(self, session_id: str, when: float) -> None:
        """Record that the session served a request at `when`, without changing the version."""

    @abstractmethod
    def end_idle_sessions(self, cutoff: float) -> list[str]:
        """Remove the sessions last used before `cutoff` and return their ids."""

    @abstractmethod
    def journal_storage(self, size: int) -> JournalStorage:
        """Return the journal's storage, a ring of `size` entries."""

    def close(self) -> None:
        """Release connections; the stored state stays for other processes."""
