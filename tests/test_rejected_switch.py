"""Switching to, or starting a session with, a user scenario that was rejected: 404 with its first problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from coder_mock.app import create_app
from coder_mock.catalog import open_catalog
from coder_mock.store import Store

BROKEN = "description: Broken.\nseed: 1.5\nusers: 3\n"
FIRST_PROBLEM = "my-scenarios/s0500.yaml: seed: invalid value 1.5: expected an integer."
MESSAGE = ('Scenario "s0500" was rejected because its files have problems; fix them'
           " (GET /__admin/scenarios and coder-mock validate list them all).")


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    scenarios = tmp_path / "my-scenarios"
    scenarios.mkdir()
    (scenarios / "s0500.yaml").write_text(BROKEN, encoding="utf-8")
    store = Store(open_catalog([scenarios]), "default")
    return create_app(store, quiet=True).test_client()


def test_switch_to_rejected_names_problem(client) -> None:
    response = client.put("/__admin/scenario", json={"name": "s0500"})

    assert response.status_code == 404
    assert response.get_json() == {"message": MESSAGE, "detail": FIRST_PROBLEM}
    assert client.get("/__admin/scenario").get_json()["name"] == "default"


def test_session_with_rejected_names_problem(client) -> None:
    response = client.post("/__admin/sessions", json={"scenario": "s0500"})

    assert response.status_code == 404
    assert response.get_json() == {"message": MESSAGE, "detail": FIRST_PROBLEM}
    assert client.get("/__admin/sessions").get_json() == {"sessions": []}


def test_unknown_scenario_still_lists_names(client) -> None:
    response = client.put("/__admin/scenario", json={"name": "s0501"})

    assert response.status_code == 404
    assert response.get_json()["message"] == 'Scenario "s0501" not found.'
    assert "default" in response.get_json()["available"]
