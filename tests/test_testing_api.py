"""CoderMock: the server lifecycle, tokens, scenario switches, the journal and assert_called."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from coder_mock.testing import AdminRequestFailed, CoderMock, CoderMockError, JournalDisabled, Tokens, Token
from conftest import BUILTIN_SCENARIOS, EXPIRED_TOKEN, MEMBER_TOKEN, OWNER_TOKEN
from state_helpers import ServeProcess, serve  # noqa: F401 (pytest fixture)

AVAILABLE = ", ".join(BUILTIN_SCENARIOS)
TEAM_SCENARIO = """\
extends: default
description: Two owners and a member named carol.
users:
  - username: alice
    roles: [owner]
    tokens:
      - token: aliceToken-abcdefghijklmnopqrstuv
  - username: bob
    roles: [owner]
    tokens:
      - token: bobTokenXY-abcdefghijklmnopqrstuv
  - username: carol
    roles: [member]
    tokens:
      - token: carolToken-abcdefghijklmnopqrstuv
        expires_at: "2025-01-01T00:00:00Z"
      - token: carolTokn2-abcdefghijklmnopqrstuv
"""


def send(method: str, url: str, token: str | None = None) -> tuple[int, Any]:
    """Send a request without a body and return the status and the decoded JSON body."""
    request = urllib.request.Request(url, method=method)
    if token is not None:
        request.add_header("Coder-Session-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except ConnectionRefusedError:
        return False


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def shared() -> Iterator[CoderMock]:
    with CoderMock() as mock:
        yield mock


@pytest.fixture
def mock(shared: CoderMock) -> CoderMock:
    shared.reset()
    return shared


# --- Lifecycle ------------------------------------------------------------------------------------


def test_with_block_serves_then_stops() -> None:
    with CoderMock(scenario="outdated") as mock:
        url = mock.url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert mock.running
        status, body = send("GET", url + "/api/v2/updatecheck")
        assert status == 200
        assert body == {"current": False, "version": "v2.24.1",
                        "url": "https://github.com/coder/coder/releases/tag/v2.24.1"}

    assert not mock.running
    assert not port_accepts(port_of(url))


def test_start_stop_methods() -> None:
    mock = CoderMock()
    assert mock.start() is mock
    url = mock.url
    try:
        assert send("GET", url + "/__admin/health")[0] == 200
    finally:
        mock.stop()

    assert not port_accepts(port_of(url))
    mock.stop()  # A second stop does nothing.
    with pytest.raises(CoderMockError) as raised:
        mock.url
    assert str(raised.value) == "coder-mock is not running: call start() or use the CoderMock in a with block."


def test_stop_ends_keep_alive_connections() -> None:
    with CoderMock() as mock:
        client = http.client.HTTPConnection("127.0.0.1", port_of(mock.url), timeout=5)
        client.request("GET", "/api/v2/buildinfo")
        response = client.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("Connection") is None
        connection = client.sock

    # The server ends the kept-alive connection, so the client reads end of file.
    try:
        assert connection.recv(65536) == b""
    finally:
        client.close()


def test_restart_after_stop() -> None:
    mock = CoderMock()
    with mock:
        first = mock.url
    with mock:
        assert send("GET", mock.url + "/api/v2/buildinfo")[0] == 200
    assert not port_accepts(port_of(first))


def test_start_twice_raises() -> None:
    with CoderMock() as mock:
        with pytest.raises(CoderMockError) as raised:
            mock.start()
        assert str(raised.value) == f"coder-mock is already running at {mock.url}; call stop() before start()."


def test_stop_leaves_no_thread() -> None:
    with CoderMock() as mock:
        name = f"coder-mock 127.0.0.1:{port_of(mock.url)}"
        assert name in [thread.name for thread in threading.enumerate()]
    assert name not in [thread.name for thread in threading.enumerate()]


def test_seed_and_profile_apply() -> None:
    with CoderMock(scenario="default", seed=7, profile="reference") as mock:
        live = mock.scenario
        assert (live.name, live.seed, live.profile) == ("default", 7, "reference")


@pytest.mark.parametrize(("arguments", "message"), [
    ({"scenario": "nope"}, f"unknown scenario 'nope'; choose one of {AVAILABLE}."),
    ({"scenario": ""}, "invalid scenario '': give a scenario name such as 'outdated'."),
    ({"seed": "7"}, "invalid seed '7': give an integer or None for the scenario's own seed."),
    ({"seed": True}, "invalid seed True: give an integer or None for the scenario's own seed."),
    ({"seed": 2**63}, f"invalid seed {2**63}: give an integer within the range of a 64-bit integer."),
    ({"profile": "wired"}, "invalid profile 'wired': use 'wire' or 'reference', or None for the scenario's"
                           " own profile."),
    ({"journal_size": 0}, "invalid journal_size 0: give a positive number of entries, because assert_called"
                          " and the journal need recorded requests."),
    ({"scenarios_dir": ["/nonexistent/coder-mock"]}, "/nonexistent/coder-mock: folder not found; check the"
                                                     " scenarios_dir and fixtures_dir values."),
])
def test_invalid_options_raise(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(CoderMockError) as raised:
        CoderMock(**arguments).start()
    assert str(raised.value) == message


def test_rejected_scenario_raises(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("extends: default\ndescription: Broken.\nseed: many\n")

    with pytest.raises(CoderMockError) as raised:
        CoderMock(scenario="broken", scenarios_dir=[tmp_path]).start()

    assert str(raised.value).startswith("scenario 'broken' cannot be served: ")
    assert "broken.yaml: seed: " in str(raised.value)


def test_busy_port_raises() -> None:
    with CoderMock() as first:
        port = port_of(first.url)
        with pytest.raises(CoderMockError) as raised:
            CoderMock(port=port).start()
    assert str(raised.value) == (f"port {port} on 127.0.0.1 is already in use; stop the process using it"
                                 " or pick another port with --port (0 picks a free one).")


# --- Tokens ---------------------------------------------------------------------------------------


def test_builtin_tokens(mock: CoderMock) -> None:
    tokens = mock.tokens

    assert tokens.owner == OWNER_TOKEN
    assert tokens.member == MEMBER_TOKEN
    assert tokens.expired == EXPIRED_TOKEN
    assert tokens["admin"] == OWNER_TOKEN
    assert tokens["MEMBER"] == MEMBER_TOKEN
    assert tokens.admin == OWNER_TOKEN
    assert tokens.all == (
        Token("admin", ("owner",), OWNER_TOKEN, False),
        Token("member", ("member",), MEMBER_TOKEN, False),
        Token("member", ("member",), EXPIRED_TOKEN, True),
    )


def test_tokens_authenticate(mock: CoderMock) -> None:
    config = mock.url + "/api/v2/deployment/config"

    assert send("GET", config, mock.tokens.owner)[0] == 200
    assert send("GET", config, mock.tokens.member)[0] == 403
    status, body = send("GET", config, mock.tokens.expired)
    assert status == 401
    assert body["message"] == "You are signed out or your session has expired. Please sign in again to continue."


def test_unknown_user_raises(mock: CoderMock) -> None:
    with pytest.raises(KeyError) as raised:
        mock.tokens["zoe"]
    assert raised.value.args[0] == "scenario 'default' has no user 'zoe'; its users are: admin, member."
    with pytest.raises(AttributeError) as attribute:
        mock.tokens.zoe
    assert str(attribute.value) == "scenario 'default' has no user 'zoe'; its users are: admin, member."


def test_missing_expired_token_raises(mock: CoderMock) -> None:
    with mock.use("minimal"):
        tokens = mock.tokens
    with pytest.raises(LookupError) as raised:
        tokens.expired
    assert str(raised.value) == ("scenario 'minimal' has no expired token; its tokens are: admin (owner),"
                                 " member (member).")


def test_tokens_follow_live_scenario(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM_SCENARIO)

    with CoderMock(scenarios_dir=[tmp_path]) as mock:
        with mock.use("team"):
            tokens = mock.tokens
        assert mock.tokens.owner == OWNER_TOKEN

    assert tokens.owner == "aliceToken-abcdefghijklmnopqrstuv"
    assert tokens.bob == "bobTokenXY-abcdefghijklmnopqrstuv"
    assert tokens.member == "carolTokn2-abcdefghijklmnopqrstuv"
    assert tokens.expired == "carolToken-abcdefghijklmnopqrstuv"
    assert tokens["carol"] == "carolTokn2-abcdefghijklmnopqrstuv"


def test_tokens_without_owner() -> None:
    tokens = Tokens("solo", [Token("dave", ("member",), "daveTokenX-abcdefghijklmnopqrstuv", True)])

    with pytest.raises(LookupError) as raised:
        tokens.owner
    assert str(raised.value) == ("scenario 'solo' has no owner with an unexpired token; its tokens are:"
                                 " dave (member, expired).")
    with pytest.raises(LookupError) as member:
        tokens["dave"]
    assert str(member.value) == ("scenario 'solo' has no unexpired token for user 'dave'; its tokens are:"
                                 " dave (member, expired).")


# --- Scenarios ------------------------------------------------------------------------------------


def test_use_switches_and_restores(mock: CoderMock) -> None:
    with mock.use("outdated", seed=3) as switched:
        assert (switched.name, switched.seed) == ("outdated", 3)
        assert send("GET", mock.url + "/api/v2/updatecheck")[1]["current"] is False
    live = mock.scenario
    assert (live.name, live.seed, live.profile) == ("default", 1, "wire")
    assert send("GET", mock.url + "/api/v2/updatecheck")[1]["current"] is True


def test_use_nested_restores_each_level(mock: CoderMock) -> None:
    with mock.use("outdated"):
        with mock.use("server-errors"):
            assert send("GET", mock.url + "/api/v2/buildinfo")[0] == 500
        assert mock.scenario.name == "outdated"
    assert mock.scenario.name == "default"


def test_use_restores_after_exception(mock: CoderMock) -> None:
    with pytest.raises(RuntimeError):
        with mock.use("server-errors"):
            raise RuntimeError("test body failed")
    assert mock.scenario.name == "default"


def test_use_restores_profile(mock: CoderMock) -> None:
    with mock.use("outdated", profile="reference") as switched:
        assert switched.profile == "reference"
    assert (mock.scenario.name, mock.scenario.profile) == ("default", "wire")


def test_use_unknown_scenario_keeps_previous(mock: CoderMock) -> None:
    with pytest.raises(AdminRequestFailed) as raised:
        with mock.use("nope"):
            pass

    assert str(raised.value) == (f'PUT /__admin/scenario failed with status 404: Scenario "nope" not found.'
                                 f" Available: {AVAILABLE}.")
    assert raised.value.status == 404
    assert mock.scenario.name == "default"


def test_switch_invalid_seed_raises(mock: CoderMock) -> None:
    with pytest.raises(CoderMockError) as raised:
        mock.switch("outdated", seed=1.5)  # type: ignore[arg-type]
    assert str(raised.value) == "invalid seed 1.5: give an integer or None for the scenario's own seed."


def test_reset_restores_start_and_clears_journal() -> None:
    with CoderMock(scenario="outdated", seed=4) as mock:
        mock.switch("minimal", profile="reference")
        send("GET", mock.url + "/api/v2/buildinfo")

        reset = mock.reset()

        assert (reset.name, reset.seed, reset.profile) == ("outdated", 4, "wire")
        assert mock.journal.count(include_admin=True) == 0


# --- Journal --------------------------------------------------------------------------------------


def test_journal_filters(mock: CoderMock) -> None:
    send("GET", mock.url + "/api/v2/buildinfo")
    send("POST", mock.url + "/api/v2/buildinfo")
    send("GET", mock.url + "/api/v2/nope")

    assert [entry["path"] for entry in mock.journal()] == ["/api/v2/buildinfo", "/api/v2/buildinfo", "/api/v2/nope"]
    assert [entry["status"] for entry in mock.journal(path="/api/v2/buildinfo")] == [200, 405]
    assert [entry["method"] for entry in mock.journal(method="post")] == ["POST"]
    assert [entry["path"] for entry in mock.journal(status=404)] == ["/api/v2/nope"]
    assert [entry["path"] for entry in mock.journal(unmatched=True)] == ["/api/v2/buildinfo", "/api/v2/nope"]
    assert [entry["operation"] for entry in mock.journal(operation="build-info")] == ["build-info"]
    assert [entry["status"] for entry in mock.journal(limit=2)] == [405, 404]
    assert mock.journal.count(path_prefix="/api/v2/b") == 2
    assert mock.journal.count(method="GET", status=200) == 1


def test_journal_entry_fields(mock: CoderMock) -> None:
    send("GET", mock.url + "/api/v2/buildinfo", mock.tokens.owner)

    entry, = mock.journal()

    assert set(entry) == {"time", "method", "path", "query", "query_truncated", "headers", "headers_truncated", "body",
                          "body_truncated", "status", "operation", "scenario", "session", "fault"}
    assert entry["headers"]["Coder-Session-Token"] == "[REDACTED]"
    assert entry["scenario"] == "default"


def test_journal_leaves_out_admin_requests(mock: CoderMock) -> None:
    with mock.use("outdated"):
        send("GET", mock.url + "/api/v2/updatecheck")

    assert [entry["path"] for entry in mock.journal()] == ["/api/v2/updatecheck"]
    admin = mock.journal(include_admin=True)
    assert [(entry["method"], entry["path"]) for entry in admin] == [
        ("GET", "/__admin/scenario"),
        ("PUT", "/__admin/scenario"),
        ("GET", "/api/v2/updatecheck"),
        ("PUT", "/__admin/scenario"),
    ]
    assert mock.journal.count(path="/__admin/scenario", method="PUT") == 2
    assert mock.journal.count() == 1


def test_journal_since(mock: CoderMock) -> None:
    send("GET", mock.url + "/api/v2/buildinfo")
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)

    assert mock.journal.count(since=later) == 0
    assert mock.journal.count(since="2000-01-01T00:00:00Z") == 1
    with pytest.raises(CoderMockError) as raised:
        mock.journal(since=dt.datetime(2000, 1, 1))
    assert str(raised.value) == ("invalid since datetime.datetime(2000, 1, 1, 0, 0): give an aware datetime,"
                                 " such as one with tzinfo=UTC.")


def test_journal_clear_returns_count(mock: CoderMock) -> None:
    send("GET", mock.url + "/api/v2/buildinfo")
    send("GET", mock.url + "/api/v2/buildinfo")

    assert mock.journal.clear() == 2
    assert mock.journal.count() == 0


def test_journal_invalid_filter_raises(mock: CoderMock) -> None:
    with pytest.raises(AdminRequestFailed) as raised:
        mock.journal(status=99)
    assert str(raised.value) == ('GET /__admin/requests failed with status 400: Invalid "status" "99":'
                                 " give an HTTP status code from 100 to 599.")
    with pytest.raises(CoderMockError) as limit:
        mock.journal(limit=0)
    assert str(limit.value) == "invalid limit 0: give a positive integer."


# --- assert_called --------------------------------------------------------------------------------


def test_assert_called_passes(mock: CoderMock) -> None:
    send("GET", mock.url + "/api/v2/buildinfo")
    send("GET", mock.url + "/api/v2/buildinfo")

    mock.assert_called("GET", "/api/v2/buildinfo")
    mock.assert_called("get", "/api/v2/buildinfo", times=2)
    mock.assert_called("GET", "/api/v2/buildinfo", status=200)
    mock.assert_called("POST", "/api/v2/buildinfo", times=0)


def test_assert_called_wrong_count(mock: CoderMock) -> None:
    send("GET", mock.url + "/api/v2/buildinfo")
    send("GET", mock.url + "/api/v2/buildinfo")

    with pytest.raises(AssertionError) as raised:
        mock.assert_called("GET", "/api/v2/buildinfo", times=1)

    assert str(raised.value) == "\n".join([
        "Expected GET /api/v2/buildinfo to be called once, but it was called 2 times.",
        "Requests received (2):",
        "  GET /api/v2/buildinfo -> 200 (2 times)",
    ])


def test_assert_called_never(mock: CoderMock) -> None:
    send("GET", mock.url + "/api/v2/buildinfo")

    with pytest.raises(AssertionError) as raised:
        mock.assert_called("GET", "/api/v2/buildinfo", times=0)

    first_line = str(raised.value).splitlines()[0]
    assert first_line == "Expected GET /api/v2/buildinfo to be called never, but it was called once."


def test_assert_called_other_status(mock: CoderMock) -> None:
    send("GET", mock.url + "/api/v2/deployment/config", mock.tokens.member)
    send("GET", mock.url + "/api/v2/deployment/ssh", mock.tokens.member)
    send("PUT", mock.url + "/api/v2/deployment/config")

    with pytest.raises(AssertionError) as raised:
        mock.assert_called("GET", "/api/v2/deployment/config", status=200)

    assert str(raised.value) == "\n".join([
        "Expected GET /api/v2/deployment/config with status 200 to be called at least once, but it was not called.",
        "Near misses:",
        "  GET /api/v2/deployment/config -> 403  (other status)",
        "  PUT /api/v2/deployment/config -> 405  (same path, other method)",
        "  GET /api/v2/deployment/ssh -> 200  (same method, similar path)",
        "Requests received (3):",
        "  GET /api/v2/deployment/config -> 403",
        "  GET /api/v2/deployment/ssh -> 200",
        "  PUT /api/v2/deployment/config -> 405",
    ])


def test_assert_called_nothing_received(mock: CoderMock) -> None:
    with pytest.raises(AssertionError) as raised:
        mock.assert_called("GET", "/api/v2/buildinfo")

    assert str(raised.value) == "\n".join([
        "Expected GET /api/v2/buildinfo to be called at least once, but it was not called.",
        "No requests were received.",
    ])


def test_assert_called_lists_at_most_twenty(mock: CoderMock) -> None:
    for index in range(23):
        send("GET", mock.url + f"/api/v2/missing-{index}")

    with pytest.raises(AssertionError) as raised:
        mock.assert_called("DELETE", "/api/v2/buildinfo")

    lines = str(raised.value).splitlines()
    assert lines[1] == "Requests received (23):"
    assert lines[2] == "  GET /api/v2/missing-0 -> 404"
    assert lines[21] == "  GET /api/v2/missing-19 -> 404"
    assert lines[22:] == ["  ... and 3 more"]


def test_assert_called_rejects_query(mock: CoderMock) -> None:
    with pytest.raises(CoderMockError) as raised:
        mock.assert_called("GET", "/api/v2/buildinfo?x=1")
    assert str(raised.value) == ("invalid path '/api/v2/buildinfo?x=1': give the path without its query string,"
                                 " because the journal matches paths alone.")


def test_assert_called_rejects_bad_times(mock: CoderMock) -> None:
    with pytest.raises(CoderMockError) as raised:
        mock.assert_called("GET", "/api/v2/buildinfo", times=-1)
    assert str(raised.value) == "invalid times -1: give a count of 0 or more, or None for at least once."


# --- Admin requests and attaching -----------------------------------------------------------------


def test_admin_headers_sent_with_every_admin_request(mock: CoderMock) -> None:
    mock.admin_headers["X-Test-Run"] = "run-1"
    try:
        mock.switch("outdated")
    finally:
        mock.admin_headers.clear()

    switch, = mock.journal(method="PUT", path="/__admin/scenario")
    assert switch["headers"]["X-Test-Run"] == "run-1"


def test_attach_drives_running_server(mock: CoderMock) -> None:
    attached = CoderMock.attach(mock.url + "/")

    assert attached.url == mock.url
    with attached.use("outdated"):
        assert mock.scenario.name == "outdated"
        assert attached.tokens.owner == OWNER_TOKEN
    send("GET", mock.url + "/api/v2/buildinfo")
    attached.assert_called("GET", "/api/v2/buildinfo", times=1)

    with attached:
        pass
    assert not attached.running
    assert send("GET", mock.url + "/__admin/health")[0] == 200


def test_attach_tokens_need_scenario_folders(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM_SCENARIO)
    with CoderMock(scenario="team", scenarios_dir=[tmp_path]) as mock:
        plain = CoderMock.attach(mock.url)
        with pytest.raises(CoderMockError) as raised:
            plain.tokens
        with_folders = CoderMock.attach(mock.url, scenarios_dir=[tmp_path])
        owner = with_folders.tokens.owner

    assert str(raised.value) == ("the users of scenario 'team' are unknown here: pass the server's scenarios_dir"
                                 " and fixtures_dir to CoderMock.attach().")
    assert owner == "aliceToken-abcdefghijklmnopqrstuv"


def test_attach_unreachable_raises() -> None:
    with CoderMock() as mock:
        url = mock.url

    with pytest.raises(CoderMockError) as raised:
        CoderMock.attach(url)

    assert str(raised.value) == (f"cannot reach coder-mock at {url}: [Errno 111] Connection refused;"
                                 " check that the server is running at that URL.")


def test_attach_invalid_url_raises() -> None:
    with pytest.raises(CoderMockError) as raised:
        CoderMock.attach("127.0.0.1:3000")
    assert str(raised.value) == ("invalid url '127.0.0.1:3000': give the server's base URL, such as"
                                 " http://127.0.0.1:3000.")


# --- Sessions -------------------------------------------------------------------------------------

SESSION_TOKEN = re.compile(r"^[A-Za-z0-9]{10}-[A-Za-z0-9]{22}$")
DEFAULT_VERSION = "v2.22.1+f724638"
DEV_BUILD_VERSION = "v0.0.0-devel+4bd8c1e"


def send_with(method: str, url: str, headers: dict[str, str]) -> tuple[int, Any]:
    """Send a request without a body with `headers` and return the status and the decoded JSON body."""
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def listed_sessions(server: CoderMock) -> list[dict[str, Any]]:
    return server.admin("GET", "/sessions")["sessions"]


@pytest.fixture
def session(mock: CoderMock) -> Iterator[CoderMock]:
    """A session on the module's shared server, serving dev-build at seed 7; `mock` is the global view."""
    attached = CoderMock.attach(mock.url, session=True, scenario="dev-build", seed=7)
    yield attached
    attached.stop()
    mock.faults.clear()


