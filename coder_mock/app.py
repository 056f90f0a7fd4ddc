"""The Flask application factory.

`create_app` wires the General blueprint under /api/v2 and the admin API
under /__admin/, and gives every response coderd's common headers. Paths are
normalised before routing as coderd's router does: runs of slashes collapse
to one, and no trailing-slash redirect is ever sent.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Callable, Iterable

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from coder_mock import admin, admin_faults, admin_page, cors, fastpath, gojson, journal, openapi_route
from coder_mock import lost_backend
from coder_mock.api import general
from coder_mock.rendering import Rendered
from coder_mock.auth import first_header_value, session_token
from coder_mock.statustext import status_line
from coder_mock.state.sessions import SESSION_HEADER, unknown_session_body
from coder_mock.store import Store, UnknownSession
from coder_mock.wire import INTERNAL_ERROR, ROUTE_NOT_FOUND, error_body

log = logging.getLogger("coder_mock.app")
access_log = logging.getLogger("coder_mock.access")

JSON = "application/json; charset=utf-8"
SITE_PAGE = (
    "<!DOCTYPE html><html><head><title>Coder</title></head><body>"
    "<p>coder-mock serves Coder's API under /api/v2 and its admin API under /__admin/.</p>"
    "</body></html>\n"
)
_SLASHES = re.compile(r"/{2,}")
# The journal's own endpoints are not recorded, so polling them does not fill the journal.
JOURNAL_PATH = "/__admin/requests"


class CollapseSlashes:
    """WSGI middleware that collapses runs of slashes in the path before routing."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            environ["PATH_INFO"] = _SLASHES.sub("/", path)
        return self.app(environ, start_response)


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(gojson.encode(body), status=status, content_type=JSON, headers=headers)


def handle_not_found(error: NotFound) -> Response:
    if is_api(request.path):
        g.operation = "unmatched"
        return json_response(404, ROUTE_NOT_FOUND)
    if request.path.startswith("/__admin"):
        return admin.admin_not_found()
    if request.path == "/healthz":
        return Response("OK", content_type="text/plain; charset=utf-8")
    return Response(SITE_PAGE, status=200, content_type="text/html; charset=utf-8")


def method_not_allowed(allowed: list[str]) -> Response:
    # coderd's router sends an empty body here. A JSON envelope keeps every /api/v2 response parseable.
    # werkzeug lists the methods from a set, so they are sorted to keep the header the same on every run.
    allow = ", ".join(sorted(method for method in allowed if method != "HEAD"))
    return json_response(405, error_body("Method not allowed."), {"Allow": allow})


def handle_method_not_allowed(error: MethodNotAllowed) -> Response:
    return method_not_allowed(list(error.valid_methods or []))


def handle_http_error(error: HTTPException) -> Response:
    if is_api(request.path):
        return json_response(error.code or 500, error_body(error.name + "."))
    return error  # type: ignore[return-value]


def handle_unexpected(error: Exception) -> Response:
    # The exception goes to the log only, so clients never see Python internals.
    log.exception("unhandled error on %s %s", request.method, request.path)
    return json_response(500, error_body(INTERNAL_ERROR))


def is_journal_path(path: str) -> bool:
    return path == JOURNAL_PATH or path.startswith(JOURNAL_PATH + "/")


def operation_name() -> str:
    """Return the journal's operation: Coder's operation ID, else unmatched, admin or site."""
    operation = g.get("operation")
    if operation:
        return operation
    if is_api(request.path):
        # An unknown route, or a known one called with a method it does not accept.
        return journal.UNMATCHED
    if request.path.startswith("/__admin") or request.blueprint == "openapi":
        return "admin"
    return "site"


def record_request(store: Store, response: Response) -> None:
    """Add the request and its response status to the store's journal."""
    timestamp, entry = journal.new_entry(
        method=request.method,
        path=request.path,
        query=request.args.to_dict(flat=False),
        headers=request.headers,
        body=g.get("body_copy"),
        content_length=request.content_length,
        status=response.status_code,
        operation=operation_name(),
        scenario=(g.get("rendered") or store.active).name,
        session=g.get("session"),
        fault=g.get("fault", ""),
    )
    store.journal.record(timestamp, entry)


