"""GET /__admin/scenarios lists a broken file added under --watch as rejected from the first call on."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from flask.testing import FlaskClient

from coder_mock.app import create_app
from coder_mock.catalog import open_catalog
from coder_mock.store import Store
from coder_mock.watch import Watcher

from conftest import BUILTIN_SCENARIOS

POLL_SECONDS = 0.02
DEADLINE_SECONDS = 20.0
UNPARSEABLE = "description: [unclosed\n"
UNPARSEABLE_PROBLEM = ("my-scenarios/broken.yaml: invalid YAML at line 2 column 1: while parsing a flow sequence,"
                       " expected ',' or ']', but got '<stream end>'.")


def wait_for(condition: Callable[[], bool], event: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {DEADLINE_SECONDS} s waiting for {event}")
        time.sleep(POLL_SECONDS)


def write(path: Path, text: str) -> None:
    """Write in one rename with a later modification time, so that the watcher sees one whole change."""
    staged = path.with_suffix(".staged")
    staged.write_text(text, encoding="utf-8")
    later = time.time_ns() + 1_000_000_000
    os.utime(staged, ns=(later, later))
    os.replace(staged, path)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-scenarios").mkdir()
    (tmp_path / "my-scenarios" / "mine.yaml").write_text("extends: default\ndescription: Mine.\n")
    return tmp_path / "my-scenarios"


@pytest.fixture
def store(folder: Path) -> Store:
    return Store(open_catalog([folder], []), "mine")


@pytest.fixture
def watcher(store: Store) -> Iterator[Watcher]:
    watcher = Watcher(store, interval=POLL_SECONDS).start()
    yield watcher
    watcher.stop()


@pytest.fixture
def client(store: Store) -> FlaskClient:
    return create_app(store, quiet=True).test_client()


def listed_names(body: dict) -> list[str]:
    return [entry["name"] for entry in body["scenarios"]]


@pytest.mark.parametrize("text", [UNPARSEABLE, "just a string\n"])
def test_first_listing_after_reload(folder: Path, store: Store, watcher: Watcher, client: FlaskClient,
                                    text: str) -> None:
    before = store.catalog
    write(folder / "broken.yaml", text)
    wait_for(lambda: store.catalog is not before, "the reload")

    first = client.get("/__admin/scenarios").get_json()
    second = client.get("/__admin/scenarios").get_json()

    assert listed_names(first) == sorted([*BUILTIN_SCENARIOS, "mine"])
    assert [entry["name"] for entry in first["rejected"]] == ["broken"]
    assert first == second


def test_first_listing_unparseable_problem(folder: Path, store: Store, watcher: Watcher,
                                           client: FlaskClient) -> None:
    before = store.catalog
    write(folder / "broken.yaml", UNPARSEABLE)
    wait_for(lambda: store.catalog is not before, "the reload")

    first = client.get("/__admin/scenarios").get_json()

    assert first["rejected"] == [{"name": "broken", "problems": [UNPARSEABLE_PROBLEM]}]


def test_first_listing_without_watch(folder: Path) -> None:
    (folder / "broken.yaml").write_text(UNPARSEABLE)
    client = create_app(Store(open_catalog([folder], []), "mine"), quiet=True).test_client()

    first = client.get("/__admin/scenarios").get_json()

    assert listed_names(first) == sorted([*BUILTIN_SCENARIOS, "mine"])
    assert first["rejected"] == [{"name": "broken", "problems": [UNPARSEABLE_PROBLEM]}]


def test_first_listing_after_later_reload(folder: Path, store: Store, watcher: Watcher, client: FlaskClient) -> None:
    first_reload = store.catalog
    write(folder / "broken.yaml", UNPARSEABLE)
    wait_for(lambda: store.catalog is not first_reload, "the reload that adds the broken file")
    second_reload = store.catalog
    write(folder / "mine.yaml", "extends: default\ndescription: Mine, edited.\n")
    wait_for(lambda: store.catalog is not second_reload, "the reload of the edited file")

    first = client.get("/__admin/scenarios").get_json()

    assert listed_names(first) == sorted([*BUILTIN_SCENARIOS, "mine"])
    assert first["rejected"] == [{"name": "broken", "problems": [UNPARSEABLE_PROBLEM]}]
