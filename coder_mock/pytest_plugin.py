"""The pytest plugin: the `coder_mock` fixture, the `coder_mock` marker and the --coder-mock-* options.

pytest loads this module through the `pytest11` entry point in every run of
an environment where coder-mock is installed, so it imports nothing heavy.
The server starts on the first test that uses the fixture, once per session
(once per worker process under pytest-xdist), and stops when the session ends.
With --coder-mock-url (or CODER_MOCK_URL), the plugin starts no server: it
creates one session per process on the server at that URL and ends it when
the pytest session ends. When the server ends that session, for example after
it sat idle longer than the server's --session-idle during a long test, the
next test's reset creates a new one and the run shows one warning.
"""

from __future__ import annotations

import argparse
import os
import urllib.parse
import warnings
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from coder_mock.testing import CoderMock

MARKER = "coder_mock"
MARKER_OPTIONS = ("scenario", "seed", "profile")
URL_VARIABLE = "CODER_MOCK_URL"
# The base URL of the shared server from --coder-mock-url or CODER_MOCK_URL, or None to start a server.
SHARED_URL = pytest.StashKey[str | None]()
# Whether this run showed its warning about a session that the shared server ended.
SESSION_RENEWAL_WARNED = pytest.StashKey[bool]()


class SessionRenewedWarning(pytest.PytestWarning):
    """The shared server ended the run's session, and the plugin created a new one."""


def seed_option(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: give an integer such as 7") from None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("coder-mock", "coder-mock server for the coder_mock fixture")
    group.addoption("--coder-mock-scenario", default="default", metavar="NAME",
                    help="scenario the coder_mock fixture starts with and resets to before each test"
                         " (default: default)")
    group.addoption("--coder-mock-seed", type=seed_option, default=None, metavar="N",
                    help="seed for generated values (default: the scenario's own seed)")
    group.addoption("--coder-mock-profile", choices=("wire", "reference"), default=None,
                    help="wire (what coderd sends) or reference (the API reference's shapes);"
                         " default: the scenario's own profile")
    group.addoption("--coder-mock-scenarios-dir", action="append", default=[], metavar="DIR",
                    help="folder of your own scenarios, added to the built-ins (repeatable)")
    group.addoption("--coder-mock-fixtures-dir", action="append", default=[], metavar="DIR",
                    help="folder of your own fixtures, searched before the built-ins (repeatable)")
    group.addoption("--coder-mock-url", default=None, metavar="URL",
                    help="use the coder-mock server running at URL, its root such as http://127.0.0.1:3000,"
                         " with one session per pytest process, instead of starting one"
                         f" (default: the {URL_VARIABLE} environment variable)")


def shared_url(config: pytest.Config) -> str | None:
    """Return the shared server's base URL from the option or the environment, or None; raise UsageError."""
    given = config.getoption("coder_mock_url")
    source = "--coder-mock-url"
    if given is None:
        given = os.environ.get(URL_VARIABLE) or None
        source = URL_VARIABLE
    if given is None:
        return None
    parsed = urllib.parse.urlsplit(given)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise pytest.UsageError(f"invalid {source} {given!r}: give the base URL of a running coder-mock server,"
                                " such as http://127.0.0.1:3000.")
    for option in ("--coder-mock-scenarios-dir", "--coder-mock-fixtures-dir"):
        if config.getoption(option.removeprefix("--").replace("-", "_")):
            raise pytest.UsageError(f"{option} applies to a server that the plugin starts, but {source} names a"
                                    f" running one: start that server with --{option.removeprefix('--coder-mock-')}"
                                    " instead.")
    root = f"{parsed.scheme}://{parsed.netloc}"
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        raise pytest.UsageError(f"invalid {source} {given!r}: give the server's base URL without a path, {root},"
                                " because the plugin adds /api/v2 and /__admin itself.")
    return root


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SHARED_URL] = shared_url(config)
    config.addinivalue_line(
        "markers",
        "coder_mock(scenario=None, seed=None, profile=None): switch the coder_mock fixture's server to this"
        " scenario, seed and profile before the test runs; the next test starts from the session's scenario.",
    )


