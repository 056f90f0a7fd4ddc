"""The Redis state backend: one Redis database shared by server replicas on any machines.

Every key starts with `coder-mock:`. Changes that touch several keys run in
MULTI/EXEC transactions or Lua scripts, so other replicas never read half of one.
"""

from __future__ import annotations

import json
from typing import Any

import redis

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

PREFIX = "coder-mock:"
VERSION = PREFIX + "version"
SELECTION = PREFIX + "selection"
INITIAL = PREFIX + "initial"
SESSIONS = PREFIX + "sessions"
"""A hash of session id to SessionRecord JSON."""
SESSION_USED = PREFIX + "session-used"
"""A sorted set of session ids scored by their last use in Unix seconds."""
JOURNAL = PREFIX + "journal"
"""A list of {"timestamp", "session", "entry"} JSON documents, oldest first."""

CONNECT_TIMEOUT_SECONDS = 2.0

END_IDLE_SCRIPT = """
local idle = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for _, id in ipairs(idle) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
if #idle > 0 then redis.call('INCR', KEYS[3]) end
return idle
"""

# The counter starts at ARGV[2], which no process can have cached (see start_version), so that
# after a FLUSHALL every process re-reads the new selection even when it had cached the old counter.
INITIALISE_SCRIPT = """
local created = redis.call('SET', KEYS[2], ARGV[1], 'NX')
redis.call('SET', KEYS[1], ARGV[1], 'NX')
if created then redis.call('SET', KEYS[3], ARGV[2]) end
return created and 1 or 0
"""

CLEAR_SESSION_JOURNAL_SCRIPT = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local kept = {}
for _, item in ipairs(items) do
  if cjson.decode(item).session ~= ARGV[1] then table.insert(kept, item) end
end
redis.call('DEL', KEYS[1])
for start = 1, #kept, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(kept, start, math.min(start + 999, #kept)))
end
return #items - #kept
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisBackend(StateBackend):
    """State in the Redis database that `url` names (redis://HOST:PORT/DB or unix:///path/redis.sock)."""

    errors = (redis.RedisError,)

    def __init__(self, url: str) -> None:
        super().__init__(url)
        try:
            self.client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
            self.client.ping()
        except (redis.RedisError, ValueError) as error:
            raise BackendUnavailable(
                f"cannot reach the Redis state backend {url!r}: {str(error).rstrip('.')};"
                " start Redis there or fix the --state value."
            ) from None
        self._end_idle = self.client.register_script(END_IDLE_SCRIPT)
        self._initialise = self.client.register_script(INITIALISE_SCRIPT)
        self._clear_session_journal = self.client.register_script(CLEAR_SESSION_JOURNAL_SCRIPT)

    def initialise(self, selection: Selection) -> None:
        text = json.dumps(selection.to_json())
        self._initialise(keys=[INITIAL, SELECTION, VERSION], args=[text, start_version()])

    def version(self) -> int:
        return int(self.client.get(VERSION) or 0)

    def snapshot(self) -> Snapshot:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.get(VERSION)
            pipe.get(SELECTION)
            pipe.get(INITIAL)
            pipe.hgetall(SESSIONS)
            pipe.zrange(SESSION_USED, 0, -1, withscores=True)
            version, selection, initial, records, used = pipe.execute()
        if selection is None or initial is None:
            raise StateMissing(f"the Redis database {self.spec!r} has no coder-mock selection")
        last_used = {_text(key): score for key, score in used}
        sessions = {}
        for key, text in records.items():
            record = SessionRecord.decode(text)
            record.last_used_at = last_used.get(_text(key), record.last_used_at)
            sessions[record.id] = record
        return Snapshot(int(version or 0), Selection.from_json(json.loads(selection)),
                        Selection.from_json(json.loads(initial)), sessions)

    def set_selection(self, selection: Selection) -> int:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(SELECTION, json.dumps(selection.to_json()))
            pipe.incr(VERSION)
            return int(pipe.execute()[1])

    def add_session(self, record: SessionRecord) -> int:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(SESSIONS, record.id, record.encode())
            pipe.zadd(SESSION_USED, {record.id: record.last_used_at})
            pipe.incr(VERSION)
            return int(pipe.execute()[2])

    def update_session(self, session_id: str, change: SessionChange) -> SessionRecord | None:
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    # WATCH makes EXEC fail when another client changed the session meanwhile; then retry.
                    pipe.watch(SESSIONS)
                    text = pipe.hget(SESSIONS, session_id)
                    if text is None:
                        pipe.unwatch()
                        return None
                    current = SessionRecord.decode(text)
                    used = pipe.zscore(SESSION_USED, session_id)
                    if used is not None:
                        current.last_used_at = used
                    updated = change(current)
                    pipe.multi()
                    pipe.hset(SESSIONS, session_id, updated.encode())
                    pipe.zadd(SESSION_USED, {session_id: updated.last_used_at})
                    pipe.incr(VERSION)
                    pipe.execute()
                    return updated
                except redis.WatchError:
                    continue

    def end_session(self, session_id: str) -> bool:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hdel(SESSIONS, session_id)
            pipe.zrem(SESSION_USED, session_id)
            # Incremented even when nothing was removed, which only costs the other processes one reload.
            pipe.incr(VERSION)
            removed = pipe.execute()[0]
        return bool(removed)

    def touch_session(self, session_id: str, when: float) -> None:
        # XX and GT: only an existing session, and never backwards in time. GT needs Redis 6.2 or newer.
        self.client.zadd(SESSION_USED, {session_id: when}, xx=True, gt=True)

    def end_idle_sessions(self, cutoff: float) -> list[str]:
        removed = self._end_idle(keys=[SESSION_USED, SESSIONS, VERSION], args=[repr(cutoff)])
        return [_text(key) for key in removed]

    def journal_storage(self, size: int) -> JournalStorage:
        return RedisJournalStorage(self, size)

    def close(self) -> None:
        self.client.close()


class RedisJournalStorage(JournalStorage):
    """The journal as a Redis list, trimmed to `size` items by each push."""

    def __init__(self, backend: RedisBackend, size: int) -> None:
        super().__init__(size)
        self.client = backend.client
        self.backend = backend

    def append(self, timestamp: int, entry: dict[str, Any]) -> None:
        item = json.dumps({"timestamp": timestamp, "session": entry.get("session"), "entry": entry},
                          separators=(",", ":"))
        with self.client.pipeline(transaction=True) as pipe:
            pipe.rpush(JOURNAL, item)
            pipe.ltrim(JOURNAL, -self.size, -1)
            pipe.execute()

    def entries(self) -> list[tuple[int, dict[str, Any]]]:
        items = [json.loads(item) for item in self.client.lrange(JOURNAL, 0, -1)]
        return [(item["timestamp"], item["entry"]) for item in items]

    def clear(self, session: str | None = None) -> int:
        if session is None:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.llen(JOURNAL)
                pipe.delete(JOURNAL)
                return int(pipe.execute()[0])
        return int(self.backend._clear_session_journal(keys=[JOURNAL], args=[session]))

    def length(self) -> int:
        return int(self.client.llen(JOURNAL))
