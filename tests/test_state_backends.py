"""The state backends (memory, SQLite, Redis) against one contract, and processes sharing one backend."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from coder_mock.catalog import Catalog, load_catalog
from coder_mock.cli import StartFailure, build_parser, build_store, state_for_workers
from coder_mock.journal import Filters
from coder_mock.state import (
    BackendUnavailable,
    InvalidStateSpec,
    SessionRecord,
    Selection,
    StateBackend,
    check_spec,
    open_backend,
)
from coder_mock.state.sqlite import TRIM_EVERY
from coder_mock.store import SharedStore, Store
from state_helpers import RedisServer, redis_server, redis_url, serve  # noqa: F401 (pytest fixtures)

DEFAULT_VERSION = "v2.22.1+f724638"
DEV_BUILD_VERSION = "v0.0.0-devel+4bd8c1e"
RC_VERSION = "v2.22.0-rc.1"
SESSION_HEADER = "Coder-Mock-Session"
DEADLINE_SECONDS = 10.0
TOKEN = r"^[A-Za-z0-9]{10}-[A-Za-z0-9]{22}$"

BACKEND_KINDS = ("memory", "sqlite", "redis")
SHARED_KINDS = ("sqlite", "redis")


@pytest.fixture
def spec_for(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Return the --state value of a fresh backend of each kind; Redis starts only when asked for."""

    def spec(kind: str) -> str:
        if kind == "memory":
            return "memory"
        if kind == "sqlite":
            return f"sqlite:{tmp_path / 'state.db'}"
        return request.getfixturevalue("redis_url")

    return spec


@pytest.fixture(params=BACKEND_KINDS)
def backend(request: pytest.FixtureRequest, spec_for: Callable[[str], str]) -> Iterator[StateBackend]:
    opened = open_backend(spec_for(request.param))
    yield opened
    opened.close()


def record(session_id: str, last_used_at: float, **tokens: str) -> SessionRecord:
    selection = Selection("dev-build", 7, None)
    return SessionRecord(session_id, selection, selection, 100.0, last_used_at, dict(tokens))


def entry(number: int, session: str | None = None) -> dict[str, object]:
    return {"path": f"/request/{number}", "session": session}


# --- The backend contract ------------------------------------------------------------


def test_initialise_keeps_existing_selection(backend: StateBackend) -> None:
    backend.initialise(Selection("default", None, None))
    backend.initialise(Selection("outdated", 3, "reference"))

    snapshot = backend.snapshot()
    assert snapshot.selection == Selection("default", None, None)
    assert snapshot.initial == Selection("default", None, None)
    assert snapshot.sessions == {}


def test_set_selection_increments_version(backend: StateBackend) -> None:
    backend.initialise(Selection("default"))
    before = backend.version()

    after = backend.set_selection(Selection("dev-build", 5, "reference"))

    assert after == before + 1
    assert backend.version() == after
    assert backend.snapshot().selection == Selection("dev-build", 5, "reference")
    assert backend.snapshot().initial == Selection("default")


def test_session_lifecycle(backend: StateBackend) -> None:
    backend.initialise(Selection("default"))
    version = backend.version()

    assert backend.add_session(record("s1", 200.0, tokenAAAAA="admin")) == version + 1
    stored = backend.snapshot().sessions
    assert list(stored) == ["s1"]
    assert stored["s1"] == record("s1", 200.0, tokenAAAAA="admin")

    updated = backend.update_session("s1", lambda current: SessionRecord(
        current.id, Selection("outdated"), current.initial, current.created_at, 250.0,
        {**current.tokens, "tokenBBBBB": "member"}))
    assert updated is not None
    assert backend.version() == version + 2
    assert backend.snapshot().sessions["s1"].selection == Selection("outdated")
    assert backend.snapshot().sessions["s1"].tokens == {"tokenAAAAA": "admin", "tokenBBBBB": "member"}
    assert backend.update_session("missing", lambda current: current) is None

    assert backend.end_session("s1") is True
    assert backend.end_session("s1") is False
    assert backend.snapshot().sessions == {}


