"""The pytest plugin, run through pytester: the README example, the fixture, the marker and the options."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

# Writes the server's URL to a file beside the test, so the outer test can probe the port after the run.
RECORD_URL = """
from pathlib import Path

def test_record_url(coder_mock):
    Path(__file__).with_name("url.txt").write_text(coder_mock.url)
"""


def readme_example() -> str:
    """Return the first Python block of the README's "Use it from pytest" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Use it from pytest\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the README's pytest section has no python block"
    return found.group(1)


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except ConnectionRefusedError:
        return False


def test_readme_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_coder_client=readme_example())

    result = pytester.runpytest()

    result.assert_outcomes(passed=4)


def test_failing_assert_called_lists_near_misses(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_near_miss="""
        import urllib.error
        import urllib.request

        def send(method, url):
            try:
                urllib.request.urlopen(urllib.request.Request(url, method=method)).close()
            except urllib.error.HTTPError as error:
                error.close()

        def test_missed(coder_mock):
            send("GET", coder_mock.url + "/api/v2/")
            send("POST", coder_mock.url + "/api/v2/buildinfo")
            send("GET", coder_mock.url + "/api/v2/buildinf")
            send("GET", coder_mock.url + "/api/v2/buildinf")
            coder_mock.assert_called("GET", "/api/v2/buildinfo")
    """)

    result = pytester.runpytest("--tb=short")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E   AssertionError: Expected GET /api/v2/buildinfo to be called at least once, but it was not called.",
        "E   Near misses:",
        "E     POST /api/v2/buildinfo -> 405  (same path, other method)",
        "E     GET /api/v2/buildinf -> 404 (2 times)  (same method, similar path)",
        "E   Requests received (4):",
        "E     GET /api/v2/ -> 200",
        "E     POST /api/v2/buildinfo -> 405",
        "E     GET /api/v2/buildinf -> 404 (2 times)",
    ], consecutive=True)


def test_markers_lists_coder_mock(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")

    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "@pytest.mark.coder_mock(scenario=None, seed=None, profile=None): switch the coder_mock fixture's server"
        " to this scenario, seed and profile before the test runs; the next test starts from the session's"
        " scenario.",
    ])


def test_help_lists_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")

    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "coder-mock server for the coder_mock fixture:",
        "  --coder-mock-scenario=NAME",
    ])
    for option in ("--coder-mock-seed=N", "--coder-mock-profile={wire,reference}",
                   "--coder-mock-scenarios-dir=DIR", "--coder-mock-fixtures-dir=DIR"):
        result.stdout.fnmatch_lines([f"  {option}*"])


def test_server_stopped_after_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_url=RECORD_URL)

    result = pytester.runpytest()

    result.assert_outcomes(passed=1)
    url = (pytester.path / "url.txt").read_text()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert not port_accepts(int(url.rsplit(":", 1)[1]))


def test_one_server_per_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_urls="""
        urls = []

        def test_first(coder_mock):
            urls.append(coder_mock.url)

        def test_second(coder_mock):
            urls.append(coder_mock.url)
            assert urls[0] == urls[1]
    """)

    result = pytester.runpytest()

    result.assert_outcomes(passed=2)


def test_each_test_starts_reset(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_reset="""
        import urllib.request

        def test_changes_state(coder_mock):
            coder_mock.switch("outdated", seed=9)
            urllib.request.urlopen(coder_mock.url + "/api/v2/buildinfo").close()
            assert coder_mock.journal.count() == 1

        def test_sees_reset_state(coder_mock):
            # Counted first, because reading the scenario is an admin request in the journal.
            assert coder_mock.journal.count(include_admin=True) == 0
            live = coder_mock.scenario
            assert (live.name, live.seed) == ("default", 1)
    """)

    result = pytester.runpytest()

    result.assert_outcomes(passed=2)


def test_marker_on_test_class_and_module(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_markers="""
        import pytest

        pytestmark = pytest.mark.coder_mock(scenario="minimal")

        def test_module_marker(coder_mock):
            assert coder_mock.journal.count(include_admin=True) == 0
            assert coder_mock.scenario.name == "minimal"

        @pytest.mark.coder_mock("outdated", seed=5)
        def test_positional_scenario(coder_mock):
            assert (coder_mock.scenario.name, coder_mock.scenario.seed) == ("outdated", 5)

        @pytest.mark.coder_mock(scenario="dev-build", profile="reference")
        class TestClass:
            def test_class_marker(self, coder_mock):
                assert (coder_mock.scenario.name, coder_mock.scenario.profile) == ("dev-build", "reference")

            @pytest.mark.coder_mock(scenario="experiments")
            def test_closest_marker_wins(self, coder_mock):
                assert coder_mock.scenario.name == "experiments"
    """)

    result = pytester.runpytest()

    result.assert_outcomes(passed=4)