def marker_choice(node: pytest.Item) -> dict[str, Any] | None:
    """Read the closest coder_mock marker as switch arguments; fail the test for invalid ones."""
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return None
    if len(marker.args) > 1:
        pytest.fail(f"@pytest.mark.coder_mock takes at most one positional argument, the scenario,"
                    f" not {len(marker.args)}: write @pytest.mark.coder_mock(scenario=..., seed=...).",
                    pytrace=False)
    unknown = sorted(set(marker.kwargs) - set(MARKER_OPTIONS))
    if unknown:
        pytest.fail(f"@pytest.mark.coder_mock has no argument {unknown[0]!r}: use scenario, seed or profile.",
                    pytrace=False)
    choice = dict(marker.kwargs)
    if marker.args:
        if "scenario" in choice:
            pytest.fail("@pytest.mark.coder_mock names the scenario twice: give it as the first argument"
                        " or as scenario=..., not both.", pytrace=False)
        choice["scenario"] = marker.args[0]
    if "scenario" not in choice:
        pytest.fail("@pytest.mark.coder_mock needs a scenario: write @pytest.mark.coder_mock(scenario=\"outdated\").",
                    pytrace=False)
    return choice


def pytest_report_header(config: pytest.Config) -> str | None:
    url = config.stash.get(SHARED_URL, None)
    if url is None:
        return None
    return f"coder-mock: shared server {url}, one session per pytest process"


@pytest.fixture(scope="session")
def coder_mock_server(pytestconfig: pytest.Config) -> Iterator["CoderMock"]:
    """The session's coder-mock server, started on first use; tests should use `coder_mock`, which resets it.

    With a shared server's URL, it is a session on that server instead, ended when the pytest session ends.
    """
    from coder_mock.testing import CoderMock, CoderMockError

    url = pytestconfig.stash[SHARED_URL]
    choice = {
        "scenario": pytestconfig.getoption("coder_mock_scenario"),
        "seed": pytestconfig.getoption("coder_mock_seed"),
        "profile": pytestconfig.getoption("coder_mock_profile"),
    }
    if url is None:
        mock = CoderMock(**choice, scenarios_dir=pytestconfig.getoption("coder_mock_scenarios_dir"),
                         fixtures_dir=pytestconfig.getoption("coder_mock_fixtures_dir"))
        failure = "coder-mock did not start"
    else:
        mock = CoderMock(**choice, url=url, session=True)
        failure = f"coder-mock session on {url} did not start"
    try:
        mock.start()
    except CoderMockError as error:
        problem = str(error)
    else:
        problem = None
    # pytest.fail is called outside the except block, so the report shows no chained exception.
    if problem is not None:
        pytest.fail(f"{failure}: {problem}", pytrace=False)
    yield mock
    session = mock.session
    try:
        mock.stop()
    except CoderMockError as error:
        problem = str(error)
    if problem is not None:
        pytest.fail(f"coder-mock session {session} on {url} could not be ended: {problem}", pytrace=False)


@pytest.fixture
def coder_mock(coder_mock_server: "CoderMock", request: pytest.FixtureRequest) -> "CoderMock":
    """The test run's coder-mock server, reset to the run's scenario with its fault rules and an empty journal.

    A coder_mock marker on the test, its class or its module switches the
    scenario first.
    """
    from coder_mock.testing import CoderMockError

    choice = marker_choice(request.node)
    problem = None
    session = coder_mock_server.session
    try:
        # NOTE: nothing keeps the session alive while a test runs, because the admin API does not report
        # the server's --session-idle, so a ping interval would be a guess. A test that outlasts it loses
        # the session, and this reset replaces it.
        coder_mock_server.reset()
        if coder_mock_server.session != session:
            warn_session_renewed(request.config, coder_mock_server, session)
        if choice is not None:
            coder_mock_server.switch(**choice)
            # The switch itself is an admin request in the journal, so the test starts from an empty one.
            coder_mock_server.journal.clear()
    except CoderMockError as error:
        problem = str(error)
    if problem is not None:
        pytest.fail(f"coder-mock could not be prepared for this test: {problem}", pytrace=False)
    return coder_mock_server


def warn_session_renewed(config: pytest.Config, mock: "CoderMock", ended: str | None) -> None:
    """Warn on the first renewal of the run's session; CoderMock.reset logs every renewal."""
    if config.stash.get(SESSION_RENEWAL_WARNED, False):
        return
    config.stash[SESSION_RENEWAL_WARNED] = True
    warnings.warn(SessionRenewedWarning(
        f"coder-mock session {ended} on {mock.url} was ended by the server, probably because it sat idle longer"
        f" than the server's --session-idle, so session {mock.session} replaces it from this test on; start the"
        " server with a larger --session-idle to keep one session for the whole run."))
