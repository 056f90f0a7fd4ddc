"""The admin API under /__admin/: health, the scenario list, switching and reset."""

from __future__ import annotations

import builtins
import io
import json
import pathlib
import uuid
from pathlib import Path

import pytest
import yaml
from flask.testing import FlaskClient

from coder_mock.app import create_app
from coder_mock.catalog import Catalog
from coder_mock.store import Store

from conftest import BUILTIN_SCENARIOS

SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "scenarios"
JSON = "application/json; charset=utf-8"
DEFAULT_VERSION = "v2.22.1+f724638"
DEV_BUILD_VERSION = "v0.0.0-devel+4bd8c1e"
DEFAULT_DESCRIPTION = "A healthy release deployment with update checks off."
DEV_BUILD_DESCRIPTION = "A development build (v0.0.0-devel) that every release is newer than."
ENDPOINTS = [
    "GET /__admin/health",
    "GET /__admin/scenarios",
    "GET /__admin/scenario",
    "PUT /__admin/scenario",
    "POST /__admin/reset",
    "GET /__admin/requests",
    "GET /__admin/requests/count",
    "DELETE /__admin/requests",
    "GET /__admin/faults",
    "PUT /__admin/faults",
    "POST /__admin/faults",
    "DELETE /__admin/faults",
    "GET /__admin/sessions",
    "POST /__admin/sessions",
    "DELETE /__admin/sessions/<id>",
]


def switch(client: FlaskClient, body: object):
    return client.put("/__admin/scenario", json=body)


