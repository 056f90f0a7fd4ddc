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

from coder_mock.testing import AdminRequestFailed, CoderMock, CoderMockError, Tokens, Token
from conftest import BUILTIN_SCENARIOS, EXPIRED_TOKEN, MEMBER_TOKEN, OWNER_TOKEN

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

    assert set(entry) == {"time", "method", "path", "query", "headers", "body", "body_truncated", "status",
                          "operation", "scenario", "session", "fault"}
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