def resolve_session(store: Store) -> tuple[str | None, Rendered]:
    """Return the session the request belongs to (or None) and the scenario to serve it; raise UnknownSession.

    The Coder-Mock-Session header names a session. Without it, a request to
    Coder's API belongs to the session that issued its token, read from any
    source coderd reads. Admin requests belong to a session only by the header.
    """
    named = None
    if "HTTP_CODER_MOCK_SESSION" in request.environ:
        named = first_header_value(request, SESSION_HEADER)
    read_token = None if request.path.startswith("/__admin") else lambda: session_token(request)
    return store.resolve(named, read_token)


def unknown_session(error: UnknownSession) -> Response:
    return json_response(404, unknown_session_body(error.session_id))


def create_app(store: Store, quiet: bool = False, cors_origins: Iterable[str] = ()) -> Flask:
    """Build the WSGI application serving `store`'s live scenario, with CORS for `cors_origins` (none: off)."""
    app = Flask("coder_mock")
    app.url_map.merge_slashes = False
    app.json.ensure_ascii = False
    app.extensions["coder_mock.store"] = store
    app.config["CODER_MOCK_QUIET"] = quiet
    # Without this, Flask responds to OPTIONS on routes that do not opt out (the admin API, the
    # OpenAPI document) with 200 and an empty body, where coderd's router responds with 405.
    # Flask reads it when a route is added, so it is set before the blueprints are registered.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False

    app.register_blueprint(general.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(openapi_route.blueprint)
    admin_faults.install(app)
    app.register_blueprint(admin_page.blueprint)
    app.register_error_handler(NotFound, handle_not_found)
    app.register_error_handler(MethodNotAllowed, handle_method_not_allowed)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)

    @app.before_request
    def take_snapshot() -> Response | None:
        g.started = time.perf_counter()
        try:
            g.session, g.rendered = resolve_session(store)
        except UnknownSession as error:
            g.session = None
            g.rendered = store.active
            return unknown_session(error)
        if store.journal.enabled and not is_journal_path(request.path):
            # The copy keeps only the bytes that the handler reads, so the request is served as without it.
            g.body_copy = journal.BodyCopy(request.stream)
            request.stream = g.body_copy  # type: ignore[misc]
        # Flask serves HEAD on GET routes, but coderd's router responds 405.
        if request.method == "HEAD" and is_api(request.path):
            adapter = app.url_map.bind_to_environ(request.environ)
            allowed = adapter.allowed_methods(request.path)
            if allowed:
                return method_not_allowed(allowed)
        return None

    @app.after_request
    def add_common_headers(response: Response) -> Response:
        rendered = g.get("rendered") or store.active
        # werkzeug upper-cases reason phrases; Go's net/http sends them as written in the RFCs.
        response.status = status_line(response.status_code)
        response.headers["X-Coder-Build-Version"] = rendered.version
        response.headers["X-Content-Type-Options"] = "nosniff"
        if not app.config["CODER_MOCK_QUIET"]:
            elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
            # The path is logged without its query string, which may carry a session token.
            access_log.info("%s %s %d %s %.1fms", request.method, request.path, response.status_code,
                            g.get("operation", "-"), elapsed)
        if store.journal.enabled and not is_journal_path(request.path) and not g.get(lost_backend.G_FLAG):
            record_request(store, response)
        return response

    # Plain General requests are served below Flask's dispatch, with the same bytes (coder_mock/fastpath.py).
    served = fastpath.FastPath(store, app.wsgi_app, status_line, lambda: app.config["CODER_MOCK_QUIET"])
    app.wsgi_app = CollapseSlashes(served)  # type: ignore[method-assign]
    cors.install(app, cors_origins)
    lost_backend.install(app, store)
    return app