def test_attach_session_creates_session(mock: CoderMock) -> None:
    attached = CoderMock.attach(mock.url, session=True, scenario="dev-build", seed=7, profile="reference")
    try:
        listed, = listed_sessions(mock)
        assert attached.session == listed["id"]
        assert attached.headers == {"Coder-Mock-Session": listed["id"]}
        assert (listed["scenario"], listed["seed"], listed["profile"]) == ("dev-build", 7, "reference")
        live = attached.scenario
        assert (live.name, live.seed, live.profile) == ("dev-build", 7, "reference")
        assert mock.scenario.name == "default"
        assert repr(attached) == f"CoderMock({mock.url}, scenario='dev-build', session='{attached.session}')"
    finally:
        attached.stop()


def test_session_default_scenario(mock: CoderMock) -> None:
    with CoderMock(url=mock.url, session=True) as attached:
        live = attached.scenario
        assert (live.name, live.seed, live.profile) == ("default", 1, "wire")
        assert attached.session is not None


def test_session_stop_ends_session(mock: CoderMock) -> None:
    attached = CoderMock.attach(mock.url, session=True, scenario="outdated")
    session_id = attached.session

    attached.stop()

    assert attached.session is None
    assert attached.headers == {}
    assert not attached.running
    assert listed_sessions(mock) == []
    status, body = send_with("GET", mock.url + "/api/v2/buildinfo", {"Coder-Mock-Session": session_id})
    assert status == 404
    assert body["message"] == f'Unknown coder-mock session "{session_id}".'
    assert send("GET", mock.url + "/__admin/health")[0] == 200
    attached.stop()  # A second stop does nothing.