def test_touch_keeps_version(backend: StateBackend) -> None:
    backend.initialise(Selection("default"))
    backend.add_session(record("s1", 200.0))
    version = backend.version()

    backend.touch_session("s1", 300.0)
    backend.touch_session("s1", 250.0)
    backend.touch_session("missing", 300.0)

    assert backend.version() == version
    assert backend.snapshot().sessions["s1"].last_used_at == 300.0
    assert list(backend.snapshot().sessions) == ["s1"]


def test_end_idle_sessions(backend: StateBackend) -> None:
    backend.initialise(Selection("default"))
    backend.add_session(record("old", 100.0))
    backend.add_session(record("new", 300.0))
    version = backend.version()

    assert backend.end_idle_sessions(200.0) == ["old"]
    assert backend.version() == version + 1
    assert list(backend.snapshot().sessions) == ["new"]
    assert backend.end_idle_sessions(200.0) == []
    assert backend.version() == version + 1


def test_journal_ring_is_bounded(backend: StateBackend) -> None:
    storage = backend.journal_storage(3)

    for number in range(5):
        storage.append(1000 + number, entry(number))

    assert storage.length() == 3
    assert storage.entries() == [(1002, entry(2)), (1003, entry(3)), (1004, entry(4))]


def test_sqlite_journal_table_stays_bounded(tmp_path: Path) -> None:
    backend = open_backend(f"sqlite:{tmp_path / 'state.db'}")
    storage = backend.journal_storage(3)

    for number in range(1000):
        storage.append(number, entry(number))
        with backend.connection() as connection:
            rows = connection.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        assert rows < 3 + TRIM_EVERY

    assert storage.entries() == [(997, entry(997)), (998, entry(998)), (999, entry(999))]
    assert storage.length() == 3
    # Rows beyond the ring are not counted as cleared.
    assert storage.clear() == 3
    backend.close()


def test_journal_clear_by_session(backend: StateBackend) -> None:
    storage = backend.journal_storage(10)
    for number, session in enumerate(["a", None, "a", "b"]):
        storage.append(number, entry(number, session))

    assert storage.clear("a") == 2
    assert storage.entries() == [(1, entry(1)), (3, entry(3, "b"))]
    assert storage.clear() == 2
    assert storage.length() == 0


def test_memory_backend_is_not_shared(catalog: Catalog) -> None:
    assert type(Store(catalog, "default")) is Store
    assert Store(catalog, "default").shared is False


# --- --state values ------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["memory", "sqlite:/tmp/x.db", "sqlite:relative.db", "redis://127.0.0.1:6379/0",
                                  "unix:///tmp/redis.sock"])
def test_state_spec_accepted(spec: str) -> None:
    assert check_spec(spec) == spec


@pytest.mark.parametrize(("spec", "message"), [
    ("sqlite:", "invalid --state value 'sqlite:': give the database file after sqlite:, such as"
                " sqlite:/tmp/coder-mock.db"),
    ("postgres://x", "invalid --state value 'postgres://x': use memory, sqlite:PATH, redis://HOST:PORT/DB or"
                     " unix:///path/redis.sock"),
    ("", "invalid --state value '': use memory, sqlite:PATH, redis://HOST:PORT/DB or unix:///path/redis.sock"),
])
def test_state_spec_rejected(spec: str, message: str) -> None:
    with pytest.raises(InvalidStateSpec) as raised:
        check_spec(spec)
    assert str(raised.value) == message


def test_sqlite_missing_folder_unavailable(tmp_path: Path) -> None:
    spec = f"sqlite:{tmp_path / 'missing' / 'state.db'}"

    with pytest.raises(BackendUnavailable) as raised:
        open_backend(spec)

    assert str(raised.value) == (f"cannot open the state file {spec!r}: unable to open database file; check that"
                                 " its folder exists and is writable, or fix the --state value.")


