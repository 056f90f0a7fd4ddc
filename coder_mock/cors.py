"""Cross-origin resource sharing (CORS) for browser clients, off unless `serve --cors` names origins.

coderd sends no CORS headers on /api/v2, so by default neither does coder-mock.
With origins allowed, a WSGI middleware around the whole app responds to
CORS preflights itself, without authentication, and adds the CORS headers to every
other response for an allowed origin, errors included. Requests from other
origins pass through unchanged apart from `Vary: Origin`.

An origin given explicitly is echoed with `Access-Control-Allow-Credentials:
true`, so a page on that origin may send the `coder_session_token` cookie.
`*` allows any origin without credentials, because browsers reject
credentials together with the wildcard.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("coder_mock.cors")
access_log = logging.getLogger("coder_mock.access")

ANY_ORIGIN = "*"
# Request headers a cross-origin page may send. Content-Type is listed because
# application/json is not one of the CORS-safelisted content types.
ALLOWED_REQUEST_HEADERS = ("Authorization", "Coder-Mock-Session", "Coder-Session-Token", "Content-Type")
# Response headers a cross-origin page may read besides the CORS-safelisted ones:
# the build version on every response and the rate-limit headers of a 429.
EXPOSED_HEADERS = ("Retry-After", "X-Coder-Build-Version", "X-Ratelimit-Limit", "X-Ratelimit-Remaining",
                   "X-Ratelimit-Reset")
# Chromium caps the preflight cache at 7200 seconds. The preflight responses depend only on
# the command line and the routes, which do not change while the server runs.
MAX_AGE_SECONDS = 7200
# The WSGI environ key, and the app.extensions key, under which the policy is stored while CORS is on.
ENVIRON_KEY = "coder_mock.cors"
# The operation recorded in the access log for a preflight.
PREFLIGHT = "cors-preflight"

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_HOST = re.compile(r"[a-z0-9.-]+|\[[0-9a-f:.]+\]")
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_SLASHES = re.compile(r"/{2,}")


class InvalidOrigin(ValueError):
    """A --cors value that is neither `*`, `null` nor an origin such as http://localhost:5173."""


def parse_origin(text: str) -> str:
    """Return `text` as browsers send it in the Origin header, or raise InvalidOrigin.

    Browsers send the scheme and host in lower case and leave out the
    default port, so those are normalised here and the match per request
    is an exact string comparison.
    """
    value = text.strip()
    if value in (ANY_ORIGIN, "null"):
        return value
    example = "use the scheme, host and optional port only, such as http://localhost:5173, or * for any origin"
    scheme, separator, rest = value.partition("://")
    if not separator:
        hint = f"use 'http://{value}'" if re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?", value) else example
        raise InvalidOrigin(f"invalid origin {text!r}: no scheme; {hint}.")
    scheme = scheme.lower()
    if not _SCHEME.fullmatch(scheme):
        raise InvalidOrigin(f"invalid origin {text!r}: invalid scheme {scheme!r}; {example}.")
    if any(mark in rest for mark in "/?#@"):
        host_and_port = re.split(r"[/?#]", rest, maxsplit=1)[0]
        suggestion = f"{scheme}://{host_and_port}" if "@" not in rest else None
        hint = f"use {suggestion!r}" if suggestion else example
        raise InvalidOrigin(f"invalid origin {text!r}: an origin has no user, path, query or fragment; {hint}.")
    host, port = rest.lower(), ""
    if host.startswith("["):
        closing = host.find("]")
        if closing != -1 and host[closing + 1:].startswith(":"):
            host, port = host[:closing + 1], host[closing + 2:]
    elif ":" in host:
        host, _, port = host.rpartition(":")
    if not host or not _HOST.fullmatch(host):
        raise InvalidOrigin(f"invalid origin {text!r}: invalid host {host!r}; {example}.")
    if port and (not port.isascii() or not port.isdigit() or int(port) > 65535):
        raise InvalidOrigin(f"invalid origin {text!r}: invalid port {port!r}; use a number from 0 to 65535.")
    if port and _DEFAULT_PORTS.get(scheme) == str(int(port)):
        port = ""
    return f"{scheme}://{host}:{int(port)}" if port else f"{scheme}://{host}"


def origin_argument(text: str) -> str:
    """Parse a `serve --cors` value for argparse, which prints the message of ArgumentTypeError as is."""
    try:
        return parse_origin(text)
    except InvalidOrigin as error:
        raise argparse.ArgumentTypeError(str(error)) from None


