"""CORS: off by default, preflights handled without a token, and headers on every response to an allowed origin."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Iterator

import pytest
from flask import request
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from coder_mock import cors
from coder_mock.app import create_app
from coder_mock.cli import build_parser
from coder_mock.cors import CorsPolicy, InvalidOrigin, add_vary_origin, parse_origin
from coder_mock.server import bind
from coder_mock.store import Store
from coder_mock.wire import FORBIDDEN, NO_TOKEN_DETAIL, RATE_LIMIT_MESSAGE, SIGNED_OUT

from conftest import MEMBER_TOKEN, OWNER_TOKEN

ORIGIN = "http://localhost:5173"
OTHER_ORIGIN = "https://evil.example"
ALLOW_HEADERS = "Authorization, Coder-Mock-Session, Coder-Session-Token, Content-Type"
EXPOSE_HEADERS = "Retry-After, X-Coder-Build-Version, X-Ratelimit-Limit, X-Ratelimit-Remaining, X-Ratelimit-Reset"
JSON = "application/json; charset=utf-8"
CORS_NAMES = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Allow-Private-Network",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
)
SOCKET_TIMEOUT_SECONDS = 5.0


def cors_headers(response: TestResponse) -> dict[str, str]:
    """Return the response's Access-Control-* headers, each of which must appear at most once."""
    found = {}
    for name in CORS_NAMES:
        values = response.headers.getlist(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        if values:
            found[name] = values[0]
    return found


def actual_headers(origin: str = ORIGIN, credentials: bool = True) -> dict[str, str]:
    """Return the CORS headers of a non-preflight response to an allowed origin."""
    expected = {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSE_HEADERS}
    if credentials:
        expected["Access-Control-Allow-Credentials"] = "true"
    return expected


def preflight_headers(methods: str, origin: str = ORIGIN, credentials: bool = True) -> dict[str, str]:
    expected = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": "7200",
    }
    if credentials:
        expected["Access-Control-Allow-Credentials"] = "true"
    return expected


def make_client(store: Store, *origins: str) -> FlaskClient:
    return create_app(store, quiet=True, cors_origins=origins).test_client()


@pytest.fixture
def cors_client(store: Store) -> FlaskClient:
    return make_client(store, ORIGIN)


def preflight(client: FlaskClient, path: str, method: str = "GET", origin: str = ORIGIN,
              **headers: str) -> TestResponse:
    return client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": "coder-session-token, content-type",
                                         **headers})


# --- Off by default ---------------------------------------------------------------------------


def test_off_by_default_sends_no_headers(client: FlaskClient) -> None:
    response = client.get("/api/v2/buildinfo", headers={"Origin": ORIGIN})

    assert response.status_code == 200
    assert cors_headers(response) == {}
    assert response.headers.get("Vary") is None


def test_off_by_default_preflight_is_405(client: FlaskClient) -> None:
    response = preflight(client, "/api/v2/buildinfo")

    assert response.status_code == 405
    assert response.data == b'{"message":"Method not allowed."}\n'
    assert response.headers["Allow"] == "GET"
    assert cors_headers(response) == {}


def test_install_without_origins_keeps_app(store: Store) -> None:
    app = create_app(store, quiet=True)

    assert "coder_mock.cors" not in app.extensions
    assert not isinstance(app.wsgi_app, cors.CorsMiddleware)


# --- Preflights -------------------------------------------------------------------------------


def test_preflight_exact_headers(cors_client: FlaskClient, store: Store) -> None:
    response = preflight(cors_client, "/api/v2/buildinfo")

    assert response.status == "204 No Content"
    assert response.data == b""
    assert cors_headers(response) == preflight_headers("GET")
    assert response.headers["Vary"] == "Origin"
    assert response.headers["X-Coder-Build-Version"] == store.active.version
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert sorted(response.headers.keys()) == sorted([*preflight_headers("GET"), "Vary", "X-Coder-Build-Version",
                                                      "X-Content-Type-Options"])


# Path -> the methods its route serves, as Access-Control-Allow-Methods lists them.
ROUTE_METHODS = {
    "/api/v2/deployment/config": "GET",
    "/api/v2/csp/reports": "POST",
    "/api/v2/users/me/keys/tokens/tokenconfig": "GET",
    "/api/v2": "GET",
    "/api/v2/": "GET",
    "/api//v2//buildinfo": "GET",
    "/__admin/scenario": "GET, PUT",
    "/__admin/reset": "POST",
    "/__admin/requests": "DELETE, GET",
    "/__admin/": "GET",
    "/swagger/doc.json": "GET",
}