def test_session_stop_after_server_ended_it(mock: CoderMock) -> None:
    attached = CoderMock.attach(mock.url, session=True)
    session_id = attached.session
    mock.admin("DELETE", f"/sessions/{session_id}")

    with pytest.raises(AdminRequestFailed) as raised:
        attached.scenario
    attached.stop()

    assert raised.value.status == 404
    assert str(raised.value) == (
        f'GET /__admin/scenario failed with status 404: Unknown coder-mock session "{session_id}". No session has'
        " this id: it was never created, was ended, or sat idle too long. Create one with POST /__admin/sessions"
        " and send its id in the Coder-Mock-Session header, or leave the header out.")
    assert not attached.running


def test_session_restarts_with_new_id(mock: CoderMock) -> None:
    attached = CoderMock(url=mock.url, session=True, scenario="outdated")
    with attached:
        first = attached.session
    with attached:
        second = attached.session
        assert attached.scenario.name == "outdated"
    assert first != second
    assert listed_sessions(mock) == []


def test_session_headers_on_every_admin_request(session: CoderMock, mock: CoderMock) -> None:
    session.switch("outdated")
    session.journal()
    session.faults.list()
    session.tokens

    entries = mock.journal(include_admin=True)
    assert [(entry["method"], entry["path"]) for entry in entries] == [
        ("GET", "/__admin/health"),
        ("POST", "/__admin/sessions"),
        ("PUT", "/__admin/scenario"),
        ("GET", "/__admin/faults"),
        ("GET", "/__admin/sessions"),
    ]
    # Only the health check and the creation come before the session exists.
    assert [entry["session"] for entry in entries] == [None, None] + [session.session] * 3
    assert [entry["headers"].get("Coder-Mock-Session") for entry in entries] == [None, None] + [session.session] * 3


