"""Sessions: isolated scenarios, tokens and journals for clients of one shared server."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from flask.testing import FlaskClient

from coder_mock import store as store_module
from coder_mock.app import create_app
from coder_mock.catalog import Catalog, load_catalog
from coder_mock.cli import build_parser
from coder_mock.journal import Filters
from coder_mock.server import bind
from coder_mock.state import open_backend
from coder_mock.store import Store
from conftest import BUILTIN_SCENARIOS, OWNER_TOKEN
from state_helpers import redis_server, redis_url  # noqa: F401 (pytest fixtures)

DEFAULT_VERSION = "v2.22.1+f724638"
DEV_BUILD_VERSION = "v0.0.0-devel+4bd8c1e"
RC_VERSION = "v2.22.0-rc.1"
HEADER = "Coder-Mock-Session"
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9]{10}-[A-Za-z0-9]{22}$")
TIME_PATTERN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
SESSION_FIELDS = ["id", "scenario", "seed", "profile", "created_at", "last_used_at", "tokens"]
SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."
DEADLINE_SECONDS = 10.0
HTTP_TIMEOUT_SECONDS = 30.0

EXPIRED_USER_SCENARIO = """\
extends: default
description: Alice is an owner; Bob's only token expired.
users:
  - username: alice
    roles: [owner]
    tokens:
      - token: aliceToken-abcdefghijklmnopqrstuv
  - username: bob
    roles: [member]
    tokens:
      - token: bobTokenXY-abcdefghijklmnopqrstuv
        expires_at: "2025-01-01T00:00:00Z"
