"""The fast path sends exactly what Flask's routes send, and writes the same log line and journal entry.

Each request is sent twice to apps built alike: once as served, where the
fast path takes it, and once with `fast_path_applies` patched to return
False, so that Flask's route serves it. Status line, header list, body
bytes and journal entry (its time aside) must be equal.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Iterator

import pytest
from flask import Flask, request_started
from werkzeug.test import Client

from coder_mock import fastpath
from coder_mock.app import create_app
from coder_mock.catalog import Catalog
from coder_mock.differences import PROFILES
from coder_mock.store import Store
from conftest import BUILTIN_SCENARIOS, EXPIRED_TOKEN, MEMBER_ID, MEMBER_TOKEN, OWNER_ID, OWNER_TOKEN, UNKNOWN_TOKEN

PATHS = (
    "/api/v2",
    "/api/v2/",
    "/api/v2/buildinfo",
    "/api/v2/deployment/config",
    "/api/v2/deployment/ssh",
    "/api/v2/deployment/stats",
    "/api/v2/experiments",
    "/api/v2/experiments/available",
    "/api/v2/updatecheck",
    "/api/v2/users/me/keys/tokens/tokenconfig",
    "/api/v2/users/admin/keys/tokens/tokenconfig",
    "/api/v2/users/member/keys/tokens/tokenconfig",
    f"/api/v2/users/{OWNER_ID}/keys/tokens/tokenconfig",
    f"/api/v2/users/{MEMBER_ID}/keys/tokens/tokenconfig",
)
"""Every path the fast table of the `default` scenario holds."""

# Auth state -> (headers, query string) of the request.
AUTH_STATES: dict[str, tuple[dict[str, str], str]] = {
    "none": ({}, ""),
    "owner header": ({"Coder-Session-Token": OWNER_TOKEN}, ""),
    "member header": ({"Coder-Session-Token": MEMBER_TOKEN}, ""),
    "expired": ({"Coder-Session-Token": EXPIRED_TOKEN}, ""),
    "malformed": ({"Coder-Session-Token": "abc"}, ""),
    "unknown": ({"Coder-Session-Token": UNKNOWN_TOKEN}, ""),
    "wrong secret": ({"Coder-Session-Token": OWNER_TOKEN[:-1] + "X"}, ""),
    "owner bearer": ({"Authorization": f"Bearer {OWNER_TOKEN}"}, ""),
    "member bearer": ({"Authorization": f"bearer {MEMBER_TOKEN}"}, ""),
    "owner cookie": ({"Cookie": f"theme=dark; coder_session_token={OWNER_TOKEN}"}, ""),
    "member cookie": ({"Cookie": f"coder_session_token={MEMBER_TOKEN}"}, ""),
    "owner query": ({}, f"coder_session_token={OWNER_TOKEN}&x=1&x=2"),
    "member access_token": ({}, f"access_token={MEMBER_TOKEN}"),
    "cookie before header": ({"Cookie": f"coder_session_token={MEMBER_TOKEN}",
                              "Coder-Session-Token": OWNER_TOKEN}, ""),
}

FIXED_NOW = 1_800_000_030.25


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Freeze time.time, which the 429 headers X-Ratelimit-Reset and Retry-After read."""
    monkeypatch.setattr(time, "time", lambda: FIXED_NOW)


def flask_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastpath, "fast_path_applies", lambda store, environ: False)


def without_time(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != "time"}


class Recorder:
    """Counts the requests that reach Flask's dispatch."""

    def __init__(self, app: Flask) -> None:
        self.count = 0
        request_started.connect(self.started, app)

    def started(self, sender: Flask, **extra: Any) -> None:
        self.count += 1


def send(app: Flask, path: str, headers: dict[str, str], query: str, method: str = "GET") -> tuple[str, list, bytes]:
    response = Client(app).open(path, method=method, headers=headers, query_string=query)
    return response.status, response.headers.to_wsgi_list(), response.get_data()


# Scenarios with fault rules are served through Flask, where the rules apply.
WITH_FAULTS = {"flaky"}


def scenario_profile_pairs() -> Iterator[tuple[str, str]]:
    for scenario in BUILTIN_SCENARIOS:
        if scenario in WITH_FAULTS:
            continue
        for profile in PROFILES:
            yield scenario, profile