@pytest.mark.parametrize("path", ROUTE_METHODS)
def test_preflight_lists_route_methods(cors_client: FlaskClient, path: str) -> None:
    response = preflight(cors_client, path, method="PUT")

    assert response.status_code == 204
    assert cors_headers(response) == preflight_headers(ROUTE_METHODS[path])


def test_preflight_needs_no_token(cors_client: FlaskClient) -> None:
    # An owner-only operation: the preflight carries no token and gets 204 all the same.
    response = preflight(cors_client, "/api/v2/deployment/stats")

    assert response.status_code == 204
    assert cors_headers(response) == preflight_headers("GET")


def test_preflight_skips_overrides(store: Store) -> None:
    store.switch("server-errors")
    response = preflight(make_client(store, ORIGIN), "/api/v2/buildinfo")

    assert response.status_code == 204
    assert cors_headers(response) == preflight_headers("GET")


def test_preflight_unknown_route_allows_requested(cors_client: FlaskClient) -> None:
    response = preflight(cors_client, "/api/v2/workspaces", method="DELETE")

    assert response.status_code == 204
    assert cors_headers(response) == preflight_headers("DELETE")


def test_preflight_invalid_method_allows_none(cors_client: FlaskClient) -> None:
    response = preflight(cors_client, "/api/v2/workspaces", method="GET /x")

    assert response.status_code == 204
    assert cors_headers(response) == preflight_headers("")


def test_preflight_private_network(cors_client: FlaskClient) -> None:
    response = preflight(cors_client, "/api/v2/buildinfo", **{"Access-Control-Request-Private-Network": "true"})

    assert response.status_code == 204
    assert cors_headers(response) == {**preflight_headers("GET"), "Access-Control-Allow-Private-Network": "true"}


def test_preflight_from_other_origin_reaches_app(cors_client: FlaskClient) -> None:
    response = preflight(cors_client, "/api/v2/buildinfo", origin=OTHER_ORIGIN)

    assert response.status_code == 405
    assert response.data == b'{"message":"Method not allowed."}\n'
    assert cors_headers(response) == {}
    assert response.headers["Vary"] == "Origin"


def test_options_without_request_method_is_not_preflight(cors_client: FlaskClient) -> None:
    response = cors_client.options("/api/v2/buildinfo", headers={"Origin": ORIGIN})

    assert response.status_code == 405
    assert response.data == b'{"message":"Method not allowed."}\n'
    assert cors_headers(response) == actual_headers()


def test_preflight_not_in_journal(store: Store) -> None:
    client = make_client(store, ORIGIN)

    assert preflight(client, "/api/v2/buildinfo").status_code == 204
    assert store.journal.query() == []