def test_session_tokens_from_listing(session: CoderMock, mock: CoderMock) -> None:
    tokens = session.tokens

    assert tokens.scenario == "dev-build"
    assert tokens.session == session.session
    assert [(token.username, token.roles, token.expired) for token in tokens.all] == [
        ("admin", ("owner",), None),
        ("member", ("member",), None),
    ]
    assert SESSION_TOKEN.match(tokens.owner)
    assert SESSION_TOKEN.match(tokens.member)
    assert tokens.owner not in (OWNER_TOKEN, MEMBER_TOKEN)
    assert tokens.admin == tokens.owner
    listed, = listed_sessions(mock)
    assert [entry["token"] for entry in listed["tokens"]] == [tokens.owner, tokens.member]


def test_session_tokens_select_session(session: CoderMock, mock: CoderMock) -> None:
    config = mock.url + "/api/v2/deployment/config"

    status, body = send("GET", mock.url + "/api/v2/buildinfo", session.tokens.member)
    assert status == 200
    assert body["version"] == DEV_BUILD_VERSION
    assert send("GET", config, session.tokens.owner)[0] == 200
    assert send("GET", config, session.tokens.member)[0] == 403
    # The scenario's own tokens without the header belong to the global scenario.
    assert send("GET", mock.url + "/api/v2/buildinfo", OWNER_TOKEN)[1]["version"] == DEFAULT_VERSION
    assert [entry["path"] for entry in session.journal()] == ["/api/v2/buildinfo", "/api/v2/deployment/config",
                                                             "/api/v2/deployment/config"]