def test_invalid_markers_fail_with_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad_markers="""
        import pytest

        @pytest.mark.coder_mock(scenario="nope")
        def test_unknown_scenario(coder_mock):
            pass

        @pytest.mark.coder_mock(scenario="outdated", sed=3)
        def test_unknown_argument(coder_mock):
            pass

        @pytest.mark.coder_mock(seed=3)
        def test_missing_scenario(coder_mock):
            pass

        @pytest.mark.coder_mock(scenario="outdated")
        def test_after_failures(coder_mock):
            assert coder_mock.scenario.name == "outdated"
    """)

    result = pytester.runpytest()

    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines([
        "*_ ERROR at setup of test_unknown_scenario _*",
        'coder-mock could not be prepared for this test: PUT /__admin/scenario failed with status 404: Scenario "nope" not found. Available: default,'
        ' dev-build, experiments, flaky, minimal, outdated, rate-limited, release-candidate, server-errors,'
        ' stats-processing, unlimited-token-lifetime.',
        "*_ ERROR at setup of test_unknown_argument _*",
        "@pytest.mark.coder_mock has no argument 'sed': use scenario, seed or profile.",
        "*_ ERROR at setup of test_missing_scenario _*",
        '@pytest.mark.coder_mock needs a scenario: write @pytest.mark.coder_mock(scenario="outdated").',
    ], consecutive=True)


def test_marker_without_fixture_starts_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="""
        import sys
        import threading

        import pytest

        @pytest.mark.coder_mock(scenario="outdated")
        def test_plain():
            assert "coder_mock.testing" not in sys.modules
            assert "flask" not in sys.modules
            names = [thread.name for thread in threading.enumerate()]
            assert [name for name in names if name.startswith("coder-mock")] == []
    """)

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(passed=1)


def test_session_options_set_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_options="""
        def test_first(coder_mock):
            live = coder_mock.scenario
            assert (live.name, live.seed, live.profile) == ("outdated", 42, "reference")
            coder_mock.switch("default")

        def test_reset_returns_to_option(coder_mock):
            assert (coder_mock.scenario.name, coder_mock.scenario.seed) == ("outdated", 42)
    """)

    result = pytester.runpytest("--coder-mock-scenario", "outdated", "--coder-mock-seed", "42",
                                "--coder-mock-profile", "reference")

    result.assert_outcomes(passed=2)


def test_scenarios_dir_option(pytester: pytest.Pytester) -> None:
    folder = pytester.mkdir("my-scenarios")
    (folder / "team.yaml").write_text(
        "extends: default\n"
        "description: One owner named alice.\n"
        "users:\n"
        "  - username: alice\n"
        "    roles: [owner]\n"
        "    tokens:\n"
        "      - token: aliceToken-abcdefghijklmnopqrstuv\n"
    )
    pytester.makepyfile(test_team="""
        def test_alice(coder_mock):
            assert coder_mock.scenario.name == "team"
            assert coder_mock.tokens.alice == "aliceToken-abcdefghijklmnopqrstuv"
    """)

    result = pytester.runpytest("--coder-mock-scenario", "team", "--coder-mock-scenarios-dir", str(folder))

    result.assert_outcomes(passed=1)


def test_unknown_session_scenario_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_any="""
        def test_any(coder_mock):
            pass
    """)

    result = pytester.runpytest("--coder-mock-scenario", "nope")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*_ ERROR at setup of test_any _*",
        "coder-mock did not start: unknown scenario 'nope'; choose one of"
        " default, dev-build, experiments, flaky, minimal, outdated, rate-limited, release-candidate, server-errors,"
        " stats-processing, unlimited-token-lifetime.",
    ])


def test_invalid_seed_option_is_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--coder-mock-seed", "seven")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*: error: argument --coder-mock-seed: invalid seed 'seven': give an integer such as 7",
    ])