def test_preflight_logged(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    client = create_app(store, cors_origins=[ORIGIN]).test_client()
    caplog.set_level(logging.INFO, logger="coder_mock.access")

    preflight(client, "/api//v2/buildinfo?coder_session_token=secret")

    lines = [record.getMessage() for record in caplog.records if record.name == "coder_mock.access"]
    assert len(lines) == 1
    assert lines[0].startswith("OPTIONS /api/v2/buildinfo 204 cors-preflight ")


# --- Actual responses -------------------------------------------------------------------------

# Name -> (scenario, method, path, token, status, exact body).
ACTUAL_CASES = {
    "ok": ("default", "GET", "/api/v2/", None, 200, '{"message":"👋"}\n'.encode()),
    "unauthorized": ("default", "GET", "/api/v2/deployment/config", None, 401,
                     ('{"message":"' + SIGNED_OUT + '","detail":"' + NO_TOKEN_DETAIL.replace('"', '\\"')
                      + '"}\n').encode()),
    "forbidden": ("default", "GET", "/api/v2/deployment/config", MEMBER_TOKEN, 403,
                  ('{"message":"Forbidden.","detail":"' + FORBIDDEN["detail"] + '"}\n').encode()),
    "route-not-found": ("default", "GET", "/api/v2/workspaces", OWNER_TOKEN, 404, b'{"message":"Route not found."}\n'),
    "method-not-allowed": ("default", "DELETE", "/api/v2/buildinfo", None, 405,
                           b'{"message":"Method not allowed."}\n'),
    "rate-limited": ("rate-limited", "GET", "/api/v2/buildinfo", None, 429,
                     ('{"message":"' + RATE_LIMIT_MESSAGE + '"}\n').encode()),
    "server-error": ("server-errors", "GET", "/api/v2/buildinfo", None, 500,
                     b'{"message":"An internal server error occurred.",'
                     b'"detail":"dial tcp 10.0.0.5:5432: connect: connection refused"}\n'),
    "admin-not-found": ("default", "GET", "/__admin/nothing", None, 404, None),
}


@pytest.mark.parametrize("case", ACTUAL_CASES)
def test_actual_response_has_cors_headers(store: Store, case: str) -> None:
    scenario, method, path, token, status, body = ACTUAL_CASES[case]
    store.switch(scenario)
    headers = {"Origin": ORIGIN}
    if token:
        headers["Coder-Session-Token"] = token

    response = make_client(store, ORIGIN).open(path, method=method, headers=headers)

    assert response.status_code == status
    if body is not None:
        assert response.data == body
    assert cors_headers(response) == actual_headers()
    assert response.headers.getlist("Vary") == ["Origin"]
    assert response.headers["X-Coder-Build-Version"] == store.active.version


def test_rate_limit_headers_exposed(store: Store) -> None:
    store.switch("rate-limited")

    response = make_client(store, ORIGIN).get("/api/v2/buildinfo", headers={"Origin": ORIGIN})

    assert response.status_code == 429
    exposed = response.headers["Access-Control-Expose-Headers"].split(", ")
    for name in ("Retry-After", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset"):
        assert name in response.headers
        assert name in exposed


def test_unexpected_exception_has_cors_headers(store: Store) -> None:
    app = create_app(store, quiet=True, cors_origins=[ORIGIN])

    @app.get("/api/v2/boom")
    def boom() -> str:
        raise RuntimeError("broken handler")

    response = app.test_client().get("/api/v2/boom", headers={"Origin": ORIGIN})

    assert response.status_code == 500
    assert response.data == b'{"message":"An internal server error occurred."}\n'
    assert cors_headers(response) == actual_headers()


def test_site_page_has_cors_headers(cors_client: FlaskClient) -> None:
    response = cors_client.get("/healthz", headers={"Origin": ORIGIN})

    assert response.data == b"OK"
    assert cors_headers(response) == actual_headers()


def test_other_origin_gets_no_cors_headers(cors_client: FlaskClient) -> None:
    response = cors_client.get("/api/v2/buildinfo", headers={"Origin": OTHER_ORIGIN})

    assert response.status_code == 200
    assert cors_headers(response) == {}
    assert response.headers["Vary"] == "Origin"


def test_origin_matched_exactly(cors_client: FlaskClient) -> None:
    for origin in ("http://localhost:5173/", "http://LOCALHOST:5173", "http://localhost:51730",
                   "http://localhost", "null", "", f"{ORIGIN}, {ORIGIN}"):
        response = cors_client.get("/api/v2/buildinfo", headers={"Origin": origin})
        assert cors_headers(response) == {}, origin


def test_no_origin_gets_vary_only(cors_client: FlaskClient) -> None:
    response = cors_client.get("/api/v2/buildinfo")

    assert cors_headers(response) == {}
    assert response.headers["Vary"] == "Origin"


def test_admin_switch_has_cors_headers(store: Store) -> None:
    client = make_client(store, ORIGIN)

    response = client.put("/__admin/scenario", json={"name": "dev-build"}, headers={"Origin": ORIGIN})

    assert response.status_code == 200
    assert cors_headers(response) == actual_headers()
    assert response.headers["X-Coder-Build-Version"] == store.active.version


# --- Any origin and mixed lists ---------------------------------------------------------------


def test_any_origin_sends_wildcard(store: Store) -> None:
    client = make_client(store, "*")

    for origin in (ORIGIN, OTHER_ORIGIN, "null"):
        response = client.get("/api/v2/buildinfo", headers={"Origin": origin})
        assert cors_headers(response) == actual_headers("*", credentials=False), origin
        assert response.headers["Vary"] == "Origin"


def test_any_origin_preflight(store: Store) -> None:
    response = preflight(make_client(store, "*"), "/__admin/scenario", origin=OTHER_ORIGIN, method="PUT")

    assert response.status_code == 204
    assert cors_headers(response) == preflight_headers("GET, PUT", "*", credentials=False)


def test_listed_origin_wins_over_wildcard(store: Store) -> None:
    client = make_client(store, "*", ORIGIN)

    listed = client.get("/api/v2/buildinfo", headers={"Origin": ORIGIN})
    other = client.get("/api/v2/buildinfo", headers={"Origin": OTHER_ORIGIN})

    assert cors_headers(listed) == actual_headers()
    assert cors_headers(other) == actual_headers("*", credentials=False)


def test_null_origin_listed(store: Store) -> None:
    client = make_client(store, "null")

    response = client.get("/api/v2/buildinfo", headers={"Origin": "null"})

    assert cors_headers(response) == actual_headers("null")


def test_several_origins(store: Store) -> None:
    client = make_client(store, ORIGIN, "https://Coder.Example:443")

    for origin in (ORIGIN, "https://coder.example"):
        response = client.get("/api/v2/buildinfo", headers={"Origin": origin})
        assert cors_headers(response) == actual_headers(origin), origin
    assert cors_headers(client.get("/api/v2/buildinfo", headers={"Origin": OTHER_ORIGIN})) == {}


# --- Parsing origins --------------------------------------------------------------------------

VALID_ORIGINS = {
    "http://localhost:5173": "http://localhost:5173",
    "HTTP://LocalHost:5173": "http://localhost:5173",
    "https://coder.example:443": "https://coder.example",
    "http://coder.example:80": "http://coder.example",
    "http://coder.example:080": "http://coder.example",
    "https://coder.example:8443": "https://coder.example:8443",
    "http://127.0.0.1:3000": "http://127.0.0.1:3000",
    "http://[::1]:3000": "http://[::1]:3000",
    "http://[::1]": "http://[::1]",
    # The URL standard reads an empty port as the default one.
    "http://localhost:": "http://localhost",
    "vscode-webview://abc123": "vscode-webview://abc123",
    " http://localhost:5173 ": "http://localhost:5173",
    "*": "*",
    "null": "null",
}


@pytest.mark.parametrize("text", VALID_ORIGINS)
def test_parse_valid_origin(text: str) -> None:
    assert parse_origin(text) == VALID_ORIGINS[text]


INVALID_ORIGINS = {
    "localhost:5173": "invalid origin 'localhost:5173': no scheme; use 'http://localhost:5173'.",
    "/app": "invalid origin '/app': no scheme; use the scheme, host and optional port only,"
            " such as http://localhost:5173, or * for any origin.",
    "http://localhost:5173/": "invalid origin 'http://localhost:5173/': an origin has no user, path, query or"
                              " fragment; use 'http://localhost:5173'.",
    "http://localhost:5173/app?x=1": "invalid origin 'http://localhost:5173/app?x=1': an origin has no user, path,"
                                     " query or fragment; use 'http://localhost:5173'.",
    "http://user@host": "invalid origin 'http://user@host': an origin has no user, path, query or fragment;"
                        " use the scheme, host and optional port only, such as http://localhost:5173, or * for"
                        " any origin.",
    "http://": "invalid origin 'http://': invalid host ''; use the scheme, host and optional port only,"
               " such as http://localhost:5173, or * for any origin.",
    "http://exa mple.com": "invalid origin 'http://exa mple.com': invalid host 'exa mple.com'; use the scheme,"
                           " host and optional port only, such as http://localhost:5173, or * for any origin.",
    "1http://x": "invalid origin '1http://x': invalid scheme '1http'; use the scheme, host and optional port only,"
                 " such as http://localhost:5173, or * for any origin.",
    "http://localhost:99999": "invalid origin 'http://localhost:99999': invalid port '99999'; use a number from"
                              " 0 to 65535.",
}


@pytest.mark.parametrize("text", INVALID_ORIGINS)
def test_parse_invalid_origin(text: str) -> None:
    with pytest.raises(InvalidOrigin) as raised:
        parse_origin(text)

    assert str(raised.value) == INVALID_ORIGINS[text]


def test_policy_rejects_invalid_value() -> None:
    with pytest.raises(InvalidOrigin):
        CorsPolicy.from_values([ORIGIN, "localhost"])


def test_add_vary_origin_merges() -> None:
    assert add_vary_origin([("Vary", "Accept-Encoding")]) == [("Vary", "Accept-Encoding, Origin")]
    assert add_vary_origin([("vary", "origin")]) == [("vary", "origin")]
    assert add_vary_origin([("Vary", "*")]) == [("Vary", "*")]
    assert add_vary_origin([("Content-Type", JSON)]) == [("Content-Type", JSON), ("Vary", "Origin")]


# --- The command line -------------------------------------------------------------------------


def test_cli_collects_origins() -> None:
    args = build_parser().parse_args(["serve", "--cors", "HTTP://LocalHost:5173", "--cors", "*"])

    assert args.cors == [ORIGIN, "*"]


def test_cli_default_has_no_origins() -> None:
    assert build_parser().parse_args(["serve"]).cors == []


def test_cli_rejects_invalid_origin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--cors", "http://localhost:5173/"])

    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "coder-mock serve: error: argument --cors: invalid origin 'http://localhost:5173/': an origin has no"
        " user, path, query or fragment; use 'http://localhost:5173'.")


# --- Errors the HTTP server sends before the app ----------------------------------------------


@pytest.fixture
def cors_port(store: Store) -> Iterator[int]:
    server = bind(create_app(store, quiet=True, cors_origins=[ORIGIN]), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=SOCKET_TIMEOUT_SECONDS)


def exchange(port: int, data: bytes, responses: int = 1) -> list[tuple[str, dict[str, str]]]:
    """Send raw bytes and read `responses` response heads as (status line, headers by lower-case name)."""
    heads = []
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_SECONDS) as sock:
        sock.sendall(data)
        reader = sock.makefile("rb")
        for _ in range(responses):
            status = reader.readline().decode("latin-1").rstrip("\r\n")
            headers: dict[str, str] = {}
            while (line := reader.readline().decode("latin-1")) not in ("\r\n", ""):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            reader.read(int(headers.get("content-length", "0")))
            heads.append((status, headers))
        reader.close()
    return heads


