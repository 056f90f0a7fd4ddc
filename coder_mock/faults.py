"""Faults and latency for /api/v2 operations: delays, error statuses and broken connections.

Rules come from a scenario's `faults:` list and from the admin API under
/__admin/faults. Each request to a General operation takes the first rule
that matches its operation ID (or `all`), is still active (`count`), and wins
its draw (`probability`). Draws come from one random generator per rule,
seeded from the scenario's seed and the rule's position, so the same
requests meet the same faults on every run.

A delay sleeps in the request's own thread, so other requests go on. A
status fault responds at once with coderd's JSON envelope. A connection fault
needs the HTTP server: the app stores the fault in the WSGI environ under
ENVIRON_KEY and responds as usual, and the server then sends that response
broken. coder-mock's own server does this in
`QuietRequestHandler.send_with_fault`. Other WSGI servers (granian under
`serve --workers`) and Flask's test client send the response unbroken.
"""

from __future__ import annotations

import logging
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from flask import Response, current_app, g, request

from coder_mock.schemas.constants import ALL, DEFAULT_DRIP_BYTES, DEFAULT_DRIP_INTERVAL_NS

if TYPE_CHECKING:
    from coder_mock.rendering import Rendered, Reply
    from coder_mock.store import Store

log = logging.getLogger("coder_mock.faults")

ENVIRON_KEY = "coder_mock.connection_fault"
"""The WSGI environ key under which the app hands a connection fault to the server."""

JSON = "application/json; charset=utf-8"
NANOSECONDS = 1_000_000_000


# --- Rules ----------------------------------------------------------------------------------


def format_duration(nanoseconds: int) -> str:
    """Format a duration as Go's time.Duration.String does, such as "250ms", "1.5s" or "1m30s"."""
    if nanoseconds == 0:
        return "0s"
    if nanoseconds < 1_000:
        return f"{nanoseconds}ns"
    if nanoseconds < 1_000_000:
        return _decimal(nanoseconds, 1_000) + "µs"
    if nanoseconds < NANOSECONDS:
        return _decimal(nanoseconds, 1_000_000) + "ms"
    hours, rest = divmod(nanoseconds, 3600 * NANOSECONDS)
    minutes, rest = divmod(rest, 60 * NANOSECONDS)
    seconds = _decimal(rest, NANOSECONDS) + "s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{minutes}m{seconds}"
    return seconds


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


@dataclass(frozen=True)
class FaultRule:
    """One validated rule; durations are in nanoseconds."""

    operation: str
    delay_min: int | None = None
    delay_max: int | None = None
    status: int | None = None
    message: str | None = None
    detail: str | None = None
    connection: str | None = None
    truncate_at: int | None = None
    drip_bytes: int = DEFAULT_DRIP_BYTES
    drip_interval: int = DEFAULT_DRIP_INTERVAL_NS
    probability: float = 1.0
    count: int | None = None
    # The status fault's response, rendered once when the rule is built.
    reply: Reply | None = field(default=None, compare=False)

    def matches(self, operation_id: str) -> bool:
        return self.operation in (operation_id, ALL)

    def to_json(self) -> dict[str, Any]:
        """Return the rule in the form the admin API and scenario files accept."""
        body: dict[str, Any] = {"operation": self.operation}
        if self.delay_min is not None and self.delay_max is not None:
            if self.delay_min == self.delay_max:
                body["delay"] = format_duration(self.delay_min)
            else:
                body["delay"] = {"min": format_duration(self.delay_min), "max": format_duration(self.delay_max)}
        if self.status is not None:
            body["status"] = self.status
            for key in ("message", "detail"):
                if getattr(self, key) is not None:
                    body[key] = getattr(self, key)
        if self.connection is not None:
            body["connection"] = self.connection
        if self.connection == "truncate" and self.truncate_at is not None:
            body["truncate_at"] = self.truncate_at
        if self.connection == "drip":
            body["drip_bytes"] = self.drip_bytes
            body["drip_interval"] = format_duration(self.drip_interval)
        body["probability"] = self.probability
        if self.count is not None:
            body["count"] = self.count
        return body


