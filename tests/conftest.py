"""Shared fixtures: the built-in catalog, an app per test, and the built-in tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from coder_mock.app import create_app
from coder_mock.catalog import Catalog, load_catalog
from coder_mock.store import Store

# pytester runs pytest inside tests, for the tests of the pytest plugin.
pytest_plugins = ["pytester"]

OWNER_TOKEN = "adminToken-coderMockAdminSecret01"
MEMBER_TOKEN = "memberTokn-coderMockMemberSecret1"
EXPIRED_TOKEN = "expiredTkn-coderMockExpiredToken1"
UNKNOWN_TOKEN = "abcdefghij-abcdefghijklmnopqrstuv"
OWNER_ID = "0b6a3f2e-5c1d-4d7e-9a8b-1f2e3d4c5b6a"
MEMBER_ID = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"

BUILTIN_SCENARIOS = (
    "default",
    "dev-build",
    "experiments",
    "flaky",
    "minimal",
    "outdated",
    "rate-limited",
    "release-candidate",
    "server-errors",
    "stats-processing",
    "unlimited-token-lifetime",
)

SWAGGER = Path(__file__).resolve().parents[2] / "shared" / "coder-api" / "swagger.json"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The built-in scenarios, loaded once; tests must not mutate it."""
    return load_catalog()


@pytest.fixture
def store(catalog: Catalog) -> Store:
    return Store(catalog, "default")


@pytest.fixture
def app(store: Store) -> Flask:
    return create_app(store, quiet=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session", autouse=True)
def render_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the render cache of every server the tests start at a temporary folder, not the user's."""
    folder = tmp_path_factory.mktemp("render-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CODER_MOCK_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture
def user_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Empty user scenario and fixture folders, with tmp_path as the working directory."""
    monkeypatch.chdir(tmp_path)
    scenarios = tmp_path / "my-scenarios"
    fixtures = tmp_path / "my-fixtures"
    scenarios.mkdir()
    fixtures.mkdir()
    return scenarios, fixtures


def write(folder: Path, name: str, text: str) -> Path:
    """Write `text` to `folder`/`name`, creating parent folders, and return the path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
