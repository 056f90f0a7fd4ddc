"""The Store: atomic scenario switches under concurrent requests, failed switches and reset."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator

import pytest
from flask import Flask

from coder_mock.app import create_app
from coder_mock.catalog import Catalog
from coder_mock.server import bind
from coder_mock.store import Store, UnknownScenario

DEFAULT_VERSION = "v2.22.1+f724638"
DEV_BUILD_VERSION = "v0.0.0-devel+4bd8c1e"
PATHS = {"/api/v2/buildinfo": "build-info", "/api/v2/updatecheck": "update-check"}

READERS = 4
SWITCHES = 24
# After each switch the switcher waits for this many more responses. Each
# reader has at most one request that started before the switch and ended
# after it, so at least one of these responses is to a request started after it.
RESPONSES_AFTER_SWITCH = READERS + 1
# Readers pause once this many responses arrived since the last switch, so
# they cannot run far ahead of a switcher that gets little CPU time.
RESPONSES_PER_SWITCH = 4 * RESPONSES_AFTER_SWITCH
MAX_ROUNDS_PER_READER = SWITCHES * RESPONSES_PER_SWITCH
WAIT_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ObservedResponse:
    path: str
    status: int
    version: str | None
    body: bytes


@dataclass
class Traffic:
    """Responses and errors collected by the reader threads, and the pace between them and the switcher."""

    responses: list[ObservedResponse] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    responses_at_switch: int = 0
    switching_done: bool = False
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, response: ObservedResponse) -> None:
        with self.changed:
            self.responses.append(response)
            self.changed.notify_all()

    def fail(self, message: str) -> None:
        with self.changed:
            self.errors.append(message)
            self.changed.notify_all()

    def mark_switch(self) -> int:
        """Record that a switch finished and return the response count at that moment."""
        with self.changed:
            self.responses_at_switch = len(self.responses)
            self.changed.notify_all()
            return self.responses_at_switch

    def finish_switching(self) -> None:
        with self.changed:
            self.switching_done = True
            self.changed.notify_all()

    def wait_for_responses(self, total: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.responses) >= total or bool(self.errors), WAIT_SECONDS)

    def wait_for_next_switch(self) -> bool:
        """Pause a reader until the next switch once enough responses arrived since the last one.

        Return whether the reader should send more requests.
        """
        with self.changed:
            ready = self.changed.wait_for(
                lambda: self.switching_done
                or bool(self.errors)
                or len(self.responses) - self.responses_at_switch < RESPONSES_PER_SWITCH,
                WAIT_SECONDS,
            )
            if not ready:
                self.errors.append(f"reader: no switch within {WAIT_SECONDS} s")
            return ready and not self.switching_done and not self.errors


Fetch = Callable[[str], ObservedResponse]


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread and yield its host:port."""
    server = bind(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, name="coder-mock-test-server", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=WAIT_SECONDS)
        assert not thread.is_alive(), "the test server thread did not stop"


def socket_fetcher(address: str) -> Callable[[], Fetch]:
    def make() -> Fetch:
        def fetch(path: str) -> ObservedResponse:
            connection = http.client.HTTPConnection(address, timeout=HTTP_TIMEOUT_SECONDS)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                return ObservedResponse(path, response.status, response.getheader("X-Coder-Build-Version"), response.read())
            finally:
                connection.close()

        return fetch

    return make


def client_fetcher(app: Flask) -> Callable[[], Fetch]:
    def make() -> Fetch:
        client = app.test_client()

        def fetch(path: str) -> ObservedResponse:
            response = client.get(path)
            return ObservedResponse(path, response.status_code, response.headers.get("X-Coder-Build-Version"), response.data)

        return fetch

    return make


def expected_replies(catalog: Catalog, names: tuple[str, ...]) -> dict[str, dict[str, bytes]]:
    """Return each scenario's precomputed body by path."""
    return {
        name: {path: catalog.rendered(name).replies[operation].body for path, operation in PATHS.items()}
        for name in names
    }


def run_readers_and_switcher(make_fetch: Callable[[], Fetch], switch: Callable[[str], None]) -> Traffic:
    """Request both paths from READERS threads while one thread switches SWITCHES times."""
    traffic = Traffic()
    start = threading.Barrier(READERS + 1, timeout=WAIT_SECONDS)

    def read() -> None:
        fetch = make_fetch()
        try:
            start.wait()
            for _ in range(MAX_ROUNDS_PER_READER):
                if not traffic.wait_for_next_switch():
                    return
                for path in PATHS:
                    traffic.add(fetch(path))
        except Exception as error:  # noqa: BLE001 - the test asserts that no thread failed
            traffic.fail(f"reader: {type(error).__name__}: {error}")

    def switch_back_and_forth() -> None:
        try:
            start.wait()
            for index in range(SWITCHES):
                switch("dev-build" if index % 2 == 0 else "default")
                seen = traffic.mark_switch()
                if not traffic.wait_for_responses(seen + RESPONSES_AFTER_SWITCH):
                    traffic.fail(f"switcher: fewer than {RESPONSES_AFTER_SWITCH} responses within"
                                 f" {WAIT_SECONDS} s after switch {index}")
                    return
                if traffic.errors:
                    return
        except Exception as error:  # noqa: BLE001 - the test asserts that no thread failed
            traffic.fail(f"switcher: {type(error).__name__}: {error}")
        finally:
            traffic.finish_switching()

    threads = [threading.Thread(target=read, name=f"reader-{index}") for index in range(READERS)]
    threads.append(threading.Thread(target=switch_back_and_forth, name="switcher"))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 4 * WAIT_SECONDS
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert stuck == [], f"threads still running after {4 * WAIT_SECONDS} s: {stuck}"
    return traffic