@pytest.mark.parametrize(("scenario", "profile"), list(scenario_profile_pairs()))
def test_fast_path_matches_flask(catalog: Catalog, monkeypatch: pytest.MonkeyPatch,
                                 scenario: str, profile: str) -> None:
    fast_store = Store(catalog, scenario, profile=profile)
    fast_app = create_app(fast_store, quiet=True)
    flask_store = Store(catalog, scenario, profile=profile)
    flask_app = create_app(flask_store, quiet=True)
    fast_dispatches = Recorder(fast_app)
    flask_dispatches = Recorder(flask_app)

    cases = [(path, state) for path in PATHS for state in AUTH_STATES]
    fast = {}
    for path, state in cases:
        headers, query = AUTH_STATES[state]
        fast[path, state] = send(fast_app, path, headers, query)
    flask_only(monkeypatch)
    for path, state in cases:
        headers, query = AUTH_STATES[state]
        assert send(flask_app, path, headers, query) == fast[path, state], (path, state)

    assert fast_dispatches.count == 0
    assert flask_dispatches.count == len(cases)
    fast_entries = [without_time(entry) for entry in fast_store.journal.query()]
    flask_entries = [without_time(entry) for entry in flask_store.journal.query()]
    assert len(fast_entries) == len(cases)
    assert fast_entries == flask_entries


@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json", "Content-Length": "9000"},
    {"Content-Type": "text/plain", "Transfer-Encoding": "chunked"},
    {"X_Underscore": "dropped", "Accept": "a", "accept-language": "en"},
])
def test_body_headers_journaled_alike(catalog: Catalog, monkeypatch: pytest.MonkeyPatch,
                                      headers: dict[str, str]) -> None:
    entries = []
    for fast in (True, False):
        if not fast:
            flask_only(monkeypatch)
        store = Store(catalog, "default")
        app = create_app(store, quiet=True)
        Client(app).get("/api/v2/buildinfo", headers=headers, data=b"x" * 9000)
        entries.append(without_time(store.journal.query()[-1]))
    assert entries[0] == entries[1]
    assert entries[0]["body"] == ""


def test_fast_path_answers_expected_bytes(app: Flask, store: Store) -> None:
    status, headers, body = send(app, "/api/v2/buildinfo", {}, "")
    reply = store.active.replies["build-info"]
    assert status == "200 OK"
    assert headers == [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", str(len(reply.body))),
        ("X-Coder-Build-Version", store.active.version),
        ("X-Content-Type-Options", "nosniff"),
    ]
    assert body == reply.body


def test_rate_limit_headers_come_first(catalog: Catalog) -> None:
    app = create_app(Store(catalog, "rate-limited"), quiet=True)
    status, headers, _ = send(app, "/api/v2/buildinfo", {}, "")
    assert status == "429 Too Many Requests"
    assert [name for name, _ in headers] == [
        "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "Retry-After",
        "Content-Type", "Content-Length", "X-Coder-Build-Version", "X-Content-Type-Options",
    ]
    assert dict(headers)["X-Ratelimit-Reset"] == "1800000060"
    assert dict(headers)["Retry-After"] == "30"


