"""The in-process state backend: the default, for one server process."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import replace
from typing import Any

from coder_mock.state.base import (
    JournalStorage,
    SessionChange,
    SessionRecord,
    Selection,
    Snapshot,
    StateBackend,
)


class MemoryJournalStorage(JournalStorage):
    """A deque with a maximum length, so the oldest entry is dropped first."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self._entries: deque[tuple[int, dict[str, Any]]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def append(self, timestamp: int, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append((timestamp, entry))

    def entries(self) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            return list(self._entries)

    def clear(self, session: str | None = None) -> int:
        with self._lock:
            before = len(self._entries)
            if session is None:
                self._entries.clear()
            else:
                kept = [pair for pair in self._entries if pair[1].get("session") != session]
                self._entries = deque(kept, maxlen=self.size)
            return before - len(self._entries)

    def length(self) -> int:
        return len(self._entries)


class MemoryBackend(StateBackend):
    """State in this process's memory. Its only writer is the Store that owns it."""

    shared = False

    def __init__(self) -> None:
        super().__init__("memory")
        self._lock = threading.Lock()
        self._version = 0
        self._selection: Selection | None = None
        self._initial: Selection | None = None
        self._sessions: dict[str, SessionRecord] = {}

    def initialise(self, selection: Selection) -> None:
        with self._lock:
            if self._selection is None:
                self._selection = self._initial = selection
                self._version += 1

    def version(self) -> int:
        return self._version

    def snapshot(self) -> Snapshot:
        with self._lock:
            assert self._selection is not None and self._initial is not None, "initialise() was not called"
            sessions = {key: replace(record, tokens=dict(record.tokens)) for key, record in self._sessions.items()}
            return Snapshot(self._version, self._selection, self._initial, sessions)

    def set_selection(self, selection: Selection) -> int:
        with self._lock:
            self._selection = selection
            self._version += 1
            return self._version

    def add_session(self, record: SessionRecord) -> int:
        with self._lock:
            self._sessions[record.id] = record
            self._version += 1
            return self._version

    def update_session(self, session_id: str, change: SessionChange) -> SessionRecord | None:
        with self._lock:
            current = self._sessions.get(session_id)
            if current is None:
                return None
            updated = change(replace(current, tokens=dict(current.tokens)))
            self._sessions[session_id] = updated
            self._version += 1
            return updated

    def end_session(self, session_id: str) -> bool:
        with self._lock:
            if self._sessions.pop(session_id, None) is None:
                return False
            self._version += 1
            return True

    def touch_session(self, session_id: str, when: float) -> None:
        record = self._sessions.get(session_id)
        if record is not None and when > record.last_used_at:
            record.last_used_at = when

    def end_idle_sessions(self, cutoff: float) -> list[str]:
        with self._lock:
            idle = [key for key, record in self._sessions.items() if record.last_used_at < cutoff]
            for key in idle:
                del self._sessions[key]
            if idle:
                self._version += 1
            return idle

    def journal_storage(self, size: int) -> JournalStorage:
        return MemoryJournalStorage(size)