@dataclass(frozen=True)
class CorsPolicy:
    """The origins whose pages may call the server, and the headers each response gets for them."""

    origins: frozenset[str]
    any_origin: bool

    @classmethod
    def from_values(cls, values: Iterable[str]) -> CorsPolicy:
        """Build the policy from --cors values; raise InvalidOrigin for the first invalid one."""
        parsed = {parse_origin(value) for value in values}
        return cls(frozenset(parsed - {ANY_ORIGIN}), ANY_ORIGIN in parsed)

    @property
    def enabled(self) -> bool:
        return self.any_origin or bool(self.origins)

    def describe(self) -> str:
        listed = sorted(self.origins) + ([ANY_ORIGIN] if self.any_origin else [])
        return ", ".join(listed)

    def origin_headers(self, origin: str | None) -> list[tuple[str, str]]:
        """Return the Access-Control-Allow-Origin header and its companions, or [] for a disallowed origin."""
        if origin is None:
            return []
        if origin in self.origins:
            return [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]
        if self.any_origin:
            return [("Access-Control-Allow-Origin", ANY_ORIGIN)]
        return []

    def response_headers(self, origin: str | None) -> list[tuple[str, str]]:
        """Return the CORS headers of an actual (not preflight) response to `origin`."""
        allowed = self.origin_headers(origin)
        if not allowed:
            return []
        return allowed + [("Access-Control-Expose-Headers", ", ".join(EXPOSED_HEADERS))]

    def preflight_headers(self, origin: str, methods: Iterable[str], private_network: bool) -> list[tuple[str, str]]:
        """Return the headers of the 204 response to a preflight from the allowed `origin`."""
        headers = self.origin_headers(origin)
        headers.append(("Access-Control-Allow-Methods", ", ".join(methods)))
        headers.append(("Access-Control-Allow-Headers", ", ".join(ALLOWED_REQUEST_HEADERS)))
        headers.append(("Access-Control-Max-Age", str(MAX_AGE_SECONDS)))
        if private_network:
            # The WICG Private Network Access draft requires this before a public page may call a loopback
            # server. Chromium sent such preflights from version 104, and from 142 asks the user instead.
            headers.append(("Access-Control-Allow-Private-Network", "true"))
        return headers


def add_vary_origin(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return `headers` with Origin added to Vary, so caches keep the responses to different origins apart."""
    for index, (name, value) in enumerate(headers):
        if name.lower() == "vary":
            fields = [field.strip().lower() for field in value.split(",")]
            if "origin" not in fields and "*" not in fields:
                headers[index] = (name, f"{value}, Origin")
            return headers
    headers.append(("Vary", "Origin"))
    return headers


class CorsMiddleware:
    """WSGI middleware that responds to CORS preflights and adds CORS headers to the app's responses."""

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]], policy: CorsPolicy) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.policy = policy

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # Code below this middleware, such as a fast path that skips Flask, checks this key to
        # leave requests to the app while CORS is on.
        environ[ENVIRON_KEY] = self.policy
        origin = environ.get("HTTP_ORIGIN")
        is_preflight = (environ.get("REQUEST_METHOD") == "OPTIONS" and origin is not None
                        and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ)
        if is_preflight and self.policy.origin_headers(origin):
            return self.preflight(environ, origin, start_response)

        extra = self.policy.response_headers(origin)

        def start_with_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            names = {name.lower() for name, _ in extra}
            kept = [(name, value) for name, value in headers if name.lower() not in names]
            return start_response(status, add_vary_origin(kept + extra), exc_info)

        return self.wsgi_app(environ, start_with_cors)

    def preflight(self, environ: dict[str, Any], origin: str,
                  start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Respond to a preflight from an allowed origin with 204, before authentication, faults and the journal."""
        started = time.perf_counter()
        path = _SLASHES.sub("/", environ.get("PATH_INFO", "") or "/")
        requested = environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"].strip()
        methods = self.route_methods(environ, path)
        if methods is None:
            # No route serves this path. Allowing the requested method lets the page read the
            # actual request's 404 "Route not found." instead of an opaque preflight failure.
            methods = [requested] if _METHOD.fullmatch(requested) else []
        private_network = environ.get("HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK", "").strip().lower() == "true"

        headers = self.policy.preflight_headers(origin, methods, private_network)
        store = self.app.extensions.get("coder_mock.store")
        if store is not None:
            headers.append(("X-Coder-Build-Version", store.active.version))
        headers.append(("X-Content-Type-Options", "nosniff"))
        start_response("204 No Content", add_vary_origin(headers))
        if not self.app.config.get("CODER_MOCK_QUIET"):
            elapsed = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %s %.1fms", "OPTIONS", path, 204, PREFLIGHT, elapsed)
        return [b""]

    def route_methods(self, environ: Mapping[str, Any], path: str) -> list[str] | None:
        """Return the sorted methods the app routes for `path`, or None when no route matches it.

        HEAD is left out because coderd's router rejects it under /api, and
        browsers never need it listed, as it is a CORS-safelisted method.
        OPTIONS is left out because the middleware responds to it.
        """
        adapter = self.app.url_map.bind_to_environ(environ)
        allowed = adapter.allowed_methods(path)
        if not allowed:
            return None
        return sorted(method for method in set(allowed) if method not in ("HEAD", "OPTIONS"))


def install(app: Flask, origins: Iterable[str]) -> CorsPolicy:
    """Wrap `app.wsgi_app` in the CORS middleware when `origins` allows any; return the policy.

    Call it last in create_app so the middleware is outermost and receives
    every response. The policy is stored in app.extensions["coder_mock.cors"], where
    the HTTP server finds it for the errors it sends before the app runs.
    """
    policy = CorsPolicy.from_values(origins)
    if not policy.enabled:
        return policy
    app.extensions[ENVIRON_KEY] = policy
    app.wsgi_app = CorsMiddleware(app, app.wsgi_app, policy)  # type: ignore[method-assign]
    log.info("CORS enabled for %s", policy.describe())
    return policy
