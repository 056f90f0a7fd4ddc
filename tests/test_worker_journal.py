"""WorkerJournalStorage: rings of several processes merged through unix sockets in one folder.

Two instances in one process stand for two workers; each is given its own
pid so that each serves its own socket file.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

from coder_mock.state import worker_journal
from coder_mock.state.worker_journal import WorkerJournalStorage, socket_path


def entry(number: int, session: str | None = None) -> dict[str, Any]:
    return {"path": f"/{number}", "session": session}


def open_storage(folder: Path, size: int, pid: int, monkeypatch: pytest.MonkeyPatch) -> WorkerJournalStorage:
    monkeypatch.setattr(worker_journal.os, "getpid", lambda: pid)
    return WorkerJournalStorage(size, folder)


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[WorkerJournalStorage, WorkerJournalStorage]]:
    first = open_storage(tmp_path, 5, 1001, monkeypatch)
    second = open_storage(tmp_path, 5, 1002, monkeypatch)
    yield first, second
    first.close()
    second.close()


def paths(storage: WorkerJournalStorage) -> list[str]:
    return [item["path"] for _, item in storage.entries()]


def test_socket_file_per_instance(pair: tuple[WorkerJournalStorage, WorkerJournalStorage], tmp_path: Path) -> None:
    assert sorted(path.name for path in tmp_path.iterdir()) == ["journal-1001.sock", "journal-1002.sock"]


def test_entries_merged_from_both(pair: tuple[WorkerJournalStorage, WorkerJournalStorage]) -> None:
    first, second = pair
    first.append(10, entry(10))
    second.append(20, entry(20))
    first.append(30, entry(30))
    assert paths(first) == ["/10", "/20", "/30"]
    assert paths(second) == ["/10", "/20", "/30"]
    assert first.entries()[1] == (20, {"path": "/20", "session": None})


def test_equal_timestamps_ordered_by_pid(pair: tuple[WorkerJournalStorage, WorkerJournalStorage]) -> None:
    first, second = pair
    second.append(10, entry(2))
    first.append(10, entry(1))
    assert paths(second) == ["/1", "/2"]


def test_merged_entries_keep_newest_size(pair: tuple[WorkerJournalStorage, WorkerJournalStorage]) -> None:
    first, second = pair
    for number in range(4):
        first.append(number * 2, entry(number * 2))
        second.append(number * 2 + 1, entry(number * 2 + 1))
    assert paths(first) == ["/3", "/4", "/5", "/6", "/7"]
    assert first.length() == 5
    assert first.ring.length() == 4


def test_length_sums_rings(pair: tuple[WorkerJournalStorage, WorkerJournalStorage]) -> None:
    first, second = pair
    first.append(1, entry(1))
    second.append(2, entry(2))
    assert first.length() == 2
    assert second.length() == 2


def test_clear_all_returns_total(pair: tuple[WorkerJournalStorage, WorkerJournalStorage]) -> None:
    first, second = pair
    first.append(1, entry(1))
    second.append(2, entry(2))
    second.append(3, entry(3))
    assert first.clear() == 3
    assert first.length() == 0
    assert second.entries() == []


def test_clear_session_only(pair: tuple[WorkerJournalStorage, WorkerJournalStorage]) -> None:
    first, second = pair
    first.append(1, entry(1, "s"))
    first.append(2, entry(2))
    second.append(3, entry(3, "s"))
    assert second.clear("s") == 2
    assert paths(first) == ["/2"]


def test_dead_socket_skipped_and_removed(pair: tuple[WorkerJournalStorage, WorkerJournalStorage],
                                         tmp_path: Path) -> None:
    first, _ = pair
    first.append(1, entry(1))
    # A socket file that no process listens on, as a worker that exited leaves it.
    dead = socket_path(tmp_path, 999)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(dead))
    assert dead.exists()
    assert paths(first) == ["/1"]
    assert not dead.exists()


def test_closed_instance_leaves_folder(pair: tuple[WorkerJournalStorage, WorkerJournalStorage],
                                       tmp_path: Path) -> None:
    first, second = pair
    second.append(2, entry(2))
    second.close()
    assert not socket_path(tmp_path, 1002).exists()
    first.append(1, entry(1))
    assert paths(first) == ["/1"]
    assert first.length() == 1


def test_entries_of_large_ring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = open_storage(tmp_path, 1000, 2001, monkeypatch)
    second = open_storage(tmp_path, 1000, 2002, monkeypatch)
    try:
        body = "x" * 4096
        for number in range(1000):
            second.append(number, {"path": f"/{number}", "session": None, "body": body})
        merged = first.entries()
        assert len(merged) == 1000
        assert merged[-1] == (999, {"path": "/999", "session": None, "body": body})
    finally:
        first.close()
        second.close()