def test_session_expired_token_unknown(session: CoderMock) -> None:
    with pytest.raises(LookupError) as raised:
        session.tokens.expired
    assert str(raised.value) == (f"the tokens of session {session.session} carry no expiry, so none is known to"
                                 " have expired; send an expired token of the scenario file together with the"
                                 " session's headers, which the session accepts as well.")


def test_session_tokens_follow_switch(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM_SCENARIO)
    with CoderMock(scenarios_dir=[tmp_path]) as server:
        with CoderMock(url=server.url, session=True) as attached:
            assert attached.tokens.usernames() == ["admin", "member"]
            with attached.use("team"):
                tokens = attached.tokens
                alice = tokens.alice
                status, body = send("GET", server.url + "/api/v2/users/me/keys/tokens/tokenconfig", alice)
            assert attached.tokens.usernames() == ["admin", "member"]

    assert tokens.scenario == "team"
    assert tokens.usernames() == ["alice", "bob", "carol"]
    assert tokens.owner == alice
    assert tokens.member == tokens.carol
    assert status == 200
    assert set(body) == {"max_token_lifetime"}


def test_session_switch_use_reset(session: CoderMock, mock: CoderMock) -> None:
    with session.use("outdated", seed=3) as switched:
        assert (switched.name, switched.seed) == ("outdated", 3)
        assert send_with("GET", mock.url + "/api/v2/updatecheck", session.headers)[1]["current"] is False
        assert mock.scenario.name == "default"
    assert (session.scenario.name, session.scenario.seed) == ("dev-build", 7)

    session.switch("minimal", profile="reference")
    reset = session.reset()

    assert (reset.name, reset.seed, reset.profile) == ("dev-build", 7, "wire")
    assert session.journal.count(include_admin=True) == 0