"""


def create(client: FlaskClient, body: Any) -> dict[str, Any]:
    response = client.post("/__admin/sessions", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def version_of(client: FlaskClient, **kwargs: Any) -> str:
    response = client.get("/api/v2/buildinfo", **kwargs)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == response.headers["X-Coder-Build-Version"]
    return response.headers["X-Coder-Build-Version"]


@pytest.fixture
def custom_catalog(tmp_path: Path) -> Catalog:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "expired-bob.yaml").write_text(EXPIRED_USER_SCENARIO)
    return load_catalog([folder])


# --- Creating and listing ----------------------------------------------------------


def test_create_returns_session(client: FlaskClient) -> None:
    response = client.post("/__admin/sessions", json={"scenario": "dev-build", "seed": 7, "profile": "reference"})

    assert response.status_code == 201
    assert response.content_type == "application/json; charset=utf-8"
    body = response.get_json()
    assert list(body) == SESSION_FIELDS
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", body["id"])
    assert (body["scenario"], body["seed"], body["profile"]) == ("dev-build", 7, "reference")
    assert TIME_PATTERN.match(body["created_at"])
    assert body["last_used_at"] == body["created_at"]
    assert [(token["username"], token["roles"]) for token in body["tokens"]] == [("admin", ["owner"]),
                                                                                  ("member", ["member"])]
    for token in body["tokens"]:
        assert TOKEN_PATTERN.match(token["token"])
        assert list(token) == ["username", "roles", "token"]


def test_create_defaults_seed_and_profile(client: FlaskClient) -> None:
    body = create(client, {"scenario": "outdated"})

    assert (body["scenario"], body["seed"], body["profile"]) == ("outdated", 1, "wire")


def test_tokens_unique_per_session(client: FlaskClient) -> None:
    tokens = [token["token"] for _ in range(5) for token in create(client, {"scenario": "default"})["tokens"]]

    assert len(set(tokens)) == 10
    assert len({token.split("-")[0] for token in tokens}) == 10
    assert OWNER_TOKEN not in tokens


def test_list_sessions_oldest_first(client: FlaskClient) -> None:
    first = create(client, {"scenario": "dev-build"})
    second = create(client, {"scenario": "minimal", "seed": 2})

    response = client.get("/__admin/sessions")

    assert response.status_code == 200
    listed = response.get_json()["sessions"]
    assert [session["id"] for session in listed] == [first["id"], second["id"]]
    assert listed[1]["scenario"] == "minimal"
    assert listed[1]["tokens"] == second["tokens"]


def test_list_sessions_empty(client: FlaskClient) -> None:
    assert client.get("/__admin/sessions").get_json() == {"sessions": []}


NAMES = sorted(BUILTIN_SCENARIOS)


@pytest.mark.parametrize(("body", "status", "expected"), [
    ("{", 400, {"message": "Request body must be valid JSON.",
                "detail": 'Expecting property name enclosed in double quotes: line 1 column 2 (char 1); send'
                          ' {"scenario": "<scenario>", "seed": <optional integer>}.'}),
    ("[]", 400, {"message": 'Request body must be a JSON object such as {"scenario": "outdated"}.'}),
    ("{}", 400, {"message": 'Missing "scenario": give the scenario to switch to, such as {"scenario": "outdated"}.',
                 "available": NAMES}),
    ('{"scenario": 3}', 400, {"message": 'Invalid "scenario" 3: give the scenario name as a string.',
                              "available": NAMES}),
    ('{"scenario": "../etc"}', 400, {"message": 'Invalid scenario name "../etc": use letters, digits, - and _ only.',
                                     "available": NAMES}),
    ('{"scenario": "default", "seed": "3"}', 400, {"message": 'Invalid "seed" "3": give an integer or leave it out.'}),
    ('{"scenario": "default", "seed": 9223372036854775808}', 400,
     {"message": 'Invalid "seed" 9223372036854775808: outside the range of a 64-bit integer, as in scenario files.'}),
    ('{"scenario": "default", "profile": "draft"}', 400,
     {"message": 'Invalid "profile" "draft": use "wire" or "reference", or leave it out.'}),
    ('{"scenario": "nope"}', 404, {"message": 'Scenario "nope" not found.', "available": NAMES}),
])
def test_create_rejects_bad_body(client: FlaskClient, body: str, status: int, expected: dict[str, Any]) -> None:
    response = client.post("/__admin/sessions", data=body)

    assert response.status_code == status
    assert response.get_json() == expected
    assert client.get("/__admin/sessions").get_json() == {"sessions": []}


@pytest.mark.parametrize("body", ["{}", '{"name": 3}', '{"name": "../etc"}', '{"name": "nope"}',
                                  '{"name": "default", "seed": "3"}', '{"name": "default", "profile": "draft"}'])
def test_create_messages_match_switch(client: FlaskClient, body: str) -> None:
    switched = client.put("/__admin/scenario", data=body)
    created = client.post("/__admin/sessions", data=body.replace('"name"', '"scenario"'))

    assert created.status_code == switched.status_code
    assert created.get_json() == renamed(switched.get_json())


def renamed(value: Any) -> Any:
    """Return a PUT /__admin/scenario error body with its "name" member written as "scenario"."""
    if isinstance(value, str):
        return value.replace('"name"', '"scenario"')
    if isinstance(value, dict):
        return {key: renamed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [renamed(item) for item in value]
    return value


# --- Which session a request belongs to ----------------------------------------------


def test_header_selects_session(client: FlaskClient) -> None:
    session = create(client, {"scenario": "dev-build"})

    assert version_of(client, headers={HEADER: session["id"]}) == DEV_BUILD_VERSION
    assert version_of(client) == DEFAULT_VERSION


@pytest.mark.parametrize("source", ["cookie", "query", "header", "bearer", "access_token"])
def test_token_selects_session(client: FlaskClient, source: str) -> None:
    session = create(client, {"scenario": "dev-build"})
    token = session["tokens"][0]["token"]
    path = "/api/v2/deployment/config"
    if source == "cookie":
        client.set_cookie("coder_session_token", token)
        response = client.get(path)
    elif source == "query":
        response = client.get(f"{path}?coder_session_token={token}")
    elif source == "header":
        response = client.get(path, headers={"Coder-Session-Token": token})
    elif source == "bearer":
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    else:
        response = client.get(f"{path}?access_token={token}")

    assert response.status_code == 200
    assert response.headers["X-Coder-Build-Version"] == DEV_BUILD_VERSION


def test_scenario_token_works_in_session(client: FlaskClient) -> None:
    session = create(client, {"scenario": "dev-build"})

    headers = {HEADER: session["id"], "Coder-Session-Token": OWNER_TOKEN}
    response = client.get("/api/v2/deployment/config", headers=headers)

    assert response.status_code == 200
    assert response.headers["X-Coder-Build-Version"] == DEV_BUILD_VERSION


def test_session_token_unknown_outside_session(client: FlaskClient) -> None:
    first = create(client, {"scenario": "dev-build"})
    second = create(client, {"scenario": "release-candidate"})
    token = first["tokens"][0]["token"]

    response = client.get("/api/v2/deployment/config", headers={HEADER: second["id"], "Coder-Session-Token": token})

    # The header wins over the token, and the other session does not know the token.
    assert response.status_code == 401
    assert response.headers["X-Coder-Build-Version"] == RC_VERSION
    assert response.get_json() == {"message": SIGNED_OUT, "detail": "API key is invalid."}


def test_member_token_gets_member_answers(client: FlaskClient) -> None:
    session = create(client, {"scenario": "default"})
    member = session["tokens"][1]["token"]

    config = client.get("/api/v2/deployment/config", headers={"Coder-Session-Token": member})
    token_config = client.get("/api/v2/users/me/keys/tokens/tokenconfig", headers={"Coder-Session-Token": member})

    assert config.status_code == 403
    assert token_config.status_code == 200


def test_expired_user_token_rejected(custom_catalog: Catalog) -> None:
    store = Store(custom_catalog, "default")
    client = create_app(store, quiet=True).test_client()
    session = create(client, {"scenario": "expired-bob"})
    tokens = {token["username"]: token["token"] for token in session["tokens"]}

    alice = client.get("/api/v2/deployment/config", headers={"Coder-Session-Token": tokens["alice"]})
    bob = client.get("/api/v2/experiments", headers={"Coder-Session-Token": tokens["bob"]})

    assert alice.status_code == 200
    assert bob.status_code == 401
    assert bob.get_json() == {"message": SIGNED_OUT,
                              "detail": 'API key expired at "2025-01-01 00:00:00 +0000 UTC".'}


def test_switch_issues_tokens_for_new_users(custom_catalog: Catalog) -> None:
    store = Store(custom_catalog, "default")
    client = create_app(store, quiet=True).test_client()
    session = create(client, {"scenario": "expired-bob"})
    alice = session["tokens"][0]["token"]

    switched = client.put("/__admin/scenario", json={"name": "default"}, headers={HEADER: session["id"]})
    listed = client.get("/__admin/sessions").get_json()["sessions"][0]

    assert switched.status_code == 200
    assert [token["username"] for token in listed["tokens"]] == ["admin", "member"]
    admin = listed["tokens"][0]["token"]
    assert client.get("/api/v2/deployment/config", headers={"Coder-Session-Token": admin}).status_code == 200
    # Alice's token still routes to the session, whose scenario no longer has her.
    response = client.get("/api/v2/deployment/config", headers={"Coder-Session-Token": alice})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "API key is invalid."
    assert response.headers["X-Coder-Build-Version"] == DEFAULT_VERSION


def test_unknown_session_header(client: FlaskClient) -> None:
    response = client.get("/api/v2/buildinfo", headers={HEADER: "no-such-session"})

    assert response.status_code == 404
    assert response.content_type == "application/json; charset=utf-8"
    assert response.get_json() == {
        "message": 'Unknown coder-mock session "no-such-session".',
        "detail": "No session has this id: it was never created, was ended, or sat idle too long. Create one with"
                  " POST /__admin/sessions and send its id in the Coder-Mock-Session header, or leave the header out.",
    }
    assert response.headers["X-Coder-Build-Version"] == DEFAULT_VERSION


@pytest.mark.parametrize("path", ["/__admin/scenario", "/__admin/requests", "/healthz"])
def test_unknown_session_header_everywhere(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers={HEADER: "gone"})

    assert response.status_code == 404
    assert response.get_json()["message"] == 'Unknown coder-mock session "gone".'


def test_empty_session_header_ignored(client: FlaskClient) -> None:
    create(client, {"scenario": "dev-build"})

    assert version_of(client, headers={HEADER: ""}) == DEFAULT_VERSION


# --- Ending sessions --------------------------------------------------------------------


def test_delete_ends_session(client: FlaskClient) -> None:
    session = create(client, {"scenario": "dev-build"})
    token = session["tokens"][0]["token"]

    response = client.delete(f"/__admin/sessions/{session['id']}")

    assert response.status_code == 204
    assert response.data == b""
    assert client.get("/__admin/sessions").get_json() == {"sessions": []}
    assert client.get("/api/v2/buildinfo", headers={HEADER: session["id"]}).status_code == 404
    ended = client.get("/api/v2/deployment/config", headers={"Coder-Session-Token": token})
    assert ended.status_code == 401
    assert ended.get_json()["detail"] == "API key is invalid."
    assert ended.headers["X-Coder-Build-Version"] == DEFAULT_VERSION


def test_delete_unknown_session(client: FlaskClient) -> None:
    response = client.delete("/__admin/sessions/nope")

    assert response.status_code == 404
    assert response.get_json() == {"message": 'Session "nope" not found.',
                                   "detail": "GET /__admin/sessions lists the live sessions."}


class FakeClock:
    """Stands in for the time module inside coder_mock.store."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_idle_limit_with_clock(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(1_000_000.0)
    monkeypatch.setattr(store_module, "time", clock)
    store = Store(catalog, "default", session_idle=1800)
    client = create_app(store, quiet=True).test_client()
    session = create(client, {"scenario": "dev-build"})

    clock.now += 1799
    assert version_of(client, headers={HEADER: session["id"]}) == DEV_BUILD_VERSION
    clock.now += 1799
    assert version_of(client, headers={HEADER: session["id"]}) == DEV_BUILD_VERSION
    listed = client.get("/__admin/sessions").get_json()["sessions"]
    assert listed[0]["last_used_at"] == "1970-01-12T14:46:38.000000Z"
    clock.now += 1801

    assert client.get("/api/v2/buildinfo", headers={HEADER: session["id"]}).status_code == 404
    assert client.get("/__admin/sessions").get_json() == {"sessions": []}


