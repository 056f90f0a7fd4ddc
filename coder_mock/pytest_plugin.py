"""The pytest plugin: the `coder_mock` fixture, the `coder_mock` marker and the --coder-mock-* options.

pytest loads this module through the `pytest11` entry point in every run of
an environment where coder-mock is installed, so it imports nothing heavy.
The server starts on the first test that uses the fixture, once per session
(once per worker process under pytest-xdist), and stops when the session ends.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from coder_mock.testing import CoderMock

MARKER = "coder_mock"
MARKER_OPTIONS = ("scenario", "seed", "profile")


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


def pytest_configure(config: pytest.Config) -> None:
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


@pytest.fixture(scope="session")
def coder_mock_server(pytestconfig: pytest.Config) -> Iterator["CoderMock"]:
    """The session's coder-mock server, started on first use; tests should use `coder_mock`, which resets it."""
    from coder_mock.testing import CoderMock, CoderMockError

    mock = CoderMock(
        scenario=pytestconfig.getoption("coder_mock_scenario"),
        seed=pytestconfig.getoption("coder_mock_seed"),
        profile=pytestconfig.getoption("coder_mock_profile"),
        scenarios_dir=pytestconfig.getoption("coder_mock_scenarios_dir"),
        fixtures_dir=pytestconfig.getoption("coder_mock_fixtures_dir"),
    )
    try:
        mock.start()
    except CoderMockError as error:
        problem = str(error)
    else:
        problem = None
    # pytest.fail is called outside the except block, so the report shows no chained exception.
    if problem is not None:
        pytest.fail(f"coder-mock did not start: {problem}", pytrace=False)
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture
def coder_mock(coder_mock_server: "CoderMock", request: pytest.FixtureRequest) -> "CoderMock":
    """The session's coder-mock server, reset to the session's scenario with an empty journal.

    A coder_mock marker on the test, its class or its module switches the
    scenario first.
    """
    from coder_mock.testing import CoderMockError

    choice = marker_choice(request.node)
    problem = None
    try:
        coder_mock_server.reset()
        if choice is not None:
            coder_mock_server.switch(**choice)
            # The switch itself is an admin request in the journal, so the test starts from an empty one.
            coder_mock_server.journal.clear()
    except CoderMockError as error:
        problem = str(error)
    if problem is not None:
        pytest.fail(f"coder-mock could not be prepared for this test: {problem}", pytrace=False)
    return coder_mock_server
