"""Live reload: the watcher swaps in edited, added and removed scenario files while requests run.

Each test starts a Watcher polling every POLL_SECONDS and waits for its
effect by polling with a deadline.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest
from flask.testing import FlaskClient

from coder_mock.app import create_app
from coder_mock.catalog import open_catalog
from coder_mock.render_cache import RenderCache
from coder_mock.store import Store
from coder_mock.watch import Watcher

POLL_SECONDS = 0.02
DEADLINE_SECONDS = 20.0
PROJECT_DIR = Path(__file__).resolve().parent.parent
BROKEN_LINE = ("my-fixtures/buildinfo/mine.yaml: version: invalid value 2.10: expected a SemVer version with a leading v."
               ' YAML reads unquoted 2.10 as a number; quote it and write the whole version, such as "v2.10.0".')


class Files:
    """Writes files with increasing modification times, so that each write is a change to the watcher."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.last_ns = 0

    def write(self, relative: str, text: str) -> Path:
        """Replace the file in one rename, as careful editors do, so that no poll sees it half written."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = self.root / "staging"
        staged.write_text(text, encoding="utf-8")
        self.last_ns = max(self.last_ns + 1_000_000, time.time_ns())
        os.utime(staged, ns=(self.last_ns, self.last_ns))
        os.replace(staged, path)
        return path


def wait_for(condition: Callable[[], bool], event: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {DEADLINE_SECONDS} s waiting for {event}")
        time.sleep(POLL_SECONDS)


def version_file(version: str) -> str:
    return f'version: "{version}"\n'


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Files:
    """User folders with a scenario `mine` whose buildinfo fixture sets the version, in tmp_path."""
    monkeypatch.chdir(tmp_path)
    files = Files(tmp_path)
    files.write("my-fixtures/buildinfo/mine.yaml", version_file("v2.40.0+abc1234"))
    files.write("my-scenarios/mine.yaml", "extends: default\ndescription: Mine.\nfixtures:\n"
                                          "  buildinfo: buildinfo/mine.yaml\n")
    return files


@pytest.fixture
def store(files: Files) -> Store:
    catalog = open_catalog([files.root / "my-scenarios"], [files.root / "my-fixtures"])
    return Store(catalog, "mine")


@pytest.fixture
def watcher(store: Store) -> Iterator[Watcher]:
    watcher = Watcher(store, interval=POLL_SECONDS).start()
    yield watcher
    watcher.stop()


@pytest.fixture
def client(store: Store) -> FlaskClient:
    return create_app(store, quiet=True).test_client()


def served_version(client: FlaskClient) -> str:
    return client.get("/api/v2/buildinfo").get_json()["version"]


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == level]


def test_edit_serves_new_bytes(files: Files, client: FlaskClient, watcher: Watcher) -> None:
    assert served_version(client) == "v2.40.0+abc1234"

    files.write("my-fixtures/buildinfo/mine.yaml", version_file("v2.41.0+abc1234"))

    wait_for(lambda: served_version(client) == "v2.41.0+abc1234", "the edited version")
    assert client.get("/api/v2/buildinfo").headers["X-Coder-Build-Version"] == "v2.41.0+abc1234"


def test_broken_edit_then_fix(files: Files, client: FlaskClient, store: Store, watcher: Watcher,
                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    before = store.catalog

    files.write("my-fixtures/buildinfo/mine.yaml", "version: 2.10\n")
    wait_for(lambda: store.catalog is not before, "the reload after the broken edit")

    assert served_version(client) == "v2.40.0+abc1234"
    assert messages(caplog, logging.WARNING) == [f"scenario mine keeps its previous version live: {BROKEN_LINE}"]

    # A change to another file reloads again without repeating the line.
    before = store.catalog
    files.write("my-scenarios/other.yaml", "extends: default\ndescription: Other.\n")
    wait_for(lambda: store.catalog is not before, "the reload after another edit")
    assert served_version(client) == "v2.40.0+abc1234"
    assert len(messages(caplog, logging.WARNING)) == 1

    files.write("my-fixtures/buildinfo/mine.yaml", version_file("v2.42.0+abc1234"))
    wait_for(lambda: served_version(client) == "v2.42.0+abc1234", "the fixed version")
    assert len(messages(caplog, logging.WARNING)) == 1


def test_broken_scenario_file_keeps_previous(files: Files, client: FlaskClient, store: Store, watcher: Watcher,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    before = store.catalog

    files.write("my-scenarios/mine.yaml", "extends: default\ndescription: Mine.\nseed: 1.5\n")
    wait_for(lambda: store.catalog is not before, "the reload after the broken edit")

    assert served_version(client) == "v2.40.0+abc1234"
    assert messages(caplog, logging.WARNING) == [
        "scenario mine keeps its previous version live: my-scenarios/mine.yaml: seed: invalid value 1.5:"
        " expected an integer."]
    # The previous version stays usable at other seeds too.
    switched = client.put("/__admin/scenario", json={"name": "mine", "seed": 5})
    assert switched.status_code == 200
    assert switched.get_json()["seed"] == 5
    assert served_version(client) == "v2.40.0+abc1234"


def test_added_scenario_switchable(files: Files, client: FlaskClient, store: Store, watcher: Watcher) -> None:
    assert client.put("/__admin/scenario", json={"name": "added"}).status_code == 404

    files.write("my-scenarios/added.yaml", "extends: outdated\ndescription: Added later.\n")
    wait_for(lambda: "added" in store.catalog.names(), "the added scenario")

    switched = client.put("/__admin/scenario", json={"name": "added"})
    assert switched.status_code == 200
    assert switched.get_json()["description"] == "Added later."


def test_added_broken_logged_once(files: Files, store: Store, watcher: Watcher,
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    files.write("my-scenarios/added.yaml", "extends: default\ndescription: Added.\nseed: yes\n")
    wait_for(lambda: "added" in store.catalog.rejected, "the rejection of the added scenario")

    assert messages(caplog, logging.WARNING) == [
        "scenario added cannot be served: my-scenarios/added.yaml: seed: invalid value yes: expected an integer."]


def test_removed_active_stays_live(files: Files, client: FlaskClient, store: Store, watcher: Watcher,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    before = store.catalog

    (files.root / "my-scenarios" / "mine.yaml").unlink()
    wait_for(lambda: store.catalog is not before, "the reload after the removal")

    assert served_version(client) == "v2.40.0+abc1234"
    assert messages(caplog, logging.WARNING) == [
        "scenario mine was removed from the scenario folders; it stays live until the next switch"]
    assert client.put("/__admin/scenario", json={"name": "default"}).status_code == 200
    assert client.put("/__admin/scenario", json={"name": "mine"}).status_code == 404


def test_unchanged_bytes_keep_rendering(files: Files, store: Store, watcher: Watcher) -> None:
    live = store.active
    before = store.catalog

    files.write("my-scenarios/mine.yaml", (files.root / "my-scenarios" / "mine.yaml").read_text(encoding="utf-8"))
    wait_for(lambda: store.catalog is not before, "the reload after the touch")

    assert store.active is live


def test_reload_waits_for_quiet_poll(files: Files, store: Store) -> None:
    # Polled by hand, without the thread, so each step is one poll.
    watcher = Watcher(store)
    path = files.root / "my-fixtures" / "buildinfo" / "mine.yaml"
    path.write_text("", encoding="utf-8")

    assert watcher.poll() is False
    files.write("my-fixtures/buildinfo/mine.yaml", version_file("v2.44.0+abc1234"))
    assert watcher.poll() is False
    assert store.active.version == "v2.40.0+abc1234"
    assert watcher.poll() is True
    assert store.active.version == "v2.44.0+abc1234"
    assert watcher.poll() is False


def test_reload_never_half_applied(files: Files, store: Store, watcher: Watcher) -> None:
    app = create_app(store, quiet=True)
    versions = [f"v2.{minor}.0+abc1234" for minor in range(50, 62)]
    seen: list[tuple[str, str]] = []
    stop = threading.Event()

    def hammer() -> None:
        client = app.test_client()
        while not stop.is_set():
            response = client.get("/api/v2/buildinfo")
            seen.append((response.headers["X-Coder-Build-Version"], response.get_json()["version"]))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for version in versions:
            files.write("my-fixtures/buildinfo/mine.yaml", version_file(version))
            wait_for(lambda: store.active.version == version, f"version {version}")
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    mixed = [pair for pair in seen if pair[0] != pair[1]]
    assert mixed == []
    assert {body for _, body in seen} <= {"v2.40.0+abc1234", *versions}
    assert len(seen) > len(versions)


def fetch_version(url: str) -> str:
    with urllib.request.urlopen(url + "/api/v2/buildinfo", timeout=5) as response:
        return json.loads(response.read())["version"]


@pytest.mark.parametrize(("flag", "watching"), [("--watch", True), (None, False)])
def test_serve_watch_option(files: Files, flag: str | None, watching: bool) -> None:
    command = [sys.executable, "-m", "coder_mock", "serve", "--port", "0", "--quiet",
               "--scenarios-dir", "my-scenarios", "--fixtures-dir", "my-fixtures", "--scenario", "mine"]
    # The scenario is in the render cache, so the watcher starts from a cached entry.
    cache = RenderCache(files.root / "cache")
    open_catalog([Path("my-scenarios")], [Path("my-fixtures")], cache).rendered("mine")
    environment = {**os.environ, "CODER_MOCK_CACHE_DIR": str(cache.folder), "PYTHONPATH": str(PROJECT_DIR)}
    process = subprocess.Popen(command + ([flag] if flag else []), cwd=files.root, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().split()[-1]
        assert fetch_version(url) == "v2.40.0+abc1234"
        if watching:
            files.write("my-fixtures/buildinfo/mine.yaml", version_file("v2.43.0+abc1234"))
            wait_for(lambda: fetch_version(url) == "v2.43.0+abc1234", "the edited version over HTTP")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)

    assert process.returncode == 0
    assert "scenario mine loaded from my-scenarios/mine.yaml (render cache)" in stderr
    assert ("coder_mock.watch: watching 4 scenario and fixture folders for changes every 0.5 s" in stderr) is watching