def test_session_journal_isolated(session: CoderMock, mock: CoderMock) -> None:
    send("GET", mock.url + "/api/v2/")
    send_with("GET", mock.url + "/api/v2/buildinfo", session.headers)
    send_with("POST", mock.url + "/api/v2/buildinfo", session.headers)

    assert [(entry["method"], entry["path"]) for entry in session.journal()] == [
        ("GET", "/api/v2/buildinfo"), ("POST", "/api/v2/buildinfo")]
    assert {entry["session"] for entry in session.journal()} == {session.session}
    session.assert_called("GET", "/api/v2/buildinfo", times=1)
    session.assert_called("GET", "/api/v2/", times=0)
    # The global journal lists every request, the session's included.
    assert mock.journal.count() == 3

    assert session.journal.clear() == 2
    assert session.journal.count() == 0
    assert mock.journal.count() == 1


def test_session_unknown_scenario_leaves_nothing(mock: CoderMock) -> None:
    attached = CoderMock(url=mock.url, session=True, scenario="nope")

    with pytest.raises(AdminRequestFailed) as raised:
        attached.start()

    assert str(raised.value) == (f'POST /__admin/sessions failed with status 404: Scenario "nope" not found.'
                                 f" Available: {AVAILABLE}.")
    assert not attached.running
    assert listed_sessions(mock) == []


def test_own_server_with_session() -> None:
    with CoderMock(scenario="outdated", session=True) as mock:
        url = mock.url
        session_id = mock.session
        global_view = CoderMock.attach(url)
        listed, = listed_sessions(global_view)
        assert listed["id"] == session_id
        assert listed["scenario"] == "outdated"
        mock.switch("minimal")
        assert global_view.scenario.name == "outdated"

    assert not port_accepts(port_of(url))


@pytest.mark.parametrize(("arguments", "message"), [
    ({"port": 3001}, "port 3001 applies to a server that CoderMock starts; leave it out with url, whose server is"
                     " running already."),
    ({"journal_size": 5}, "journal_size 5 applies to a server that CoderMock starts; leave it out with url, or"
                          " start that server with --journal-size."),
    ({"scenario": "outdated"}, "scenario, seed and profile choose the scenario of a session on the server at url:"
                               " pass session=True, or call switch() to change that server's scenario for every"
                               " client."),
    ({"seed": 3}, "scenario, seed and profile choose the scenario of a session on the server at url: pass"
                  " session=True, or call switch() to change that server's scenario for every client."),
    ({"session": True, "scenarios_dir": ["."]}, "scenarios_dir and fixtures_dir are read only for the tokens of an"
                                               " attached server without a session; a session lists its own"
                                               " tokens, so leave them out, and start the server with"
                                               " --scenarios-dir and --fixtures-dir."),
    ({"session": "yes"}, "invalid session 'yes': give True for a session of its own, or False."),
    ({"url": "localhost:3000"}, "invalid url 'localhost:3000': give the server's base URL, such as"
                                " http://127.0.0.1:3000."),
    ({"url": "http://127.0.0.1:3101/api/v2"}, "invalid url 'http://127.0.0.1:3101/api/v2': give the server's"
                                              " base URL without a path, http://127.0.0.1:3101, because"
                                              " CoderMock adds /api/v2 and /__admin itself."),
    ({"url": "http://127.0.0.1:3101/__admin/"}, "invalid url 'http://127.0.0.1:3101/__admin/': give the server's"
                                                " base URL without a path, http://127.0.0.1:3101, because"
                                                " CoderMock adds /api/v2 and /__admin itself."),
    ({"url": "http://127.0.0.1:3101?x=1"}, "invalid url 'http://127.0.0.1:3101?x=1': give the server's base URL"
                                           " without a path, http://127.0.0.1:3101, because CoderMock adds"
                                           " /api/v2 and /__admin itself."),
])
def test_attached_invalid_options_raise(arguments: dict[str, Any], message: str) -> None:
    arguments = {"url": "http://127.0.0.1:9", **arguments}
    with pytest.raises(CoderMockError) as raised:
        CoderMock(**arguments)
    assert str(raised.value) == message


def test_attach_root_path_accepted(mock: CoderMock) -> None:
    attached = CoderMock.attach(mock.url + "/")

    assert attached.url == mock.url
    assert attached.scenario.name == "default"


def test_reset_renews_ended_session(mock: CoderMock, caplog: pytest.LogCaptureFixture) -> None:
    attached = CoderMock.attach(mock.url, session=True, scenario="dev-build", seed=7)
    try:
        ended = attached.session
        attached.switch("outdated")
        mock.admin("DELETE", f"/sessions/{ended}")

        with caplog.at_level("WARNING", logger="coder_mock.testing"):
            reset = attached.reset()

        renewed = attached.session
        assert renewed is not None
        assert renewed != ended
        assert (reset.name, reset.seed) == ("dev-build", 7)
        assert attached.headers == {"Coder-Mock-Session": renewed}
        assert [listed["id"] for listed in listed_sessions(mock)] == [renewed]
        assert attached.journal.count(include_admin=True) == 0
        assert send_with("GET", mock.url + "/api/v2/buildinfo", attached.headers)[1]["version"] == DEV_BUILD_VERSION
        assert [record.getMessage() for record in caplog.records] == [
            f"coder-mock session {ended} on {mock.url} was ended by the server, so session {renewed} replaces it"]
    finally:
        attached.stop()
    assert listed_sessions(mock) == []