def expected_description(name: str) -> str:
    """Read a built-in's description straight from its YAML file, not through the package."""
    document = yaml.safe_load((SCENARIOS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    return document["description"]


# --- GET /__admin/health ---------------------------------------------------


def test_health_reports_active_scenario(client: FlaskClient) -> None:
    response = client.get("/__admin/health")

    assert response.status_code == 200
    assert response.content_type == JSON
    body = response.get_json()
    assert sorted(body) == ["instance_id", "scenario", "status"]
    assert body["status"] == "ok"
    assert body["scenario"] == "default"
    assert str(uuid.UUID(body["instance_id"])) == body["instance_id"]


def test_health_follows_switch(client: FlaskClient) -> None:
    assert switch(client, {"name": "dev-build"}).status_code == 200

    body = client.get("/__admin/health").get_json()

    assert body["scenario"] == "dev-build"


def test_instance_id_per_store(catalog: Catalog) -> None:
    first = create_app(Store(catalog, "default"), quiet=True).test_client()
    second = create_app(Store(catalog, "default"), quiet=True).test_client()

    first_ids = [first.get("/__admin/health").get_json()["instance_id"] for _ in range(3)]
    second_ids = [second.get("/__admin/health").get_json()["instance_id"] for _ in range(3)]

    assert len(set(first_ids)) == 1
    assert len(set(second_ids)) == 1
    assert first_ids[0] != second_ids[0]
    assert uuid.UUID(first_ids[0]).version == 4
    assert uuid.UUID(second_ids[0]).version == 4


def test_instance_id_survives_switch(client: FlaskClient) -> None:
    before = client.get("/__admin/health").get_json()["instance_id"]

    assert switch(client, {"name": "outdated", "seed": 9}).status_code == 200
    assert client.post("/__admin/reset").status_code == 200

    assert client.get("/__admin/health").get_json()["instance_id"] == before


# --- GET /__admin/scenarios ------------------------------------------------


def test_scenarios_list_every_builtin(client: FlaskClient) -> None:
    response = client.get("/__admin/scenarios")

    assert response.status_code == 200
    assert response.content_type == JSON
    body = response.get_json()
    assert sorted(body) == ["rejected", "scenarios"]
    assert body["rejected"] == []
    assert [entry["name"] for entry in body["scenarios"]] == list(BUILTIN_SCENARIOS)


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_scenarios_entry_fields(client: FlaskClient, name: str) -> None:
    listed = {entry["name"]: entry for entry in client.get("/__admin/scenarios").get_json()["scenarios"]}
    entry = listed[name]

    assert sorted(entry) == ["active", "builtin", "description", "name", "source"]
    assert entry["description"] == expected_description(name)
    assert entry["active"] is (name == "default")
    assert entry["builtin"] is True
    assert entry["source"].endswith(f"scenarios/{name}.yaml")


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_scenarios_exactly_one_active(client: FlaskClient, name: str) -> None:
    assert switch(client, {"name": name}).status_code == 200

    listed = client.get("/__admin/scenarios").get_json()["scenarios"]

    active = [entry["name"] for entry in listed if entry["active"] is True]
    inactive = [entry["name"] for entry in listed if entry["active"] is False]
    assert active == [name]
    assert len(inactive) == len(BUILTIN_SCENARIOS) - 1


# --- GET and PUT /__admin/scenario -------------------------------------------


def test_scenario_describes_default(client: FlaskClient) -> None:
    response = client.get("/__admin/scenario")

    assert response.status_code == 200
    assert response.content_type == JSON
    assert response.get_json() == {
        "name": "default",
        "seed": 1,
        "profile": "wire",
        "description": DEFAULT_DESCRIPTION,
        "version": DEFAULT_VERSION,
    }


def test_switch_changes_buildinfo(client: FlaskClient, catalog: Catalog) -> None:
    response = switch(client, {"name": "dev-build"})

    assert response.status_code == 200
    assert response.content_type == JSON
    assert response.get_json() == {
        "name": "dev-build",
        "seed": 1,
        "profile": "wire",
        "description": DEV_BUILD_DESCRIPTION,
        "version": DEV_BUILD_VERSION,
    }
    assert client.get("/__admin/scenario").get_json()["name"] == "dev-build"

    buildinfo = client.get("/api/v2/buildinfo")
    assert buildinfo.status_code == 200
    assert buildinfo.get_json()["version"] == DEV_BUILD_VERSION
    assert buildinfo.headers["X-Coder-Build-Version"] == DEV_BUILD_VERSION
    assert buildinfo.data == catalog.rendered("dev-build").replies["build-info"].body


def test_switch_with_seed_changes_values(client: FlaskClient) -> None:
    own_seed = client.get("/api/v2/buildinfo").get_json()

    response = switch(client, {"name": "default", "seed": 12345})
    seeded = client.get("/api/v2/buildinfo").get_json()

    assert response.status_code == 200
    assert response.get_json()["seed"] == 12345
    assert client.get("/__admin/scenario").get_json()["seed"] == 12345
    assert seeded["deployment_id"] != own_seed["deployment_id"]
    assert seeded["external_url"] != own_seed["external_url"]
    # Values the fixtures give stay fixed whatever the seed.
    assert seeded["version"] == own_seed["version"] == DEFAULT_VERSION
    assert seeded["dashboard_url"] == own_seed["dashboard_url"] == "https://coder.example.com"
    # The generated commit keeps the 7 hex digits that the version names.
    assert seeded["external_url"].startswith("https://github.com/coder/coder/commit/f724638")


def test_same_seed_same_bytes(client: FlaskClient, catalog: Catalog) -> None:
    paths = ["/api/v2/buildinfo", "/api/v2/updatecheck"]
    assert switch(client, {"name": "default", "seed": 12345}).status_code == 200
    first = [client.get(path).data for path in paths]

    assert switch(client, {"name": "dev-build"}).status_code == 200
    assert switch(client, {"name": "default", "seed": 12345}).status_code == 200
    second = [client.get(path).data for path in paths]

    other_store = create_app(Store(catalog, "default", 12345), quiet=True).test_client()
    third = [other_store.get(path).data for path in paths]

    assert first == second
    assert first == third


def test_switch_null_seed_uses_own(client: FlaskClient, catalog: Catalog) -> None:
    assert switch(client, {"name": "default", "seed": 77}).status_code == 200

    response = switch(client, {"name": "default", "seed": None})

    assert response.status_code == 200
    assert response.get_json()["seed"] == 1
    assert client.get("/api/v2/buildinfo").data == catalog.rendered("default").replies["build-info"].body


# --- POST /__admin/reset -----------------------------------------------------


def test_reset_restores_start(client: FlaskClient, catalog: Catalog) -> None:
    assert switch(client, {"name": "dev-build", "seed": 99}).status_code == 200

    response = client.post("/__admin/reset")

    assert response.status_code == 200
    assert response.content_type == JSON
    assert response.get_json() == {
        "name": "default",
        "seed": 1,
        "profile": "wire",
        "description": DEFAULT_DESCRIPTION,
        "version": DEFAULT_VERSION,
    }
    assert client.get("/api/v2/buildinfo").data == catalog.rendered("default").replies["build-info"].body


def test_reset_restores_start_seed(catalog: Catalog) -> None:
    client = create_app(Store(catalog, "dev-build", 4242), quiet=True).test_client()
    assert switch(client, {"name": "default"}).status_code == 200

    response = client.post("/__admin/reset")

    assert response.status_code == 200
    assert response.get_json()["name"] == "dev-build"
    assert response.get_json()["seed"] == 4242
    assert client.get("/api/v2/buildinfo").data == catalog.rendered("dev-build", 4242).replies["build-info"].body


# --- Rejected switches ---------------------------------------------------------


def test_switch_rejects_non_json(client: FlaskClient) -> None:
    response = client.put("/__admin/scenario", data=b"not json", content_type="application/json")

    assert response.status_code == 400
    assert response.content_type == JSON
    assert response.get_json() == {
        "message": "Request body must be valid JSON.",
        "detail": 'Expecting value: line 1 column 1 (char 0); send {"name": "<scenario>", "seed": <optional integer>}.',
    }


def test_switch_rejects_missing_name(client: FlaskClient) -> None:
    response = switch(client, {})

    assert response.status_code == 400
    assert response.get_json() == {
        "message": 'Missing "name": give the scenario to switch to, such as {"name": "outdated"}.',
        "available": list(BUILTIN_SCENARIOS),
    }


def test_switch_rejects_non_object(client: FlaskClient) -> None:
    response = switch(client, ["default"])

    assert response.status_code == 400
    assert response.get_json() == {"message": 'Request body must be a JSON object such as {"name": "outdated"}.'}


def test_switch_unknown_lists_names(client: FlaskClient) -> None:
    response = switch(client, {"name": "nope"})

    assert response.status_code == 404
    assert response.content_type == JSON
    assert response.get_json() == {
        "message": 'Scenario "nope" not found.',
        "available": list(BUILTIN_SCENARIOS),
    }


@pytest.mark.parametrize(
    ("seed", "shown"),
    [("x", '"x"'), (True, "true"), (False, "false"), (1.5, "1.5"), ([1], "[1]"), ({"n": 1}, '{"n": 1}')],
)
def test_switch_rejects_bad_seed(client: FlaskClient, seed: object, shown: str) -> None:
    response = switch(client, {"name": "default", "seed": seed})

    assert response.status_code == 400
    assert response.get_json() == {"message": f'Invalid "seed" {shown}: give an integer or leave it out.'}


PATH_LIKE_NAMES = [
    "../../etc/passwd",
    "/etc/passwd",
    "default/../default",
    "a/b",
    "default/",
    ".",
    "..",
    ".hidden",
    "default.yaml",
]


@pytest.fixture
def file_access(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record, and fail, every attempt to open, read or list a file while patched."""
    attempts: list[str] = []

    def reject(label: str):
        def recorded(*args: object, **kwargs: object):
            attempts.append(f"{label}{args!r}")
            raise AssertionError(f"file access during an admin request: {label}{args!r}")

        return recorded

    for method in ("open", "read_text", "read_bytes", "iterdir", "exists", "is_file", "is_dir", "stat", "resolve"):
        monkeypatch.setattr(pathlib.Path, method, reject(f"Path.{method}"))
    monkeypatch.setattr(builtins, "open", reject("open"))
    monkeypatch.setattr(io, "open", reject("io.open"))
    return attempts


@pytest.mark.parametrize("name", PATH_LIKE_NAMES)
def test_switch_rejects_path_names(client: FlaskClient, file_access: list[str], name: str) -> None:
    response = switch(client, {"name": name})
    live = client.get("/__admin/scenario").get_json()

    assert file_access == []
    assert response.status_code == 400
    assert response.content_type == JSON
    assert response.get_json() == {
        "message": f"Invalid scenario name {json.dumps(name)}: use letters, digits, - and _ only.",
        "available": list(BUILTIN_SCENARIOS),
    }
    assert live["name"] == "default"


@pytest.mark.parametrize(
    ("body", "status"),
    [({"name": "nope"}, 404), ({}, 400), ({"name": "default", "seed": "x"}, 400)],
)
def test_failed_switch_keeps_scenario(client: FlaskClient, catalog: Catalog, body: object, status: int) -> None:
    assert switch(client, {"name": "dev-build"}).status_code == 200

    response = switch(client, body)

    assert response.status_code == status
    assert client.get("/__admin/scenario").get_json()["name"] == "dev-build"
    assert client.get("/api/v2/buildinfo").data == catalog.rendered("dev-build").replies["build-info"].body


# --- Unknown admin paths ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/__admin/nope"),
        ("GET", "/__admin/scenario/default"),
        ("DELETE", "/__admin/a/b"),
        ("POST", "/__admin/scenarios/reset"),
    ],
)
def test_unknown_path_lists_endpoints(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method)

    assert response.status_code == 404
    assert response.content_type == JSON
    assert response.get_json() == {
        "message": f"No admin endpoint {method} {path}.",
        "endpoints": ENDPOINTS,
    }


# --- Headers on every admin response -----------------------------------------------


ADMIN_REQUESTS = [
    ("GET", "/__admin/health", None),
    ("GET", "/__admin/scenarios", None),
    ("GET", "/__admin/scenario", None),
    ("PUT", "/__admin/scenario", {"name": "dev-build"}),
    ("PUT", "/__admin/scenario", {"name": "nope"}),
    ("PUT", "/__admin/scenario", {"name": "../x"}),
    ("GET", "/__admin/nope", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_REQUESTS)
def test_admin_headers_after_switch(client: FlaskClient, method: str, path: str, body: object) -> None:
    assert switch(client, {"name": "dev-build"}).status_code == 200

    response = client.open(path, method=method, json=body)

    assert response.content_type == JSON
    assert isinstance(json.loads(response.data), dict)
    assert response.headers["X-Coder-Build-Version"] == DEV_BUILD_VERSION
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("start", "target", "version"),
    [("default", "dev-build", DEV_BUILD_VERSION), ("dev-build", "default", DEFAULT_VERSION)],
)
def test_switch_response_names_new_version(catalog: Catalog, start: str, target: str, version: str) -> None:
    client = create_app(Store(catalog, start), quiet=True).test_client()

    response = switch(client, {"name": target})

    assert response.status_code == 200
    assert response.get_json()["version"] == version
    assert response.headers["X-Coder-Build-Version"] == version


def test_reset_response_names_new_version(client: FlaskClient) -> None:
    assert switch(client, {"name": "dev-build"}).status_code == 200

    response = client.post("/__admin/reset")

    assert response.status_code == 200
    assert response.get_json()["version"] == DEFAULT_VERSION
    assert response.headers["X-Coder-Build-Version"] == DEFAULT_VERSION