def test_redis_unreachable_unavailable(tmp_path: Path) -> None:
    spec = f"unix://{tmp_path / 'no-redis.sock'}"

    with pytest.raises(BackendUnavailable) as raised:
        open_backend(spec)

    message = str(raised.value)
    assert message.startswith(f"cannot reach the Redis state backend {spec!r}: ")
    assert message.endswith("; start Redis there or fix the --state value.")


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_serve_unreachable_backend_exits_2(tmp_path: Path, kind: str) -> None:
    spec = f"sqlite:{tmp_path / 'missing' / 'x.db'}" if kind == "sqlite" else f"unix://{tmp_path / 'none.sock'}"

    result = subprocess.run([sys.executable, "-m", "coder_mock", "serve", "--port", "0", "--state", spec],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert result.stdout == ""
    # The backend is opened before anything is logged, so its problem is the only line.
    [line] = result.stderr.splitlines()
    if kind == "sqlite":
        assert line == (f"coder-mock: cannot open the state file {spec!r}: unable to open database file; check that"
                        " its folder exists and is writable, or fix the --state value.")
    else:
        assert line.startswith(f"coder-mock: cannot reach the Redis state backend {spec!r}: ")
        assert line.endswith("; start Redis there or fix the --state value.")


def test_serve_invalid_state_exits_2(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "coder_mock", "serve", "--port", "0", "--state", "mysql://x"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "coder-mock serve: error: argument --state: invalid --state value 'mysql://x': use memory, sqlite:PATH,"
        " redis://HOST:PORT/DB or unix:///path/redis.sock")


# --- Two Stores on one backend, as two worker processes build them ---------------------


@pytest.fixture(params=SHARED_KINDS)
def store_pair(request: pytest.FixtureRequest, catalog: Catalog,
               spec_for: Callable[[str], str]) -> Iterator[tuple[Store, Store]]:
    spec = spec_for(request.param)
    first = Store(catalog, "default", journal_size=5, state=open_backend(spec))
    second = Store(catalog, "default", journal_size=5, state=open_backend(spec))
    yield first, second
    first.close()
    second.close()


def test_shared_store_class(store_pair: tuple[Store, Store]) -> None:
    first, second = store_pair

    assert type(first) is SharedStore
    assert first.shared is True
    assert second.active is first.active


def test_switch_seen_by_other_store(store_pair: tuple[Store, Store]) -> None:
    first, second = store_pair

    first.switch("dev-build", 9, "reference")

    assert second.active.version == DEV_BUILD_VERSION
    assert second.active.world.seed == 9
    assert second.active.profile == "reference"
    assert second.profile == "reference"


def test_reset_through_other_store(store_pair: tuple[Store, Store]) -> None:
    first, second = store_pair
    first.switch("dev-build", 9, "reference")

    second.reset()

    assert first.active.name == "default"
    assert first.active.profile == "wire"
    assert first.profile is None


def test_second_store_joins_live_selection(catalog: Catalog, tmp_path: Path) -> None:
    spec = f"sqlite:{tmp_path / 'state.db'}"
    first = Store(catalog, "default", state=open_backend(spec))
    first.switch("release-candidate")

    joined = Store(catalog, "dev-build", state=open_backend(spec))

    assert joined.active.version == RC_VERSION
    assert joined.initial == ("default", None, None)
    first.close()
    joined.close()


def test_session_shared_between_stores(store_pair: tuple[Store, Store]) -> None:
    first, second = store_pair

    created = first.create_session("dev-build", 4)
    token = created["tokens"][0]["token"]

    assert second.has_sessions() is True
    assert second.session_for_token(token) == created["id"]
    assert second.view(created["id"]).version == DEV_BUILD_VERSION
    assert [session["id"] for session in second.list_sessions()] == [created["id"]]

    second.switch("release-candidate", session=created["id"])
    assert first.view(created["id"]).version == RC_VERSION
    assert first.active.version == DEFAULT_VERSION

    assert second.end_session(created["id"]) is True
    assert first.has_sessions() is False
    assert first.session_for_token(token) is None


def test_journal_shared_and_bounded(store_pair: tuple[Store, Store]) -> None:
    first, second = store_pair

    for number in range(4):
        first.journal.record(number, entry(number))
        second.journal.record(10 + number, entry(10 + number, "s"))

    assert len(first.journal) == 5
    expected = ["/request/11", "/request/2", "/request/12", "/request/3", "/request/13"]
    assert [item["path"] for item in first.journal.query()] == expected
    assert [item["path"] for item in second.journal.query()] == expected
    assert second.journal.count(Filters(session="s")) == 3
    assert first.journal.clear("s") == 3
    assert [item["path"] for item in second.journal.query()] == ["/request/2", "/request/3"]


def test_idle_session_ended_across_stores(catalog: Catalog, tmp_path: Path) -> None:
    spec = f"sqlite:{tmp_path / 'state.db'}"
    first = Store(catalog, "default", state=open_backend(spec), session_idle=0.2)
    second = Store(catalog, "default", state=open_backend(spec), session_idle=0.2)
    created = first.create_session("dev-build")

    deadline = time.monotonic() + DEADLINE_SECONDS
    while second.list_sessions() and time.monotonic() < deadline:
        time.sleep(0.05)

    assert second.list_sessions() == []
    assert first.has_sessions() is False
    assert first.session_for_token(created["tokens"][0]["token"]) is None
    first.close()
    second.close()


# --- Two `coder-mock serve` processes on one backend -----------------------------------


@pytest.mark.parametrize("kind", SHARED_KINDS)
def test_two_servers_share_state(kind: str, spec_for: Callable[[str], str], serve: Callable) -> None:
    spec = spec_for(kind)
    one = serve("--state", spec)
    two = serve("--state", spec)
    assert one.json("GET", "/__admin/health")["instance_id"] != two.json("GET", "/__admin/health")["instance_id"]

    # A switch through one process is served by the other on its next request.
    one.json("PUT", "/__admin/scenario", {"name": "dev-build", "seed": 5})
    status, headers, body = two.request("GET", "/api/v2/buildinfo")
    assert status == 200
    assert headers["X-Coder-Build-Version"] == DEV_BUILD_VERSION
    assert json.loads(body)["version"] == DEV_BUILD_VERSION
    assert two.json("GET", "/__admin/scenario")["seed"] == 5

    # A session created through one process is served by the other, by header and by token.
    created = two.json("POST", "/__admin/sessions", {"scenario": "release-candidate"})
    assert [session["id"] for session in one.json("GET", "/__admin/sessions")["sessions"]] == [created["id"]]
    status, headers, _ = one.request("GET", "/api/v2/buildinfo", headers={SESSION_HEADER: created["id"]})
    assert (status, headers["X-Coder-Build-Version"]) == (200, RC_VERSION)
    owner_token = created["tokens"][0]["token"]
    status, headers, body = one.request("GET", "/api/v2/deployment/config",
                                        headers={"Authorization": f"Bearer {owner_token}"})
    assert (status, headers["X-Coder-Build-Version"]) == (200, RC_VERSION)
    status, headers, _ = one.request("GET", "/api/v2/buildinfo")
    assert headers["X-Coder-Build-Version"] == DEV_BUILD_VERSION

    # The journal contains the requests of both processes, seen from either.
    for server in (one, two):
        paths = [(item["path"], item["session"]) for item in
                 server.json("GET", "/__admin/requests?path_prefix=/api/v2/")["requests"]]
        assert paths == [("/api/v2/buildinfo", None), ("/api/v2/buildinfo", created["id"]),
                         ("/api/v2/deployment/config", created["id"]), ("/api/v2/buildinfo", None)]
    scoped = two.json("GET", "/__admin/requests?path_prefix=/api/v2/", headers={SESSION_HEADER: created["id"]})
    assert [item["path"] for item in scoped["requests"]] == ["/api/v2/buildinfo", "/api/v2/deployment/config"]

    # Ending the session through one process ends it for the other.
    status, _, _ = one.request("DELETE", f"/__admin/sessions/{created['id']}")
    assert status == 204
    status, _, body = two.request("GET", "/api/v2/buildinfo", headers={SESSION_HEADER: created["id"]})
    assert status == 404
    assert json.loads(body)["message"] == f'Unknown coder-mock session "{created["id"]}".'


@pytest.mark.parametrize("kind", SHARED_KINDS)
def test_journal_bounded_across_servers(kind: str, spec_for: Callable[[str], str], serve: Callable) -> None:
    spec = spec_for(kind)
    one = serve("--state", spec, "--journal-size", "4")
    two = serve("--state", spec, "--journal-size", "4")

    for number in range(5):
        for server in (one, two):
            server.request("GET", f"/api/v2/buildinfo?n={number}")

    recorded = one.json("GET", "/__admin/requests")
    assert recorded["size"] == 4
    assert [item["query"] for item in recorded["requests"]] == [{"n": ["3"]}, {"n": ["3"]}, {"n": ["4"]},
                                                                {"n": ["4"]}]


def test_serve_rejects_unknown_live_scenario(tmp_path: Path) -> None:
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "extra-only.yaml").write_text("extends: default\ndescription: A scenario only one process loads.\n")
    spec = f"sqlite:{tmp_path / 'state.db'}"
    first = Store(load_catalog([folder]), "extra-only", state=open_backend(spec))
    first.close()

    result = subprocess.run([sys.executable, "-m", "coder_mock", "serve", "--port", "0", "--state", spec],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"coder-mock: the state {spec!r} serves scenario 'extra-only', which this process did not load;"
        " start it with the same --scenarios-dir as the others.")