def build_rule(spec: dict[str, Any]) -> FaultRule:
    """Build a rule from what `coder_mock.schemas.faults.FaultRule` loaded, rendering its status reply."""
    # rendering imports this module, so override_reply is imported here.
    from coder_mock.rendering import override_reply

    delay = spec.get("delay")
    reply = None
    if "status" in spec:
        reply = override_reply({key: spec[key] for key in ("status", "message", "detail") if key in spec})
    return FaultRule(
        operation=spec["operation"],
        delay_min=delay[0] if delay else None,
        delay_max=delay[1] if delay else None,
        status=spec.get("status"),
        message=spec.get("message"),
        detail=spec.get("detail"),
        connection=spec.get("connection"),
        truncate_at=spec.get("truncate_at"),
        drip_bytes=spec.get("drip_bytes", DEFAULT_DRIP_BYTES),
        drip_interval=spec.get("drip_interval", DEFAULT_DRIP_INTERVAL_NS),
        probability=float(spec.get("probability", 1.0)),
        count=spec.get("count"),
        reply=reply,
    )


def build_rules(specs: Iterable[dict[str, Any]]) -> tuple[FaultRule, ...]:
    return tuple(build_rule(spec) for spec in specs)


@dataclass(frozen=True)
class Fault:
    """A rule applied to one request, with the delay drawn for it."""

    rule: FaultRule
    delay: int

    @property
    def connection(self) -> str | None:
        return self.rule.connection

    def describe(self) -> str:
        """Return the journal's `fault` text, such as "delay 250ms", "status 503" or "delay 1.2s, reset"."""
        parts = []
        if self.rule.delay_max is not None:
            parts.append(f"delay {format_duration(self.delay)}")
        if self.rule.status is not None:
            parts.append(f"status {self.rule.status}")
        if self.rule.connection is not None:
            parts.append(self.rule.connection)
        return ", ".join(parts)


# --- The book of live rules -------------------------------------------------------------------


@dataclass
class _LiveRule:
    rule: FaultRule
    random: random.Random
    applied: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.rule.count is None else self.rule.count - self.applied


def _generator(seed: int, position: int) -> random.Random:
    # A string seed is hashed with SHA-512, so the sequence is the same in every process.
    return random.Random(f"coder-mock faults {seed} {position}")


