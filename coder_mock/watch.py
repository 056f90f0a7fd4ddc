"""Reload scenario and fixture files while the server runs (`coder-mock serve --watch`).

A thread polls the modification time and size of every file in the
catalog's folders. After a change, once one poll sees no further change, it builds a new catalog, carries over each
loaded scenario whose files still have the same bytes, loads again each one
whose files changed, and hands the result to `Store.replace_catalog`, which
swaps it in with the live scenario in one step. A scenario that an edit broke
keeps its previous version live, and one log line names the file and the
problem.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from coder_mock.catalog import Catalog
from coder_mock.documents import DOCUMENT_SUFFIXES, FileProblem, display_path
from coder_mock.render_cache import still_valid
from coder_mock.store import Store

log = logging.getLogger("coder_mock.watch")

POLL_SECONDS = 0.5
# Changed files named in the reload log line; the rest are counted.
FILES_NAMED = 5

Snapshot = dict[str, tuple[int, int]]
"""Modification time in nanoseconds and size in bytes, by file path."""


def snapshot(catalog: Catalog) -> Snapshot:
    """Return the state of every scenario file and of every file under the fixture folders.

    NOTE: two writes of the same size within one tick of the file system's
    clock leave the state unchanged, so the second one is not noticed.
    """
    state: Snapshot = {}
    for folder in catalog.scenario_dirs:
        try:
            with os.scandir(folder) as found:
                files = [item for item in found if item.name.endswith(DOCUMENT_SUFFIXES)]
                for item in files:
                    add_file(state, item.path)
        except OSError:
            continue
    for folder in catalog.fixture_dirs:
        for parent, _, names in os.walk(folder):
            for name in names:
                add_file(state, os.path.join(parent, name))
    return state


def add_file(state: Snapshot, path: str) -> None:
    try:
        stat = os.stat(path)
    except OSError:
        # Removed between the listing and the stat; the next poll sees it gone.
        return
    state[path] = (stat.st_mtime_ns, stat.st_size)


def changed_files(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


class Watcher:
    """A daemon thread that reloads `store`'s catalog when its files change."""

    def __init__(self, store: Store, interval: float = POLL_SECONDS) -> None:
        self.store = store
        self.interval = interval
        # `_applied` is the state the live catalog was read from, and `_seen`
        # the state at the last poll.
        self._applied = self._seen = snapshot(store.catalog)
        # Problems already logged for a scenario that keeps its previous version,
        # so that later reloads of other files do not repeat the line.
        self._reported: dict[str, list[str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Watcher:
        self._thread = threading.Thread(target=self._run, name="coder-mock-watch", daemon=True)
        self._thread.start()
        log.info("watching %d scenario and fixture folders for changes every %.1f s",
                 len(self.store.catalog.scenario_dirs) + len(self.store.catalog.fixture_dirs), self.interval)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the watcher must outlive any one failed reload.
                log.exception("reload of the scenario folders failed; the previous scenarios stay live")

    def poll(self) -> bool:
        """Reload when files changed and then stayed the same for one poll; return whether a reload ran.

        Waiting for one quiet poll keeps a file that an editor is still writing
        (truncated, or half written) from being served.
        """
        state = snapshot(self.store.catalog)
        settled = state == self._seen
        self._seen = state
        if not settled or state == self._applied:
            return False
        changed = changed_files(self._applied, state)
        # The state is taken before the files are read, so a file changed
        # during the reload differs at the next poll and is read again.
        self._applied = state
        self.reload(changed)
        return True

    def reload(self, changed: list[str]) -> None:
        previous = self.store.catalog
        catalog = previous.reopened()
        check_changed(previous, catalog, changed, self._reported)
        try:
            self.store.replace_catalog(catalog)
        except FileProblem as problem:
            log.warning("scenario folders not reloaded: %s", summary(problem.lines))
            return
        named = ", ".join(display_path(Path(path)) for path in changed[:FILES_NAMED])
        more = f" and {len(changed) - FILES_NAMED} more" if len(changed) > FILES_NAMED else ""
        log.info("scenario folders reloaded after changes to %s%s", named, more)


def check_changed(previous: Catalog, catalog: Catalog, changed: list[str], reported: dict[str, list[str]]) -> None:
    """Load into `catalog` each scenario that `changed` touches, keeping previous versions of broken ones.

    A scenario loaded in `previous` whose files and lookups are unchanged is
    carried over with its renderings. One loaded in `previous` that is broken
    now keeps its previous version, and its problems are logged unless
    `reported` has the same ones for it. A scenario file added or edited but never
    loaded is loaded too, so that its problems are logged now.
    """
    catalog.log_rejections = False
    try:
        for name, entry in list(previous.all_entries.items()):
            replacement = catalog.all_entries.get(name)
            if not entry.loaded or replacement is None:
                continue
            assert entry.dependencies is not None
            if replacement.path == entry.path and still_valid(entry.dependencies, catalog.candidates):
                catalog.adopt(entry)
            elif catalog.ensure(name):
                reported.pop(name, None)
            else:
                problems = catalog.rejected[name]
                if reported.get(name) != problems:
                    log.warning("scenario %s keeps its previous version live: %s", name, summary(problems))
                    reported[name] = problems
                catalog.adopt(entry)
        edited = {str(Path(path).resolve()) for path in changed}
        for name, entry in list(catalog.all_entries.items()):
            if entry.loaded or str(entry.path.resolve()) not in edited:
                continue
            if not catalog.ensure(name):
                log.warning("scenario %s cannot be served: %s", name, summary(catalog.rejected[name]))
    finally:
        catalog.log_rejections = True


def summary(lines: list[str]) -> str:
    """Return the first problem line, with a count of the others."""
    if len(lines) == 1:
        return lines[0]
    return f"{lines[0]} (and {len(lines) - 1} more problems; `coder-mock validate` lists them all)"