def test_idle_sessions_swept_without_use(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(1_000_000.0)
    monkeypatch.setattr(store_module, "time", clock)
    store = Store(catalog, "default", session_idle=100)
    client = create_app(store, quiet=True).test_client()
    session = create(client, {"scenario": "dev-build"})
    assert store.has_sessions() is True

    clock.now += 101
    # Any request runs the sweep once it is due, so the fast path comes back without a session request.
    assert version_of(client) == DEFAULT_VERSION

    assert store.has_sessions() is False
    assert store.session_for_token(session["tokens"][0]["token"]) is None


def test_idle_session_collected(catalog: Catalog) -> None:
    store = Store(catalog, "default", session_idle=0.3)
    client = create_app(store, quiet=True).test_client()
    create(client, {"scenario": "dev-build"})

    deadline = time.monotonic() + DEADLINE_SECONDS
    while client.get("/__admin/sessions").get_json()["sessions"] and time.monotonic() < deadline:
        time.sleep(0.05)

    assert client.get("/__admin/sessions").get_json() == {"sessions": []}


@pytest.mark.parametrize(("value", "expected"), [("1800", 1800.0), ("0.5", 0.5)])
def test_session_idle_option(value: str, expected: float) -> None:
    args = build_parser().parse_args(["serve", "--session-idle", value])

    assert args.session_idle == expected


def test_session_idle_default() -> None:
    assert build_parser().parse_args(["serve"]).session_idle == 1800.0


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_session_idle_rejected(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--session-idle", value])

    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"coder-mock serve: error: argument --session-idle: invalid idle time {value!r}; give a positive number"
        " of seconds, such as 1800")


# --- Admin endpoints scoped by the header --------------------------------------------------


def test_admin_scenario_scoped(client: FlaskClient) -> None:
    session = create(client, {"scenario": "dev-build", "seed": 3})
    scoped = {HEADER: session["id"]}

    assert client.get("/__admin/scenario", headers=scoped).get_json()["name"] == "dev-build"
    switched = client.put("/__admin/scenario", json={"name": "release-candidate", "profile": "reference"},
                          headers=scoped)
    assert switched.status_code == 200
    assert switched.headers["X-Coder-Build-Version"] == RC_VERSION
    assert switched.get_json()["profile"] == "reference"
    assert version_of(client, headers=scoped) == RC_VERSION
    assert client.get("/__admin/scenario").get_json()["name"] == "default"
    assert version_of(client) == DEFAULT_VERSION

    # A later switch in the session keeps the session's profile, as the global scope does.
    later = client.put("/__admin/scenario", json={"name": "minimal"}, headers=scoped)
    assert later.get_json()["profile"] == "reference"

    reset = client.post("/__admin/reset", headers=scoped)
    assert reset.status_code == 200
    assert (reset.get_json()["name"], reset.get_json()["seed"], reset.get_json()["profile"]) == ("dev-build", 3, "wire")
    assert client.get("/__admin/health", headers=scoped).get_json()["scenario"] == "dev-build"
    assert client.get("/__admin/health").get_json()["scenario"] == "default"


def test_global_switch_leaves_sessions(client: FlaskClient) -> None:
    session = create(client, {"scenario": "dev-build"})

    client.put("/__admin/scenario", json={"name": "release-candidate"})

    assert version_of(client) == RC_VERSION
    assert version_of(client, headers={HEADER: session["id"]}) == DEV_BUILD_VERSION
    client.post("/__admin/reset")
    assert version_of(client, headers={HEADER: session["id"]}) == DEV_BUILD_VERSION


def test_admin_scenarios_marks_session_active(client: FlaskClient) -> None:
    session = create(client, {"scenario": "dev-build"})

    listed = client.get("/__admin/scenarios", headers={HEADER: session["id"]}).get_json()["scenarios"]

    assert [entry["name"] for entry in listed if entry["active"]] == ["dev-build"]


def test_switch_unknown_scenario_in_session(client: FlaskClient) -> None:
    session = create(client, {"scenario": "dev-build"})

    response = client.put("/__admin/scenario", json={"name": "nope"}, headers={HEADER: session["id"]})

    assert response.status_code == 404
    assert response.get_json() == {"message": 'Scenario "nope" not found.', "available": NAMES}
    assert version_of(client, headers={HEADER: session["id"]}) == DEV_BUILD_VERSION


# --- Journals --------------------------------------------------------------------------------


def test_journal_entries_carry_session(client: FlaskClient) -> None:
    session = create(client, {"scenario": "dev-build"})
    client.get("/api/v2/buildinfo")
    client.get("/api/v2/buildinfo", headers={HEADER: session["id"]})
    client.get("/api/v2/experiments", headers={"Coder-Session-Token": session["tokens"][1]["token"]})

    everything = client.get("/__admin/requests?path_prefix=/api/").get_json()["requests"]
    scoped = client.get("/__admin/requests", headers={HEADER: session["id"]}).get_json()["requests"]
    filtered = client.get(f"/__admin/requests?session={session['id']}").get_json()["requests"]

    assert [(entry["path"], entry["session"], entry["scenario"]) for entry in everything] == [
        ("/api/v2/buildinfo", None, "default"),
        ("/api/v2/buildinfo", session["id"], "dev-build"),
        ("/api/v2/experiments", session["id"], "dev-build"),
    ]
    assert [entry["path"] for entry in scoped] == ["/api/v2/buildinfo", "/api/v2/experiments"]
    assert filtered == scoped
    count = client.get("/__admin/requests/count", headers={HEADER: session["id"]}).get_json()
    assert count == {"count": 2}


def test_journal_clear_scoped(client: FlaskClient) -> None:
    first = create(client, {"scenario": "dev-build"})
    second = create(client, {"scenario": "minimal"})
    for session in (first, second):
        client.get("/api/v2/buildinfo", headers={HEADER: session["id"]})
    client.get("/api/v2/buildinfo")

    cleared = client.delete("/__admin/requests", headers={HEADER: first["id"]})

    assert cleared.get_json() == {"cleared": 1}
    remaining = client.get("/__admin/requests?path_prefix=/api/").get_json()["requests"]
    assert [entry["session"] for entry in remaining] == [second["id"], None]


def test_journal_session_filter_conflict(client: FlaskClient) -> None:
    session = create(client, {"scenario": "dev-build"})

    response = client.get("/__admin/requests?session=other", headers={HEADER: session["id"]})

    assert response.status_code == 400
    assert response.get_json() == {"message": 'Query parameter "session" "other" names another session than the'
                                              " Coder-Mock-Session header: leave one of them out."}


def test_session_journal_shares_ring(catalog: Catalog) -> None:
    store = Store(catalog, "default", journal_size=3)
    client = create_app(store, quiet=True).test_client()
    session = create(client, {"scenario": "dev-build"})

    for _ in range(4):
        client.get("/api/v2/buildinfo", headers={HEADER: session["id"]})

    assert len(store.journal) == 3
    assert client.get("/__admin/requests/count", headers={HEADER: session["id"]}).get_json() == {"count": 3}


# --- Parallel clients over a real socket --------------------------------------------------------

SESSIONS = 8
REQUESTS_PER_SESSION = 200
REQUESTS_PER_SWITCH = 20
ROTATION = ("dev-build", "release-candidate", "default")


@pytest.fixture(params=["memory", "sqlite", "redis"])
def live_store(request: pytest.FixtureRequest, catalog: Catalog, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        spec = "memory"
    elif request.param == "sqlite":
        spec = f"sqlite:{tmp_path / 'state.db'}"
    else:
        spec = request.getfixturevalue("redis_url")
    # Room for every request of the test, so the journal counts below are exact.
    store = Store(catalog, "default", journal_size=4000, state=open_backend(spec))
    yield store
    store.close()


@pytest.fixture
def live_address(live_store: Store) -> Iterator[tuple[str, int]]:
    server = bind(create_app(live_store, quiet=True), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, name="coder-mock-sessions-server", daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=DEADLINE_SECONDS)
    assert not thread.is_alive(), "the test server thread did not stop"


def exchange(connection: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str],
             body: Any = None) -> tuple[int, str | None, bytes]:
    payload = None if body is None else json.dumps(body).encode()
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    return response.status, response.getheader("X-Coder-Build-Version"), response.read()


def run_client(address: tuple[str, int], index: int, session: dict[str, Any] | None,
               expected: Callable[[str, int], bytes], versions: dict[str, str], start: threading.Barrier,
               errors: list[str], counts: list[int]) -> None:
    """Switch a session (or the global scope) through ROTATION and check every buildinfo response."""
    connection = http.client.HTTPConnection(*address, timeout=HTTP_TIMEOUT_SECONDS)
    seed = 100 + index
    label = session["id"] if session else "global"
    try:
        start.wait(timeout=DEADLINE_SECONDS)
        for number in range(REQUESTS_PER_SESSION):
            scenario = ROTATION[(number // REQUESTS_PER_SWITCH) % len(ROTATION)]
            admin_headers = {HEADER: session["id"]} if session else {}
            if number % REQUESTS_PER_SWITCH == 0:
                status, _, body = exchange(connection, "PUT", "/__admin/scenario", admin_headers,
                                           {"name": scenario, "seed": seed})
                if status != 200:
                    errors.append(f"{label}: switch to {scenario} answered {status} {body!r}")
                    return
            if session is None:
                headers = {}
            elif number % 2:
                headers = {HEADER: session["id"]}
            else:
                # Half of the requests find their session by token alone.
                headers = {"Authorization": f"Bearer {session['tokens'][0]['token']}"}
            status, version, body = exchange(connection, "GET", "/api/v2/buildinfo", headers)
            if (status, version, body) != (200, versions[scenario], expected(scenario, seed)):
                errors.append(f"{label} request {number}: expected {scenario} at seed {seed}, got {status} {version}"
                              f" {body[:200]!r}")
                return
            counts[index] += 1
    except Exception as error:  # noqa: BLE001 (reported through `errors`)
        errors.append(f"{label}: {error!r}")
    finally:
        connection.close()


def test_parallel_sessions_isolated(live_address: tuple[str, int], live_store: Store, catalog: Catalog) -> None:
    setup = http.client.HTTPConnection(*live_address, timeout=HTTP_TIMEOUT_SECONDS)
    sessions = []
    for index in range(SESSIONS):
        status, _, body = exchange(setup, "POST", "/__admin/sessions", {}, {"scenario": "default", "seed": 100 + index})
        assert status == 201
        sessions.append(json.loads(body))
    setup.close()
    versions = {name: catalog.rendered(name).version for name in ROTATION}
    assert len(set(versions.values())) == len(ROTATION)
    bodies: dict[tuple[str, int], bytes] = {}
    for name in ROTATION:
        for seed in range(100, 100 + SESSIONS + 1):
            bodies[(name, seed)] = catalog.rendered(name, seed).replies["build-info"].body
    assert len(set(bodies.values())) == len(bodies)

    errors: list[str] = []
    counts = [0] * (SESSIONS + 1)
    start = threading.Barrier(SESSIONS + 1)
    threads = [
        threading.Thread(target=run_client, args=(live_address, index, session, lambda name, seed: bodies[(name, seed)],
                                                  versions, start, errors, counts))
        for index, session in enumerate([*sessions, None])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert not any(thread.is_alive() for thread in threads), "a client thread did not finish"
    assert errors == []
    assert counts == [REQUESTS_PER_SESSION] * (SESSIONS + 1)
    journal = live_store.journal
    per_client = REQUESTS_PER_SESSION + REQUESTS_PER_SESSION // REQUESTS_PER_SWITCH
    for session in sessions:
        assert journal.count(Filters(session=session["id"])) == per_client
    assert len(journal) == SESSIONS + (SESSIONS + 1) * per_client


# --- Replacing the catalog --------------------------------------------------------------------


def test_replace_catalog_rerenders_sessions(catalog: Catalog, custom_catalog: Catalog) -> None:
    store = Store(catalog, "dev-build")
    client = create_app(store, quiet=True).test_client()
    session = create(client, {"scenario": "release-candidate", "seed": 5})

    store.replace_catalog(custom_catalog)

    assert store.catalog is custom_catalog
    assert store.active is custom_catalog.rendered("dev-build")
    assert version_of(client, headers={HEADER: session["id"]}) == RC_VERSION
    assert store.view(session["id"]).world is custom_catalog.rendered("release-candidate", 5).world
    token = session["tokens"][0]["token"]
    assert client.get("/api/v2/deployment/config", headers={"Coder-Session-Token": token}).status_code == 200


def test_replace_catalog_keeps_removed_session_scenario(catalog: Catalog, custom_catalog: Catalog) -> None:
    store = Store(custom_catalog, "default")
    client = create_app(store, quiet=True).test_client()
    session = create(client, {"scenario": "expired-bob"})
    served = store.view(session["id"])

    store.replace_catalog(catalog)

    # The new catalog lacks expired-bob, so the session serves it until it switches.
    assert store.catalog is catalog
    assert store.view(session["id"]) is served
    assert store.active is catalog.rendered("default")
