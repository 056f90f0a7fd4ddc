"""The SQLite state backend: one database file shared by the server processes of one machine.

The file runs in WAL mode, so readers do not wait for the writer, and every
change is one short `BEGIN IMMEDIATE` transaction. Connections are pooled
because the server runs each HTTP connection in its own thread.

NOTE: a process keeps its open connections to a state file that is deleted
while it runs, so it goes on using the deleted file, and processes started
later create a new one. Stop every process before deleting the file.
"""

from __future__ import annotations

import json
import queue
import sqlite3
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from coder_mock.state.base import (
    BackendUnavailable,
    JournalStorage,
    SessionChange,
    SessionRecord,
    Selection,
    Snapshot,
    StateBackend,
    StateMissing,
    start_version,
)

BUSY_TIMEOUT_SECONDS = 10.0
"""How long a write waits for another process's transaction before failing."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, record TEXT NOT NULL, last_used_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT,
    timestamp INTEGER NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_session ON journal (session);
INSERT OR IGNORE INTO meta (key, value) VALUES ('version', '0');
"""


class SqliteBackend(StateBackend):
    """State in a SQLite file at `path`."""

    errors = (sqlite3.Error,)

    def __init__(self, path: Path, spec: str) -> None:
        super().__init__(spec)
        self.path = path
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        try:
            with self.connection() as connection:
                # WAL is a property of the file, so setting it once is enough for every process.
                connection.execute("PRAGMA journal_mode=WAL")
                connection.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
        except sqlite3.Error as error:
            raise BackendUnavailable(
                f"cannot open the state file {spec!r}: {str(error).rstrip('.')};"
                " check that its folder exists and is writable, or fix the --state value."
            ) from None

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None leaves transactions to the explicit BEGIN statements below.
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                     check_same_thread=False)
        # A mock's state need not survive a power loss, and skipping the WAL checkpoints' fsync makes
        # each request's journal write about a fifth cheaper under --workers.
        connection.execute("PRAGMA synchronous=OFF")
        return connection

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = self._pool.get_nowait()
        except queue.Empty:
            connection = self._connect()
        try:
            yield connection
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        self._pool.put(connection)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one write transaction, committed at its end."""
        with self.connection() as connection:
            connection.execute("BEGIN IMMEDIATE")
            yield connection
            connection.execute("COMMIT")

    @staticmethod
    def _bump(connection: sqlite3.Connection) -> int:
        connection.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")
        return int(connection.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])

    def initialise(self, selection: Selection) -> None:
        text = json.dumps(selection.to_json())
        with self.write() as connection:
            connection.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('initial', ?)", (text,))
            inserted = connection.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('selection', ?)",
                                          (text,)).rowcount
            if inserted:
                connection.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(start_version()),))

    def version(self) -> int:
        with self.connection() as connection:
            return int(connection.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])

    def snapshot(self) -> Snapshot:
        with self.connection() as connection:
            # A deferred transaction reads one consistent state of the file.
            connection.execute("BEGIN")
            meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
            rows = connection.execute("SELECT record, last_used_at FROM sessions").fetchall()
            connection.execute("COMMIT")
        if "selection" not in meta or "initial" not in meta:
            raise StateMissing(f"the state file {self.spec!r} has no coder-mock selection")
        sessions = {}
        for text, last_used_at in rows:
            record = replace(SessionRecord.decode(text), last_used_at=last_used_at)
            sessions[record.id] = record
        return Snapshot(int(meta["version"]), Selection.from_json(json.loads(meta["selection"])),
                        Selection.from_json(json.loads(meta["initial"])), sessions)

    def set_selection(self, selection: Selection) -> int:
        with self.write() as connection:
            connection.execute("UPDATE meta SET value = ? WHERE key = 'selection'", (json.dumps(selection.to_json()),))
            return self._bump(connection)

    def add_session(self, record: SessionRecord) -> int:
        with self.write() as connection:
            connection.execute("INSERT INTO sessions (id, record, last_used_at) VALUES (?, ?, ?)",
                               (record.id, record.encode(), record.last_used_at))
            return self._bump(connection)

    def update_session(self, session_id: str, change: SessionChange) -> SessionRecord | None:
        with self.write() as connection:
            row = connection.execute("SELECT record, last_used_at FROM sessions WHERE id = ?",
                                     (session_id,)).fetchone()
            if row is None:
                return None
            updated = change(replace(SessionRecord.decode(row[0]), last_used_at=row[1]))
            connection.execute("UPDATE sessions SET record = ?, last_used_at = ? WHERE id = ?",
                               (updated.encode(), updated.last_used_at, session_id))
            self._bump(connection)
            return updated

    def end_session(self, session_id: str) -> bool:
        with self.write() as connection:
            removed = connection.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount
            if removed:
                self._bump(connection)
            return bool(removed)

    def touch_session(self, session_id: str, when: float) -> None:
        with self.write() as connection:
            connection.execute("UPDATE sessions SET last_used_at = MAX(last_used_at, ?) WHERE id = ?",
                               (when, session_id))

    def end_idle_sessions(self, cutoff: float) -> list[str]:
        with self.write() as connection:
            idle = [row[0] for row in connection.execute("SELECT id FROM sessions WHERE last_used_at < ?", (cutoff,))]
            if idle:
                connection.execute("DELETE FROM sessions WHERE last_used_at < ?", (cutoff,))
                self._bump(connection)
            return idle

    def journal_storage(self, size: int) -> JournalStorage:
        return SqliteJournalStorage(self, size)

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return


# Rows beyond the newest `size` are deleted every TRIM_EVERY inserts rather than at each one, which
# keeps an insert to one statement: this costs about a third of the journal's time per request under
# --workers. Reads take only the newest `size` rows, so the ring looks exact, and the table never contains
# more than `size` + TRIM_EVERY rows.
TRIM_EVERY = 64


class SqliteJournalStorage(JournalStorage):
    """The journal as rows of the `journal` table, of which the newest `size` are the ring."""

    def __init__(self, backend: SqliteBackend, size: int) -> None:
        super().__init__(size)
        self.backend = backend

    def _trim(self, connection: sqlite3.Connection) -> None:
        # The subquery finds the newest row beyond the ring, if any.
        connection.execute(
            "DELETE FROM journal WHERE id <= (SELECT id FROM journal ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (self.size,))

    def append(self, timestamp: int, entry: dict[str, Any]) -> None:
        with self.backend.write() as connection:
            cursor = connection.execute("INSERT INTO journal (session, timestamp, entry) VALUES (?, ?, ?)",
                                        (entry.get("session"), timestamp, json.dumps(entry, separators=(",", ":"))))
            if cursor.lastrowid is not None and cursor.lastrowid % TRIM_EVERY == 0:
                self._trim(connection)

    def entries(self) -> list[tuple[int, dict[str, Any]]]:
        with self.backend.connection() as connection:
            rows = connection.execute(
                "SELECT timestamp, entry FROM (SELECT id, timestamp, entry FROM journal ORDER BY id DESC LIMIT ?)"
                " ORDER BY id", (self.size,)).fetchall()
        return [(timestamp, json.loads(text)) for timestamp, text in rows]

    def clear(self, session: str | None = None) -> int:
        with self.backend.write() as connection:
            # Trimmed first, so the count covers only the entries that reads could see.
            self._trim(connection)
            if session is None:
                return connection.execute("DELETE FROM journal").rowcount
            return connection.execute("DELETE FROM journal WHERE session = ?", (session,)).rowcount

    def length(self) -> int:
        with self.backend.connection() as connection:
            return min(self.size, int(connection.execute("SELECT COUNT(*) FROM journal").fetchone()[0]))
