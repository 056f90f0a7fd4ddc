"""The admin page shows scenarios added by a reload (--watch), which adds no journal entry, on window focus."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from flask import Flask

from coder_mock.app import create_app
from coder_mock.catalog import open_catalog
from coder_mock.store import Store
from coder_mock.watch import Watcher

from cdp import PageSession
from test_browser import PAGE_TIMEOUT_SECONDS, browser, serve_in_thread, text_of  # noqa: F401 - fixtures

POLL_SECONDS = 0.02
NAMES = "Array.from(document.querySelectorAll('#scenarios-body tr td:first-child'), (cell) => cell.textContent)"


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Store, Path]]:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "mine.yaml").write_text("extends: default\ndescription: Mine.\n", encoding="utf-8")
    store = Store(open_catalog([folder], []), "mine")
    watcher = Watcher(store, interval=POLL_SECONDS).start()
    yield store, folder
    watcher.stop()


def test_page_lists_reloaded_scenario(watched: tuple[Store, Path], serve_in_thread: Callable[[Flask], str],
                                      browser: PageSession) -> None:
    store, folder = watched
    base_url = serve_in_thread(create_app(store, quiet=True))
    browser.navigate(f"{base_url}/__admin/", PAGE_TIMEOUT_SECONDS)
    assert browser.wait_for(text_of("active-name"), "mine", PAGE_TIMEOUT_SECONDS) == "mine"
    assert browser.wait_for(f"{NAMES}.includes('mine')", True, PAGE_TIMEOUT_SECONDS) is True
    assert browser.evaluate(f"{NAMES}.includes('added')") is False

    before = store.catalog
    (folder / "added.yaml").write_text("extends: default\ndescription: Added later.\n", encoding="utf-8")
    deadline = time.monotonic() + PAGE_TIMEOUT_SECONDS
    while store.catalog is before:
        assert time.monotonic() < deadline, "the watcher did not reload the folder"
        time.sleep(POLL_SECONDS)
    browser.evaluate("window.dispatchEvent(new Event('focus'))")

    assert browser.wait_for(f"{NAMES}.includes('added')", True, PAGE_TIMEOUT_SECONDS) is True