def lower_cors(headers: dict[str, str]) -> dict[str, str]:
    names = {name.lower() for name in CORS_NAMES}
    return {name: value for name, value in headers.items() if name in names}


def lowered(expected: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in expected.items()}


def test_server_error_with_origin_has_cors(cors_port: int) -> None:
    data = (f"POST /api/v2/csp/reports HTTP/1.1\r\nHost: a\r\nOrigin: {ORIGIN}\r\nExpect: teapot\r\n"
            "Content-Length: 2\r\n\r\n{}").encode()

    [(status, headers)] = exchange(cors_port, data)

    assert status == "HTTP/1.1 417 Expectation Failed"
    assert lower_cors(headers) == lowered(actual_headers())
    assert headers["vary"] == "Origin"


def test_server_error_other_origin_has_none(cors_port: int) -> None:
    data = f"GET / HTTP/1.1\r\nHost: a\r\nOrigin: {OTHER_ORIGIN}\r\nTransfer-Encoding: gzip\r\n\r\n".encode()

    [(status, headers)] = exchange(cors_port, data)

    assert status == "HTTP/1.1 501 Not Implemented"
    assert lower_cors(headers) == {}
    assert headers["vary"] == "Origin"


def test_error_before_headers_has_none(cors_port: int) -> None:
    # The first request sets an Origin; the second is rejected before its headers are read.
    data = f"GET /api/v2/ HTTP/1.1\r\nHost: a\r\nOrigin: {ORIGIN}\r\n\r\nGET / HTTP/1.1\r\nBad header\r\n\r\n".encode()

    [(first_status, first), (second_status, second)] = exchange(cors_port, data, responses=2)

    assert first_status == "HTTP/1.1 200 OK"
    assert lower_cors(first) == lowered(actual_headers())
    assert second_status == "HTTP/1.1 400 Bad Request"
    assert lower_cors(second) == {}