class FaultBook:
    """The live fault rules of the global state or of one session, with their counters.

    Every method is thread-safe. A replace or clear is atomic: a request gets the
    old rules or the new ones.
    """

    def __init__(self, rules: Sequence[FaultRule] = (), seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.seed = seed
        self._live: list[_LiveRule] = [_LiveRule(rule, _generator(seed, index)) for index, rule in enumerate(rules)]
        self._sessions: dict[str, FaultBook] = {}

    def rules(self) -> tuple[FaultRule, ...]:
        with self._lock:
            return tuple(live.rule for live in self._live)

    def has_rules(self) -> bool:
        """Return whether any rule is set, spent ones included; a fast path must not skip a book with rules."""
        return bool(self._live)

    def states(self) -> list[dict[str, Any]]:
        """Return each rule as JSON with `applied`, and `remaining` for a rule with a count."""
        with self._lock:
            states = []
            for live in self._live:
                state = live.rule.to_json()
                state["applied"] = live.applied
                if live.remaining is not None:
                    state["remaining"] = live.remaining
                states.append(state)
            return states

    def replace(self, rules: Sequence[FaultRule], seed: int | None = None) -> None:
        """Replace every rule, restarting counters and draws; `seed` None keeps the current seed."""
        with self._lock:
            if seed is not None:
                self.seed = seed
            self._live = [_LiveRule(rule, _generator(self.seed, index)) for index, rule in enumerate(rules)]

    def add(self, rule: FaultRule) -> None:
        """Append a rule; it is tried after the existing ones."""
        with self._lock:
            self._live.append(_LiveRule(rule, _generator(self.seed, len(self._live))))

    def clear(self) -> int:
        """Remove every rule and return how many there were."""
        with self._lock:
            cleared = len(self._live)
            self._live = []
            return cleared

    def take(self, operation_id: str) -> Fault | None:
        """Return the fault for one request to `operation_id`, counting it against its rule, or None."""
        if not self._live:
            return None
        with self._lock:
            for live in self._live:
                if not live.rule.matches(operation_id) or live.remaining == 0:
                    continue
                # A rule that always applies draws nothing, so adding one leaves the others' draws unchanged.
                if live.rule.probability < 1 and live.random.random() >= live.rule.probability:
                    continue
                live.applied += 1
                delay = 0
                if live.rule.delay_min is not None and live.rule.delay_max is not None:
                    delay = live.random.randint(live.rule.delay_min, live.rule.delay_max)
                return Fault(live.rule, delay)
        return None

    def for_session(self, session_id: str, rendered: Callable[[], Rendered]) -> FaultBook:
        """Return the book of session `session_id`, starting it from `rendered()`'s rules on first use."""
        with self._lock:
            book = self._sessions.get(session_id)
        if book is not None:
            return book
        scenario = rendered()
        with self._lock:
            return self._sessions.setdefault(session_id, FaultBook(scenario.faults, scenario.world.seed))

    def forget_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


def book_for(store: Store, session_id: str | None) -> FaultBook:
    """Return the fault book for requests of session `session_id`, or the global book for None.

    Raise LookupError when the store has no such session.
    """
    if session_id is None:
        return store.faults
    # NOTE: a session's book starts from its scenario's rules. A switch of that session's
    # scenario must call replace() on this book, as Store.switch does for the global one.
    view = getattr(store, "view", None)
    if view is None:
        return store.faults.for_session(session_id, lambda: store.active)
    return store.faults.for_session(session_id, lambda: view(session_id))


# --- Applying a fault in the app --------------------------------------------------------------


def apply(operation_id: str) -> Response | None:
    """Apply the fault for this request, if any: sleep its delay, then return its status response or None.

    A connection fault is stored in the WSGI environ for the server, and the
    request goes on to its usual response.
    """
    store = current_app.extensions["coder_mock.store"]
    fault = book_for(store, g.get("session")).take(operation_id)
    if fault is None:
        return None
    g.fault = fault.describe()
    log.debug("fault on %s %s: %s", request.method, request.path, g.fault)
    if fault.delay:
        time.sleep(fault.delay / NANOSECONDS)
    if fault.rule.reply is not None:
        return Response(fault.rule.reply.body, status=fault.rule.reply.status, content_type=JSON)
    if fault.connection is not None:
        request.environ[ENVIRON_KEY] = fault
    return None


# --- Breaking a connection ----------------------------------------------------------------------


def reset_connection(sock: socket.socket) -> None:
    """Close `sock` with a TCP RST instead of a FIN: SO_LINGER on with a timeout of 0, then close.

    The descriptor closes only when no file object from `sock.makefile()` is
    still open, so the caller closes those first.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def truncated_length(fault: Fault, body_length: int) -> int:
    """Return how many body bytes a truncate fault sends: `truncate_at`, else half, always fewer than all."""
    wanted = fault.rule.truncate_at if fault.rule.truncate_at is not None else body_length // 2
    return max(0, min(wanted, body_length - 1))


def send_broken(fault: Fault, write: Callable[[bytes], Any], head: bytes, body: bytes) -> bool:
    """Write the response through `write` as the connection fault says, and return whether to close afterwards.

    `reset` and `empty` write nothing, and the caller closes the connection:
    with reset_connection for `reset`. `truncate` writes the
    head, whose Content-Length counts the whole body, then part of the body.
    `drip` writes the head, then the body in pieces of `drip_bytes` with a
    pause of `drip_interval` before each piece, and keeps the connection.
    """
    kind = fault.connection
    if kind in ("reset", "empty"):
        return True
    if kind == "truncate":
        write(head + body[: truncated_length(fault, len(body))])
        return True
    if kind == "drip":
        write(head)
        pause = fault.rule.drip_interval / NANOSECONDS
        for start in range(0, len(body), fault.rule.drip_bytes):
            time.sleep(pause)
            write(body[start : start + fault.rule.drip_bytes])
        return False
    raise ValueError(f"unknown connection fault {kind!r}")