def test_failed_renewal_keeps_ended_session(mock: CoderMock) -> None:
    attached = CoderMock.attach(mock.url, session=True)
    ended = attached.session
    mock.admin("DELETE", f"/sessions/{ended}")
    # A scenario that the server lacks makes the new session fail, so the ended one stays named.
    attached.scenario_name = "nope"

    with pytest.raises(AdminRequestFailed) as raised:
        attached.reset()

    assert str(raised.value) == (f'POST /__admin/sessions failed with status 404: Scenario "nope" not found.'
                                 f" Available: {AVAILABLE}.")
    assert attached.session == ended
    assert listed_sessions(mock) == []
    assert mock.scenario.name == "default"
    attached.stop()
    assert not attached.running


def test_session_on_unreachable_server_raises() -> None:
    with CoderMock() as server:
        url = server.url

    attached = CoderMock(url=url, session=True)
    with pytest.raises(CoderMockError) as raised:
        attached.start()

    assert str(raised.value) == (f"cannot reach coder-mock at {url}: [Errno 111] Connection refused;"
                                 " check that the server is running at that URL.")
    assert not attached.running


def test_stop_after_server_gone_raises() -> None:
    server = CoderMock().start()
    attached = CoderMock.attach(server.url, session=True)
    url = server.url
    server.stop()

    with pytest.raises(CoderMockError) as raised:
        attached.stop()

    assert str(raised.value) == (f"cannot reach coder-mock at {url}: [Errno 111] Connection refused;"
                                 " check that the server is running at that URL.")
    assert not attached.running
    assert attached.session is None


# --- A server with its journal off ---------------------------------------------------------------


def test_journal_off_raises(serve) -> None:  # noqa: F811
    server: ServeProcess = serve("--journal-size", "0")
    url = f"http://127.0.0.1:{server.port}"
    message = (f"the request journal of the coder-mock server at {url} is off (GET /__admin/requests reports"
               " size 0, as after `coder-mock serve --journal-size 0`), so it recorded no requests: restart that"
               " server with a positive --journal-size, such as 1000, the default.")
    attached = CoderMock.attach(url, session=True)
    try:
        assert send_with("GET", url + "/api/v2/buildinfo", attached.headers)[0] == 200

        with pytest.raises(JournalDisabled) as from_assert:
            attached.assert_called("GET", "/api/v2/buildinfo", times=1)
        with pytest.raises(JournalDisabled) as from_query:
            attached.journal()
        with pytest.raises(JournalDisabled) as from_count:
            attached.journal.count(method="GET")

        assert str(from_assert.value) == message
        assert str(from_query.value) == message
        assert str(from_count.value) == message
        # Resetting needs no recorded requests, so it still works.
        assert attached.reset().name == "default"
    finally:
        attached.stop()


# --- Faults ---------------------------------------------------------------------------------------


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    return send_with("GET", url, headers or {})[0]


def test_faults_add_list_clear(mock: CoderMock) -> None:
    added = mock.faults.add("build-info", status=503, count=2)

    assert added == {"operation": "build-info", "status": 503, "probability": 1, "count": 2, "applied": 0,
                     "remaining": 2}
    buildinfo = mock.url + "/api/v2/buildinfo"
    assert [status_of(buildinfo) for _ in range(3)] == [503, 503, 200]
    assert mock.faults.list() == [{"operation": "build-info", "status": 503, "probability": 1, "count": 2,
                                   "applied": 2, "remaining": 0}]
    assert [entry["fault"] for entry in mock.journal()] == ["status 503", "status 503", ""]
    assert mock.faults.clear() == 1
    assert mock.faults.list() == []


def test_faults_durations_from_timedelta(mock: CoderMock) -> None:
    try:
        mock.faults.add("all", delay=dt.timedelta(milliseconds=250))
        mock.faults.add("update-check", delay=(dt.timedelta(milliseconds=1), "2s"))
        mock.faults.add("get-deployment-config", connection="drip", drip_interval=dt.timedelta(seconds=1.5))

        assert [definition for definition in mock.faults.list()] == [
            {"operation": "all", "delay": "250ms", "probability": 1, "applied": 0},
            {"operation": "update-check", "delay": {"min": "1ms", "max": "2s"}, "probability": 1, "applied": 0},
            {"operation": "get-deployment-config", "connection": "drip", "drip_bytes": 16, "drip_interval": "1.5s",
             "probability": 1, "applied": 0},
        ]
    finally:
        mock.faults.clear()


def test_faults_set_replaces(mock: CoderMock) -> None:
    mock.faults.add("build-info", status=500)

    listed = mock.faults.set([{"operation": "ssh-config", "status": 502},
                              {"operation": "all", "delay": dt.timedelta(milliseconds=1)}])

    assert [(rule["operation"], rule.get("status"), rule.get("delay")) for rule in listed] == [
        ("ssh-config", 502, None), ("all", None, "1ms")]
    assert mock.faults.list() == listed
    assert mock.faults.set([]) == []


