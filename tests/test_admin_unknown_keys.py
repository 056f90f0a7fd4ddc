"""PUT /__admin/scenario and POST /__admin/sessions reject unknown body keys as PUT /__admin/faults does."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/__admin/scenario", '{"name": "default", "extra": 1}',
         'extra: unknown key "extra": remove it; the keys allowed here are name, seed, profile.'),
        ("/__admin/scenario", '{"scenario": "outdated"}',
         'scenario: unknown key "scenario": remove it; the keys allowed here are name, seed, profile.'),
        ("/__admin/sessions", '{"scenario": "default", "extra": 1}',
         'extra: unknown key "extra": remove it; the keys allowed here are scenario, seed, profile.'),
        ("/__admin/sessions", '{"name": "default"}',
         'name: unknown key "name": remove it; the keys allowed here are scenario, seed, profile.'),
    ],
)
def test_unknown_key_rejected(client: FlaskClient, path: str, body: str, message: str) -> None:
    method = client.put if path == "/__admin/scenario" else client.post

    response = method(path, data=body)

    assert response.status_code == 400
    assert response.get_json() == {"message": message}


def test_unknown_key_keeps_scenario(client: FlaskClient) -> None:
    client.put("/__admin/scenario", data='{"name": "outdated", "extra": true}')

    assert client.get("/__admin/scenario").get_json()["name"] == "default"


def test_unknown_key_creates_no_session(client: FlaskClient) -> None:
    client.post("/__admin/sessions", data='{"scenario": "default", "extra": 1}')

    assert client.get("/__admin/sessions").get_json() == {"sessions": []}


def test_faults_use_same_wording(client: FlaskClient) -> None:
    response = client.put("/__admin/faults", data='{"faults": [], "extra": 1}')

    assert response.status_code == 400
    assert response.get_json() == {
        "message": 'extra: unknown key "extra": remove it; the keys allowed here are faults.'}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/__admin/scenario", '{"name": "default", "seed": 3, "profile": "wire"}', 200),
        ("/__admin/sessions", '{"scenario": "default", "seed": 3, "profile": "reference"}', 201),
    ],
)
def test_known_keys_accepted(client: FlaskClient, path: str, body: str, status: int) -> None:
    method = client.put if path == "/__admin/scenario" else client.post

    assert method(path, data=body).status_code == status
