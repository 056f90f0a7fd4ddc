"""Journal entries keep headers and query parameters up to a limit, on Flask's routes and on the fast path."""

from __future__ import annotations

import gc
import json
import tracemalloc
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client

from coder_mock import fastpath
from coder_mock.app import create_app
from coder_mock.catalog import Catalog
from coder_mock.journal import BODY_LIMIT, HEADERS_LIMIT, QUERY_LIMIT, REDACTED, cap_headers, cap_query
from coder_mock.store import Store

from conftest import MEMBER_TOKEN

LARGE_HEADER_COUNT = 110
LARGE_HEADER_SIZE = 8000
REQUEST_COUNT = 60


def large_headers() -> dict[str, str]:
    return {f"X-Large-{index:03d}": "v" * LARGE_HEADER_SIZE for index in range(LARGE_HEADER_COUNT)}


def header_characters(headers: dict[str, str]) -> int:
    return sum(len(name) + len(value) for name, value in headers.items())


# --- The caps alone ---------------------------------------------------------------------------


def test_cap_headers_under_limit() -> None:
    assert cap_headers({"A": "1", "Bb": "22"}, limit=6) == ({"A": "1", "Bb": "22"}, False)


def test_cap_headers_cuts_crossing_value() -> None:
    kept, truncated = cap_headers({"A": "1", "Bb": "2222", "C": "3"}, limit=6)

    assert kept == {"A": "1", "Bb": "22"}
    assert truncated is True


def test_cap_headers_drops_name_without_room() -> None:
    kept, truncated = cap_headers({"A": "1", "Long-Name": "2"}, limit=5)

    assert kept == {"A": "1"}
    assert truncated is True


def test_cap_headers_redacts_before_counting() -> None:
    kept, truncated = cap_headers({"Coder-Session-Token": "t" * 100}, limit=len("Coder-Session-Token") + len(REDACTED))

    assert kept == {"Coder-Session-Token": REDACTED}
    assert truncated is False


def test_cap_query_cuts_crossing_value() -> None:
    kept, truncated = cap_query({"a": ["12", "345"], "b": ["6"]}, limit=5)

    assert kept == {"a": ["12", "34"]}
    assert truncated is True


def test_cap_query_under_limit() -> None:
    assert cap_query({"a": ["1", "2"], "access_token": ["x"]}, limit=100) == (
        {"a": ["1", "2"], "access_token": [REDACTED]}, False)


# --- Through the app --------------------------------------------------------------------------


def test_large_headers_capped(app: Flask, store: Store) -> None:
    Client(app).get("/api/v2/buildinfo", headers=large_headers())

    entry = store.journal.query()[-1]
    assert entry["headers_truncated"] is True
    assert header_characters(entry["headers"]) == HEADERS_LIMIT
    assert entry["query_truncated"] is False


def test_large_query_capped(app: Flask, store: Store) -> None:
    Client(app).get("/api/v2/buildinfo", query_string={"q": "x" * (QUERY_LIMIT * 2), "later": "y"})

    entry = store.journal.query()[-1]
    assert entry["query"] == {"q": ["x" * (QUERY_LIMIT - 1)]}
    assert entry["query_truncated"] is True
    assert entry["headers_truncated"] is False


def test_entry_size_bounded(app: Flask, store: Store) -> None:
    query = {f"p{index}": "q" * 1000 for index in range(40)}
    Client(app).post("/api/v2/csp/reports", headers=large_headers(), query_string=query, data=b"b" * 50_000)

    entry = store.journal.query()[-1]
    # The limits count characters; the rest of an entry (path, time, names of fields) is well under 1 KiB here.
    assert len(json.dumps(entry)) < HEADERS_LIMIT + QUERY_LIMIT + BODY_LIMIT + 1024
    assert entry["headers_truncated"] is True
    assert entry["query_truncated"] is True
    assert entry["body_truncated"] is True


def test_journal_memory_capped(catalog: Catalog) -> None:
    store = Store(catalog, "default", journal_size=REQUEST_COUNT)
    client = Client(create_app(store, quiet=True))
    headers = large_headers()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(REQUEST_COUNT):
            client.get("/api/v2/buildinfo", headers=headers)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()

    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(store.journal.query()) == REQUEST_COUNT
    # Uncapped, each entry kept about 880 KB of headers (53 MB for 60); capped, each keeps about 16 KiB.
    assert grown < REQUEST_COUNT * 4 * HEADERS_LIMIT


@pytest.mark.parametrize(("headers", "query", "flags"), [
    (large_headers(), "", (True, False)),
    ({"Coder-Session-Token": MEMBER_TOKEN}, "q=" + "x" * (QUERY_LIMIT + 10), (False, True)),
])
def test_fast_path_caps_alike(catalog: Catalog, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str],
                              query: str, flags: tuple[bool, bool]) -> None:
    entries: list[dict[str, Any]] = []
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr(fastpath, "fast_path_applies", lambda store, environ: False)
        store = Store(catalog, "default")
        Client(create_app(store, quiet=True)).get("/api/v2/buildinfo", headers=headers, query_string=query)
        entry = store.journal.query()[-1]
        entries.append({key: value for key, value in entry.items() if key != "time"})

    assert entries[0] == entries[1]
    assert (entries[0]["headers_truncated"], entries[0]["query_truncated"]) == flags