def store_switcher(store: Store) -> Callable[[str], None]:
    def switch(name: str) -> None:
        assert store.switch(name).name == name

    return switch


def admin_switcher(app: Flask) -> Callable[[str], None]:
    client = app.test_client()

    def switch(name: str) -> None:
        response = client.put("/__admin/scenario", json={"name": name})
        assert response.status_code == 200, response.data
        assert response.get_json()["name"] == name

    return switch


@pytest.mark.parametrize("transport", ["socket", "test_client"])
@pytest.mark.parametrize("switch_by", ["store", "admin"])
def test_switch_under_concurrent_requests(
    request: pytest.FixtureRequest, catalog: Catalog, store: Store, app: Flask, transport: str, switch_by: str
) -> None:
    if transport == "socket":
        make_fetch = socket_fetcher(request.getfixturevalue("live_server"))
    else:
        make_fetch = client_fetcher(app)
    switch = store_switcher(store) if switch_by == "store" else admin_switcher(app)
    replies = expected_replies(catalog, ("default", "dev-build"))
    versions = {"default": DEFAULT_VERSION, "dev-build": DEV_BUILD_VERSION}

    traffic = run_readers_and_switcher(make_fetch, switch)

    assert traffic.errors == []
    assert len(traffic.responses) >= SWITCHES * RESPONSES_AFTER_SWITCH
    assert Counter(response.status for response in traffic.responses) == {200: len(traffic.responses)}
    mixed = []
    served = Counter()
    for response in traffic.responses:
        matching = [name for name in replies if replies[name][response.path] == response.body]
        if len(matching) != 1 or versions[matching[0]] != response.version:
            mixed.append((response.path, response.version, response.body[:120]))
        else:
            served[matching[0]] += 1
    assert mixed == []
    # Every switch was followed by a request that started after it, so both scenarios were served.
    assert set(served) == {"default", "dev-build"}
    assert store.active.name == "default"


def test_scenario_replies_differ(catalog: Catalog) -> None:
    """The concurrency test can only tell the scenarios apart if their bodies differ."""
    replies = expected_replies(catalog, ("default", "dev-build"))

    for path in PATHS:
        assert replies["default"][path] != replies["dev-build"][path]
    assert json.loads(replies["dev-build"]["/api/v2/buildinfo"])["version"] == DEV_BUILD_VERSION
    assert json.loads(replies["default"]["/api/v2/buildinfo"])["version"] == DEFAULT_VERSION


# --- Failed switches -------------------------------------------------------------


@pytest.mark.parametrize("name", ["nope", "../default", "", "Default"])
def test_failed_switch_keeps_previous(store: Store, name: str) -> None:
    store.switch("dev-build", 5)
    before = store.active

    with pytest.raises(UnknownScenario) as raised:
        store.switch(name)

    assert raised.value.args == (name,)
    assert store.active is before
    assert store.active.name == "dev-build"
    assert store.active.world.seed == 5


def test_failed_switch_serves_previous(store: Store, catalog: Catalog, app: Flask) -> None:
    store.switch("dev-build")
    client = app.test_client()

    with pytest.raises(UnknownScenario):
        store.switch("nope")
    response = client.get("/api/v2/buildinfo")

    assert response.status_code == 200
    assert response.headers["X-Coder-Build-Version"] == DEV_BUILD_VERSION
    assert response.data == catalog.rendered("dev-build").replies["build-info"].body


def test_unknown_initial_scenario(catalog: Catalog) -> None:
    with pytest.raises(UnknownScenario) as raised:
        Store(catalog, "nope")

    assert raised.value.args == ("nope",)


# --- Switch and reset ------------------------------------------------------------


def test_switch_returns_live(store: Store, catalog: Catalog) -> None:
    rendered = store.switch("outdated", 31)

    assert rendered is store.active
    assert rendered is catalog.rendered("outdated", 31)
    assert rendered.name == "outdated"
    assert rendered.world.seed == 31


@pytest.mark.parametrize(
    ("scenario", "seed", "expected_seed"),
    [("default", None, 1), ("default", 12345, 12345), ("dev-build", None, 1), ("dev-build", 7, 7)],
)
def test_reset_returns_initial(
    catalog: Catalog, scenario: str, seed: int | None, expected_seed: int
) -> None:
    store = Store(catalog, scenario, seed)
    initial = store.active
    store.switch("outdated", 99)
    store.switch("minimal")

    rendered = store.reset()

    assert rendered is store.active
    assert rendered.name == scenario
    assert rendered.world.seed == expected_seed
    assert rendered.replies == initial.replies
    assert store.initial == (scenario, seed, None)


def test_reset_without_switch(store: Store) -> None:
    initial = store.active

    rendered = store.reset()

    assert rendered is initial
    assert store.active.name == "default"