def test_access_log_line_matches_flask(catalog: Catalog, monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(Store(catalog, "default"), quiet=False)
    caplog.set_level(logging.INFO, logger="coder_mock.access")
    for path, state in [("/api/v2/deployment/config", "member header"), ("/api/v2/buildinfo", "owner query")]:
        headers, query = AUTH_STATES[state]
        send(app, path, headers, query)
    flask_only(monkeypatch)
    for path, state in [("/api/v2/deployment/config", "member header"), ("/api/v2/buildinfo", "owner query")]:
        headers, query = AUTH_STATES[state]
        send(app, path, headers, query)

    lines = [re.sub(r" [0-9.]+ms$", " <elapsed>ms", record.getMessage()) for record in caplog.records
             if record.name == "coder_mock.access"]
    assert lines == [
        "GET /api/v2/deployment/config 403 get-deployment-config <elapsed>ms",
        "GET /api/v2/buildinfo 200 build-info <elapsed>ms",
    ] * 2


def test_quiet_app_logs_nothing(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="coder_mock.access")
    send(app, "/api/v2/buildinfo", {}, "")
    assert [record for record in caplog.records if record.name == "coder_mock.access"] == []


def test_journal_off_records_nothing(catalog: Catalog) -> None:
    store = Store(catalog, "default", journal_size=0)
    app = create_app(store, quiet=True)
    status, _, _ = send(app, "/api/v2/buildinfo", {}, "")
    assert status == "200 OK"
    assert store.journal.query() == []


def test_journal_entry_redacts_token(app: Flask, store: Store) -> None:
    send(app, "/api/v2/deployment/ssh", {"Authorization": f"Bearer {MEMBER_TOKEN}"}, f"access_token={MEMBER_TOKEN}")
    entry = store.journal.query()[-1]
    assert entry["headers"]["Authorization"] == "Bearer [REDACTED]"
    assert entry["query"] == {"access_token": ["[REDACTED]"]}
    assert entry["operation"] == "ssh-config"
    assert entry["status"] == 200
    assert entry["body"] == ""
    assert entry["body_truncated"] is False


def test_switch_rebuilds_table(app: Flask, store: Store) -> None:
    dispatches = Recorder(app)
    first = send(app, "/api/v2/buildinfo", {}, "")
    store.switch("dev-build")
    second = send(app, "/api/v2/buildinfo", {}, "")
    assert first[2] == Store(store.catalog, "default").active.replies["build-info"].body
    assert second[2] == store.active.replies["build-info"].body
    assert dict(second[1])["X-Coder-Build-Version"] == "v0.0.0-devel+4bd8c1e"
    assert dispatches.count == 0


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("HEAD", "/api/v2/buildinfo", {}),
    ("POST", "/api/v2/buildinfo", {}),
    ("GET", "/api/v2/buildinfo/", {}),
    ("GET", "/api/v2/users/ADMIN/keys/tokens/tokenconfig", {"Coder-Session-Token": OWNER_TOKEN}),
    ("GET", "/api/v2/users/nobody/keys/tokens/tokenconfig", {"Coder-Session-Token": OWNER_TOKEN}),
    ("GET", "/__admin/health", {}),
])
def test_other_requests_reach_flask(app: Flask, method: str, path: str, headers: dict[str, str]) -> None:
    dispatches = Recorder(app)
    send(app, path, headers, "", method)
    assert dispatches.count == 1


def test_collapsed_slashes_take_fast_path(app: Flask, store: Store) -> None:
    dispatches = Recorder(app)
    status, _, body = send(app, "/api//v2///buildinfo", {}, "")
    assert status == "200 OK"
    assert body == store.active.replies["build-info"].body
    assert dispatches.count == 0
    assert store.journal.query()[-1]["path"] == "/api/v2/buildinfo"


def test_predicate_false_sends_to_flask(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    dispatches = Recorder(app)
    seen = []

    def decline(store: Store, environ: dict[str, Any]) -> bool:
        seen.append(environ["PATH_INFO"])
        return False

    monkeypatch.setattr(fastpath, "fast_path_applies", decline)
    send(app, "/api/v2/buildinfo", {}, "")
    assert seen == ["/api/v2/buildinfo"]
    assert dispatches.count == 1


def test_fixed_routes_match_flask_routes(app: Flask) -> None:
    adapter = app.url_map.bind("localhost")
    for path, (operation, _) in fastpath.FIXED_ROUTES.items():
        endpoint, _ = adapter.match(path, method="GET")
        assert endpoint.startswith("general."), path
    general_get_rules = {rule.rule for rule in app.url_map.iter_rules()
                         if rule.endpoint.startswith("general.") and "GET" in rule.methods}
    assert general_get_rules == set(fastpath.FIXED_ROUTES) | {fastpath.TOKEN_CONFIG_PATH.replace("{user}", "<user>")}


def dispatches_to_flask(app: Flask, headers: dict[str, str] | None = None) -> int:
    recorder = Recorder(app)
    Client(app).get("/api/v2/buildinfo", headers=headers or {})
    return recorder.count


def test_fault_rules_take_requests_off_the_fast_path(catalog: Catalog) -> None:
    app = create_app(Store(catalog, "flaky"), quiet=True)
    assert dispatches_to_flask(app) == 1
    Client(app).delete("/__admin/faults")
    assert dispatches_to_flask(app) == 0


def test_sessions_take_requests_off_the_fast_path(catalog: Catalog) -> None:
    app = create_app(Store(catalog, "default"), quiet=True)
    session = Client(app).post("/__admin/sessions", json={"scenario": "outdated"}).get_json()["id"]
    assert dispatches_to_flask(app) == 1
    Client(app).delete(f"/__admin/sessions/{session}")
    assert dispatches_to_flask(app) == 0
    # A session header goes through Flask, which responds 404 for an unknown session.
    assert dispatches_to_flask(app, {"Coder-Mock-Session": "gone"}) == 1


def test_cors_takes_requests_off_the_fast_path(catalog: Catalog) -> None:
    app = create_app(Store(catalog, "default"), quiet=True, cors_origins=["http://localhost:5173"])
    assert dispatches_to_flask(app) == 1
