"""A state backend that fails while the server runs: a 500 envelope, one log line, and recovery."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Iterator

import pytest

from coder_mock.app import create_app
from coder_mock.catalog import Catalog
from coder_mock.state import open_backend
from coder_mock.store import Store
from conftest import OWNER_TOKEN
from state_helpers import RedisServer, start_redis

DEFAULT_VERSION = "v2.22.1+f724638"
CSP_REPORT = {"csp-report": {"document-uri": "https://coder.example.com/"}}


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone, which the test may halt and start again."""
    server = start_redis()
    yield server
    server.stop()


def failure_message(spec: str) -> str:
    return (f"The state backend {spec} failed. Start it again, and coder-mock serves the next request from it,"
            " or restart coder-mock with a working --state value.")


def state_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "coder_mock.state"]


def check_failure(response, spec: str) -> str:
    """Check the 500 envelope of a failed backend and return its detail."""
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["X-Coder-Build-Version"] == DEFAULT_VERSION
    body = json.loads(response.data)
    assert sorted(body) == ["detail", "message"]
    assert body["message"] == failure_message(spec)
    return body["detail"]


def test_stopped_redis_answers_envelope(catalog: Catalog, private_redis: RedisServer,
                                        caplog: pytest.LogCaptureFixture) -> None:
    spec = private_redis.url
    store = Store(catalog, "default", state=open_backend(spec))
    client = create_app(store, quiet=True).test_client()
    assert client.get("/api/v2/buildinfo").status_code == 200

    private_redis.halt()
    with caplog.at_level(logging.INFO):
        responses = {
            "fast path": client.get("/api/v2/buildinfo"),
            "fast path with token": client.get("/api/v2/deployment/config",
                                               headers={"Coder-Session-Token": OWNER_TOKEN}),
            "flask": client.post("/api/v2/csp/reports", json=CSP_REPORT),
            "admin read": client.get("/__admin/scenario"),
            "admin switch": client.put("/__admin/scenario", json={"name": "outdated"}),
            "journal": client.get("/__admin/requests"),
            "sessions": client.get("/__admin/sessions"),
        }
        for name, response in responses.items():
            detail = check_failure(response, spec)
            assert detail.startswith("ConnectionError: "), (name, detail)

    records = state_records(caplog)
    assert [record.levelname for record in records] == ["ERROR"]
    assert records[0].getMessage().startswith(f"state backend {spec} failed: ConnectionError: ")
    assert records[0].getMessage().endswith("; requests get 500 until it is back")
    assert [record for record in caplog.records if record.exc_info] == []

    restarted = start_redis(private_redis.folder)
    private_redis.process = restarted.process
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert client.get("/api/v2/buildinfo").status_code == 200
        assert client.get("/api/v2/buildinfo").status_code == 200
    assert [record.getMessage() for record in state_records(caplog)] == [
        f"state backend {spec} is back; serving requests again"]
    store.close()


def test_unreadable_sqlite_answers_envelope(catalog: Catalog, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.db"
    spec = f"sqlite:{path}"
    store = Store(catalog, "default", state=open_backend(spec))
    client = create_app(store, quiet=True).test_client()
    assert client.get("/api/v2/buildinfo").status_code == 200
    # Each pooled connection keeps its file open, so the test breaks the tables instead of the file.
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE meta")

    with caplog.at_level(logging.INFO):
        for path_info in ("/api/v2/buildinfo", "/__admin/scenario"):
            detail = check_failure(client.get(path_info), spec)
            assert detail == "OperationalError: no such table: meta"
        detail = check_failure(client.post("/api/v2/csp/reports", json=CSP_REPORT), spec)
        assert detail == "OperationalError: no such table: meta"

    assert len(state_records(caplog)) == 1
    assert [record for record in caplog.records if record.exc_info] == []
    store.close()