def test_preflight_over_socket(cors_port: int, store: Store) -> None:
    data = (f"OPTIONS /api/v2/buildinfo HTTP/1.1\r\nHost: a\r\nOrigin: {ORIGIN}\r\n"
            "Access-Control-Request-Method: GET\r\n\r\nGET /api/v2/buildinfo HTTP/1.1\r\nHost: a\r\n"
            f"Origin: {ORIGIN}\r\n\r\n").encode()

    [(preflight_status, preflight_head), (status, head)] = exchange(cors_port, data, responses=2)

    assert preflight_status == "HTTP/1.1 204 No Content"
    assert lower_cors(preflight_head) == lowered(preflight_headers("GET"))
    assert "content-length" not in preflight_head
    assert status == "HTTP/1.1 200 OK"
    assert lower_cors(head) == lowered(actual_headers())
    assert head["x-coder-build-version"] == store.active.version


def test_policy_stored_in_extensions(store: Store) -> None:
    app = create_app(store, quiet=True, cors_origins=[ORIGIN, "*"])

    assert app.extensions["coder_mock.cors"] == CorsPolicy(frozenset({ORIGIN}), True)
    assert isinstance(app.wsgi_app, cors.CorsMiddleware)


def test_policy_in_environ(store: Store) -> None:
    app = create_app(store, quiet=True, cors_origins=[ORIGIN])
    seen = []

    @app.get("/api/v2/probe")
    def probe() -> str:
        seen.append(request.environ.get("coder_mock.cors"))
        return "ok"

    app.test_client().get("/api/v2/probe")

    assert seen == [CorsPolicy(frozenset({ORIGIN}), False)]