def test_deleted_state_started_again(catalog: Catalog, redis_server: RedisServer, redis_url: str) -> None:
    store = Store(catalog, "dev-build", state=open_backend(redis_url))
    store.switch("release-candidate")
    client = redis_server.client()

    client.flushdb()

    assert store.active.version == DEV_BUILD_VERSION
    assert store.initial == ("dev-build", None, None)
    assert json.loads(client.get("coder-mock:selection")) == {"name": "dev-build", "seed": None, "profile": None}
    client.close()
    store.close()


def test_flushed_state_seen_by_both_stores(catalog: Catalog, redis_server: RedisServer, redis_url: str) -> None:
    # After the flush the version counter starts again, and the second switch brings it back to the
    # number that the second store cached for another selection.
    first = Store(catalog, "default", state=open_backend(redis_url))
    second = Store(catalog, "default", state=open_backend(redis_url))
    first.switch("dev-build")
    assert second.active.version == DEV_BUILD_VERSION
    client = redis_server.client()

    client.flushall()
    assert first.active.name == "default"
    first.switch("outdated")

    assert second.active.name == "outdated"
    assert first.active.name == "outdated"
    client.close()
    first.close()
    second.close()


@pytest.mark.parametrize("kind", SHARED_KINDS)
def test_shared_version_starts_at_time(kind: str, spec_for: Callable[[str], str]) -> None:
    backend = open_backend(spec_for(kind))
    before = time.time_ns()
    backend.initialise(Selection("default"))
    started = backend.version()

    assert before <= started <= time.time_ns()
    assert backend.set_selection(Selection("dev-build")) == started + 1
    backend.close()


