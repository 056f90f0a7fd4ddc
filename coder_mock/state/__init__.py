"""State backends, which store the scenario selections, the sessions and the request journal.

`open_backend` turns a `--state` value into a backend:

- `memory`: this process only (the default);
- `sqlite:PATH`: a SQLite file shared by the processes of one machine;
- `redis://HOST:PORT/DB` or `unix:///path/redis.sock`: a Redis database
  shared by replicas on any machines.
"""

from __future__ import annotations

from pathlib import Path

from coder_mock.state.base import (
    BackendUnavailable,
    JournalStorage,
    SessionRecord,
    Selection,
    Snapshot,
    StateBackend,
    StateMissing,
)
from coder_mock.state.memory import MemoryBackend, MemoryJournalStorage

__all__ = [
    "BackendUnavailable",
    "InvalidStateSpec",
    "JournalStorage",
    "MemoryBackend",
    "MemoryJournalStorage",
    "SessionRecord",
    "Selection",
    "Snapshot",
    "StateBackend",
    "StateMissing",
    "check_spec",
    "open_backend",
]

STATE_FORMS = "memory, sqlite:PATH, redis://HOST:PORT/DB or unix:///path/redis.sock"


class InvalidStateSpec(ValueError):
    """A --state value of no known form; the message names it and the forms."""


def check_spec(spec: str) -> str:
    """Return `spec` when it has one of the --state forms; raise InvalidStateSpec otherwise."""
    if spec == "memory":
        return spec
    if spec.startswith("sqlite:"):
        if not spec[len("sqlite:"):]:
            raise InvalidStateSpec(f"invalid --state value {spec!r}: give the database file after sqlite:,"
                                   " such as sqlite:/tmp/coder-mock.db")
        return spec
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return spec
    raise InvalidStateSpec(f"invalid --state value {spec!r}: use {STATE_FORMS}")


def open_backend(spec: str) -> StateBackend:
    """Open the backend that `spec` names; raise BackendUnavailable when it cannot be opened or reached."""
    check_spec(spec)
    if spec == "memory":
        return MemoryBackend()
    if spec.startswith("sqlite:"):
        from coder_mock.state.sqlite import SqliteBackend

        return SqliteBackend(Path(spec[len("sqlite:"):]), spec)
    # redis-py is imported only when Redis is used, so the other backends start without it.
    from coder_mock.state.redis_backend import RedisBackend

    return RedisBackend(spec)