def test_faults_invalid_rule_changes_nothing(mock: CoderMock) -> None:
    mock.faults.add("build-info", status=503)
    try:
        with pytest.raises(AdminRequestFailed) as raised:
            mock.faults.add("build-info", delay=250)
        with pytest.raises(AdminRequestFailed) as unknown:
            mock.faults.set([{"operation": "nope", "status": 500}])
        with pytest.raises(CoderMockError) as mapping:
            mock.faults.set({"operation": "all", "status": 500})  # type: ignore[arg-type]

        assert raised.value.status == 400
        assert str(raised.value) == ('POST /__admin/faults failed with status 400: delay: invalid value 250: a'
                                     ' duration needs a unit; write "250ms" for milliseconds or "250s" for'
                                     ' seconds.')
        assert unknown.value.status == 400
        assert str(unknown.value).startswith('PUT /__admin/faults failed with status 400: faults[0].operation:'
                                             ' unknown operation "nope": ')
        assert str(mapping.value) == ("invalid rules {'operation': 'all', 'status': 500}: give a list of rules,"
                                      ' such as [{"operation": "build-info", "status": 503}], or [] for none.')
        assert [rule["status"] for rule in mock.faults.list()] == [503]
    finally:
        mock.faults.clear()


def test_fault_block_removes_rule(mock: CoderMock) -> None:
    buildinfo = mock.url + "/api/v2/buildinfo"

    with mock.fault("build-info", status=503, count=2) as rule:
        assert rule.position == 0
        assert rule.definition == {"operation": "build-info", "status": 503, "probability": 1, "count": 2}
        assert status_of(buildinfo) == 503
        assert rule.applied == 1
        assert status_of(buildinfo) == 503

    assert mock.faults.list() == []
    assert rule.applied == 2
    assert rule.state() is None
    assert status_of(buildinfo) == 200


def test_fault_block_removes_after_exception(mock: CoderMock) -> None:
    with pytest.raises(RuntimeError):
        with mock.fault("all", status=500):
            raise RuntimeError("test body failed")

    assert mock.faults.list() == []


def test_fault_block_keeps_other_rules(mock: CoderMock) -> None:
    mock.faults.add("update-check", status=502, count=3)
    try:
        assert status_of(mock.url + "/api/v2/updatecheck") == 502

        with mock.fault("build-info", status=503):
            assert status_of(mock.url + "/api/v2/buildinfo") == 503

        # The other rule keeps the calls it had left.
        assert mock.faults.list() == [{"operation": "update-check", "status": 502, "probability": 1, "count": 2,
                                       "applied": 0, "remaining": 2}]
    finally:
        mock.faults.clear()


def test_fault_blocks_nested(mock: CoderMock) -> None:
    buildinfo = mock.url + "/api/v2/buildinfo"

    with mock.fault("build-info", status=503, count=3) as outer:
        assert status_of(buildinfo) == 503
        with mock.fault("all", status=429) as inner:
            assert status_of(mock.url + "/api/v2/updatecheck") == 429
        assert inner.applied == 1
        assert outer.definition["count"] == 2
        assert outer.applied == 1
        assert status_of(buildinfo) == 503
        assert outer.applied == 2

    assert mock.faults.list() == []
    assert outer.applied == 2


def test_fault_spent_rule_dropped_on_removal(mock: CoderMock) -> None:
    buildinfo = mock.url + "/api/v2/buildinfo"
    with mock.fault("build-info", status=503, count=1) as spent:
        assert status_of(buildinfo) == 503
        with mock.fault("ssh-config", status=500):
            pass
        # Removing the inner rule dropped the outer one, which had no calls left.
        assert mock.faults.list() == []
        assert spent.applied == 1
    assert spent.applied == 1


def test_fault_replaced_by_switch(mock: CoderMock) -> None:
    with mock.fault("build-info", status=503) as rule:
        mock.switch("flaky")
        with pytest.raises(CoderMockError) as raised:
            rule.applied
        flaky_rules = mock.faults.list()

    # The flaky scenario's rules stay: the block's rule was replaced already.
    assert mock.faults.list() == flaky_rules
    assert [rule["operation"] for rule in flaky_rules] == [
        "get-deployment-config", "update-check", "get-deployment-stats", "ssh-config", "build-info"]
    assert str(raised.value) == ("the fault rule {'operation': 'build-info', 'status': 503, 'probability': 1} is no"
                                 " longer set: a switch, a reset or a change of the rules replaced it, so its"
                                 " counter is gone.")


def test_fault_invalid_rule_adds_nothing(mock: CoderMock) -> None:
    with pytest.raises(AdminRequestFailed) as raised:
        with mock.fault("build-info", status=200):
            pass
    assert str(raised.value) == ("POST /__admin/faults failed with status 400: status: invalid status 200: a fault"
                                 " sends an error response, so use a status from 400 to 599.")
    assert mock.faults.list() == []
    assert mock.faults.added == []


def test_reset_restores_scenario_faults() -> None:
    with CoderMock(scenario="flaky") as mock:
        scenario_rules = mock.faults.list()
        mock.faults.clear()
        mock.faults.add("build-info", status=503)

        mock.reset()

        assert mock.faults.list() == scenario_rules
        assert len(scenario_rules) == 5


def test_session_faults_isolated(session: CoderMock, mock: CoderMock) -> None:
    buildinfo = mock.url + "/api/v2/buildinfo"
    mock.faults.add("build-info", status=500)

    with session.fault("build-info", status=503):
        assert status_of(buildinfo, session.headers) == 503
        assert status_of(buildinfo) == 500
        assert [rule["status"] for rule in session.faults.list()] == [503]
        assert [rule["status"] for rule in mock.faults.list()] == [500]

    assert session.faults.list() == []
    assert status_of(buildinfo, session.headers) == 200
    assert [rule["status"] for rule in mock.faults.list()] == [500]


def test_session_reset_restores_scenario_faults(mock: CoderMock) -> None:
    with CoderMock(url=mock.url, session=True, scenario="flaky") as attached:
        scenario_rules = attached.faults.list()
        attached.faults.set([{"operation": "all", "status": 500}])

        attached.reset()

        assert attached.faults.list() == scenario_rules
        assert len(scenario_rules) == 5
        assert mock.faults.list() == []
