"""A WSGI layer in front of Flask that serves plain General requests from precomputed bytes.

Most requests a client sends are a GET of a General operation with at most a
session token. For those, Flask's request context, routing and response
objects cost more than coder-mock's own work. `FastPath` looks the path up in
a table built once per live scenario and sends the same bytes that Flask's
route would send: the same status line, headers and body, the same access log
line and the same journal entry. Every other request goes to Flask unchanged.

The table maps each exact path to its operation and its precomputed
responses. It is rebuilt on the first request after a switch, when
`store.active` is a different `Rendered`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from werkzeug.datastructures import EnvironHeaders
from werkzeug.wrappers import Request
from werkzeug.wsgi import get_content_length

from coder_mock import gojson, journal
from coder_mock.api.general import MEMBER, OWNER, PUBLIC, parse_go_uuid, rate_limit_headers
from coder_mock.auth import authenticate
from coder_mock.cors import ENVIRON_KEY as CORS_ENVIRON_KEY
from coder_mock.differences import access_in
from coder_mock.rendering import Rendered, Reply
from coder_mock.store import Store

access_log = logging.getLogger("coder_mock.access")

JSON = "application/json; charset=utf-8"
API = "/api/v2"
TOKEN_CONFIG_PATH = API + "/users/{user}/keys/tokens/tokenconfig"
TOKEN_CONFIG = "get-token-config"

# The GET operations whose reply is the same for every caller who passes the access check,
# by path, with the access coderd gives them. They mirror the routes in coder_mock/api/general.py,
# and tests/test_fastpath.py checks that both agree.
FIXED_ROUTES: dict[str, tuple[str, str]] = {
    API: ("api-root-handler", PUBLIC),
    API + "/": ("api-root-handler", PUBLIC),
    API + "/buildinfo": ("build-info", PUBLIC),
    API + "/deployment/config": ("get-deployment-config", OWNER),
    API + "/deployment/ssh": ("ssh-config", MEMBER),
    API + "/deployment/stats": ("get-deployment-stats", OWNER),
    API + "/experiments": ("get-enabled-experiments", MEMBER),
    API + "/experiments/available": ("get-safe-experiments", MEMBER),
    API + "/updatecheck": ("update-check", PUBLIC),
}

# Distinct 401 bodies kept per live scenario; later ones are encoded per request.
UNAUTHORIZED_CACHE_SIZE = 256

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def fast_path_applies(store: Store, environ: dict[str, Any]) -> bool:
    """Return whether the fast path may take this request, before its path is looked up.

    Only GET requests qualify: the one General POST reads a body, and HEAD and
    other methods get Flask's 405 handling. A feature that changes how a
    General request is served adds its condition here, so that such requests
    go through Flask: a session header (whose session may be unknown), CORS,
    fault rules, and any live session (whose tokens select it).
    """
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and "HTTP_CODER_MOCK_SESSION" not in environ
        and CORS_ENVIRON_KEY not in environ
        and not store.faults.has_rules()
        and not store.has_sessions()
    )


@dataclass(frozen=True)
class Prepared:
    """A whole response ready to send: WSGI status line, headers and body."""

    code: int
    status: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Route:
    """One path of the fast table: its operation, who may call it and its prepared responses.

    `answer` is the response for a caller who passes the access check. For
    get-token-config of `me` it is None, and `answers_by_user` contains the
    response for each user ID, chosen by the caller.
    """

    operation: str
    access: str
    override: Prepared | None
    answer: Prepared | None
    answers_by_user: dict[str, Prepared] = field(default_factory=dict)


class Table:
    """The fast routes of one `Rendered`, and the responses every route shares."""

    def __init__(self, rendered: Rendered, status_line: Callable[[int], str]) -> None:
        self.rendered = rendered
        self.status_line = status_line
        self.common = [("X-Coder-Build-Version", rendered.version), ("X-Content-Type-Options", "nosniff")]
        self.forbidden = self.prepare(rendered.replies["forbidden"])
        self.unauthorized_cache: dict[tuple[tuple[str, str], ...], Prepared] = {}
        self.routes: dict[str, Route] = {}
        for path, (operation, access) in FIXED_ROUTES.items():
            self.add_route(path, operation, access, self.prepare(rendered.replies[operation]))
        self.add_token_config_routes()

    def prepare(self, reply: Reply) -> Prepared:
        return self.prepare_bytes(reply.status, reply.body)

    def prepare_bytes(self, code: int, body: bytes, extra: list[tuple[str, str]] | None = None) -> Prepared:
        """Build the response Flask sends for a JSON body: extra headers first, as werkzeug places them."""
        headers = list(extra or [])
        headers += [("Content-Type", JSON), ("Content-Length", str(len(body)))]
        headers += self.common
        return Prepared(code, self.status_line(code), headers, body)

    def unauthorized(self, error: dict[str, str]) -> Prepared:
        """Return the 401 response for `error`, encoding each distinct body once up to UNAUTHORIZED_CACHE_SIZE."""
        key = tuple(error.items())
        prepared = self.unauthorized_cache.get(key)
        if prepared is None:
            prepared = self.prepare_bytes(401, gojson.encode(error))
            # Details name token lengths and expiry times, so a client can make many distinct ones.
            if len(self.unauthorized_cache) < UNAUTHORIZED_CACHE_SIZE:
                self.unauthorized_cache[key] = prepared
        return prepared

    def add_route(self, path: str, operation: str, access: str, answer: Prepared | None,
                  answers_by_user: dict[str, Prepared] | None = None) -> None:
        rendered = self.rendered
        reply = rendered.overrides.get(operation) or rendered.overrides.get("all")
        override = self.prepare(reply) if reply is not None else None
        self.routes[path] = Route(operation, access_in(rendered.profile, operation, access), override, answer,
                                  answers_by_user or {})

    def add_token_config_routes(self) -> None:
        """Add get-token-config for `me` and for each user's ID and username as written in the scenario.

        Other spellings of {user} (another letter case, a UUID in another form,
        an unknown user) go to Flask, which resolves them.
        """
        rendered = self.rendered
        if access_in(rendered.profile, TOKEN_CONFIG, MEMBER) == PUBLIC:
            # `me` would then have no caller to resolve to, so Flask handles that case.
            return
        by_user = {user_id: self.prepare(reply) for user_id, reply in rendered.token_configs.items()}
        self.add_route(TOKEN_CONFIG_PATH.format(user="me"), TOKEN_CONFIG, MEMBER, None, by_user)
        for user in rendered.world.users:
            for segment in (user.id, user.username):
                if segment == "me" or not segment.isascii() or "/" in segment:
                    continue
                # The same lookup as general.answer_token_config, so the route serves the same user's reply.
                user_id = parse_go_uuid(segment)
                if user_id is not None:
                    target = rendered.users_by_id.get(user_id)
                else:
                    target = rendered.users_by_name.get(segment.lower())
                path = TOKEN_CONFIG_PATH.format(user=segment)
                if target is not None and path not in self.routes:
                    self.add_route(path, TOKEN_CONFIG, MEMBER, by_user[target.id])


@dataclass(frozen=True)
class HeaderSources:
    """The parts of a request that auth.session_token reads, for a request without cookies or a query string."""

    headers: EnvironHeaders
    cookies: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)


def token_sources(environ: dict[str, Any]) -> Request | HeaderSources:
    """Return what auth.authenticate reads the token from: a werkzeug Request only when cookies or a query need parsing."""
    if environ.get("HTTP_COOKIE") or environ.get("QUERY_STRING"):
        return Request(environ)
    return HeaderSources(EnvironHeaders(environ))


class FastPath:
    """WSGI middleware that serves plain General requests itself and passes the rest to `app`."""

    def __init__(self, store: Store, app: WSGIApp, status_line: Callable[[int], str],
                 quiet: Callable[[], bool]) -> None:
        self.store = store
        self.app = app
        self.status_line = status_line
        self.quiet = quiet
        self._table: Table | None = None

    def table_for(self, rendered: Rendered) -> Table:
        """Return the table of `rendered`, building it when the live scenario changed since the last request."""
        table = self._table
        if table is None or table.rendered is not rendered:
            # Two threads may build the table at once after a switch; both results are equal.
            table = Table(rendered, self.status_line)
            self._table = table
        return table

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not fast_path_applies(self.store, environ):
            return self.app(environ, start_response)
        # fast_path_applies has just read a shared backend, so reading it again would only cost time.
        rendered = self.store.cached_active()
        route = self.table_for(rendered).routes.get(environ.get("PATH_INFO", ""))
        if route is None:
            return self.app(environ, start_response)

        started = time.perf_counter()
        response = self.respond(route, rendered, environ)
        start_response(response.status, response.headers)
        self.log_and_record(environ, route, rendered, response.code, started)
        return [response.body]

    def respond(self, route: Route, rendered: Rendered, environ: dict[str, Any]) -> Prepared:
        """Apply overrides, authentication and role checks in the order of general.serve()."""
        table = self.table_for(rendered)
        override = route.override
        # The rate limiter runs before authentication in coderd's middleware chain.
        if override is not None and override.code == 429:
            return table.prepare_bytes(429, override.body, list(rate_limit_headers().items()))

        user = None
        if route.access != PUBLIC:
            caller = authenticate(token_sources(environ), rendered)
            if caller.error is not None:
                return table.unauthorized(caller.error)
            user = caller.user
            if route.access == OWNER and not user.is_owner:
                return table.forbidden

        if override is not None:
            return override
        if route.answer is not None:
            return route.answer
        # get-token-config for `me`: the caller's own lifetime.
        return route.answers_by_user[user.id]

    def log_and_record(self, environ: dict[str, Any], route: Route, rendered: Rendered, code: int,
                       started: float) -> None:
        """Write the access log line and the journal entry that app.py's after_request writes for Flask routes."""
        # Every path of the table is ASCII, so PATH_INFO equals the decoded path Flask's request.path gives.
        path = environ["PATH_INFO"]
        if not self.quiet():
            elapsed = (time.perf_counter() - started) * 1000
            # The path is logged without its query string, which may carry a session token.
            access_log.info("%s %s %d %s %.1fms", environ["REQUEST_METHOD"], path, code, route.operation, elapsed)
        store_journal = self.store.journal
        if not store_journal.enabled:
            return
        # werkzeug parses the query string as Flask's request.args does; most requests have none.
        query = Request(environ).args.to_dict(flat=False) if environ.get("QUERY_STRING") else {}
        timestamp, entry = journal.new_entry(
            method=environ["REQUEST_METHOD"],
            path=path,
            query=query,
            headers=EnvironHeaders(environ),
            body=None,
            content_length=get_content_length(environ),
            status=code,
            operation=route.operation,
            scenario=rendered.name,
        )
        store_journal.record(timestamp, entry)
