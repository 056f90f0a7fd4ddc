"""Responses for a state backend that fails while the server runs, such as a stopped redis-server.

Every request then gets a 500 in coderd's envelope whose message names the
backend and the fix, and the failure is logged once, not with a traceback per
request. The next request after the backend is back is served as usual,
because the Store reads the backend again on every request.

NOTE: a backend that fails after a Flask request has been served, at its
journal write in the after_request hook, gets Flask's generic 500 and a
traceback in the log instead.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterable

from flask import Flask, Response, g, request

from coder_mock import gojson
from coder_mock.store import Store
from coder_mock.wire import error_body

log = logging.getLogger("coder_mock.state")

JSON = "application/json; charset=utf-8"
# Set in the WSGI environ, and in Flask's `g`, when a request failed on the backend.
ENVIRON_KEY = "coder_mock.state_lost"
G_FLAG = "state_lost"


def failure_body(store: Store, error: Exception) -> dict[str, str]:
    """Return the envelope for a request that failed because the backend raised `error`."""
    message = (f"The state backend {store.state.spec} failed. Start it again, and coder-mock serves the next"
               " request from it, or restart coder-mock with a working --state value.")
    return error_body(message, f"{type(error).__name__}: {error}")


class BackendMonitor:
    """Log the backend's failure once, and its recovery once, for one process."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.failing = False
        self._lock = threading.Lock()

    def failed(self, error: Exception) -> None:
        with self._lock:
            if self.failing:
                return
            self.failing = True
        log.error("state backend %s failed: %s: %s; requests get 500 until it is back", self.store.state.spec,
                  type(error).__name__, str(error).rstrip("."))

    def served(self) -> None:
        if not self.failing:
            return
        with self._lock:
            if not self.failing:
                return
            self.failing = False
        log.info("state backend %s is back; serving requests again", self.store.state.spec)


class BackendGuard:
    """WSGI middleware that sends the envelope when the backend fails outside Flask's dispatch (the fast path)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], store: Store, monitor: BackendMonitor) -> None:
        self.app = app
        self.store = store
        self.monitor = monitor

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            started[:] = [(status, headers)]
            return lambda data: None

        # The apps below build their whole body before returning, so the status is sent only once
        # the request has either succeeded or failed on the backend.
        try:
            iterable = self.app(environ, keep)
            try:
                body = list(iterable)
            finally:
                close = getattr(iterable, "close", None)
                if close is not None:
                    close()
        except self.store.state.errors as error:
            self.monitor.failed(error)
            payload = gojson.encode(failure_body(self.store, error))
            start_response("500 Internal Server Error", [
                ("Content-Type", JSON),
                ("X-Coder-Build-Version", self.store.cached_active().version),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Length", str(len(payload))),
            ])
            return [payload]
        if not environ.get(ENVIRON_KEY):
            self.monitor.served()
        status, headers = started[0]
        start_response(status, headers)
        return body


def install(app: Flask, store: Store) -> None:
    """Send the envelope for backend failures in Flask's views and hooks, and wrap `app`'s WSGI app in a BackendGuard."""
    if not store.state.errors:
        return
    monitor = BackendMonitor(store)

    def handle_failure(error: Exception) -> Response:
        monitor.failed(error)
        request.environ[ENVIRON_KEY] = True
        # The after_request hook reads these: it takes the build version from the scenario last read
        # and writes no journal entry, since the journal is in the failed backend too.
        setattr(g, G_FLAG, True)
        if g.get("rendered") is None:
            g.rendered = store.cached_active()
        return Response(gojson.encode(failure_body(store, error)), status=500, content_type=JSON)

    for error_class in store.state.errors:
        app.register_error_handler(error_class, handle_failure)
    app.wsgi_app = BackendGuard(app.wsgi_app, store, monitor)  # type: ignore[method-assign]