def test_state_default_is_none() -> None:
    assert build_parser().parse_args(["serve"]).state is None


def test_state_for_workers(tmp_path: Path) -> None:
    parser = build_parser()

    assert state_for_workers(parser.parse_args(["serve"]), tmp_path) == f"sqlite:{tmp_path / 'coder-mock-state.db'}"
    assert state_for_workers(parser.parse_args(["serve", "--state", "sqlite:x.db"]), tmp_path) == "sqlite:x.db"
    with pytest.raises(StartFailure) as raised:
        state_for_workers(parser.parse_args(["serve", "--state", "memory"]), tmp_path)
    assert str(raised.value) == ("--state memory cannot be shared by worker processes; leave --state out to share a"
                                 " new SQLite file, or give sqlite:PATH or a Redis URL.")


def test_build_store_per_worker(tmp_path: Path) -> None:
    args = build_parser().parse_args(["serve", "--scenario", "dev-build", "--journal-size", "7",
                                      "--session-idle", "60"])
    args.state = state_for_workers(args, tmp_path)

    workers = [build_store(args), build_store(args)]
    workers[0].switch("release-candidate")

    assert [type(store) for store in workers] == [SharedStore, SharedStore]
    assert workers[1].active.version == RC_VERSION
    assert workers[1].journal.size == 7
    assert workers[1].session_idle == 60.0
    for store in workers:
        store.close()


def test_build_store_memory_default() -> None:
    store = build_store(build_parser().parse_args(["serve"]))

    assert type(store) is Store
    assert store.state.spec == "memory"
