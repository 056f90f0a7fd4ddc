"""The pytest plugin, run through pytester: the README example, the fixture, the marker and the options."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from coder_mock.testing import CoderMock
from state_helpers import ServeProcess, serve  # noqa: F401 (pytest fixture)

README = Path(__file__).resolve().parents[1] / "README.md"
INNER_TIMEOUT_SECONDS = 180.0

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


@pytest.fixture(autouse=True)
def no_shared_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a CODER_MOCK_URL of the developer's shell from turning the inner runs into shared-server runs."""
    monkeypatch.delenv("CODER_MOCK_URL", raising=False)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[CoderMock]:
    """A server in this process that inner pytest runs reach through --coder-mock-url."""
    with CoderMock() as server:
        yield server


def test_readme_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_coder_client=readme_example())

    result = pytester.runpytest()

    result.assert_outcomes(passed=5)


def test_readme_example_passes_on_shared_server(pytester: pytest.Pytester, shared_server: CoderMock) -> None:
    pytester.makepyfile(test_coder_client=readme_example())

    result = pytester.runpytest("--coder-mock-url", shared_server.url)

    result.assert_outcomes(passed=5)
    assert shared_server.admin("GET", "/sessions") == {"sessions": []}
    assert shared_server.scenario.name == "default"
    # Every request of the run belongs to its session, none to the global scenario.
    sessions = {entry["session"] for entry in shared_server.journal(path_prefix="/api/v2/")}
    assert len(sessions) == 1
    assert None not in sessions


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
                   "--coder-mock-scenarios-dir=DIR", "--coder-mock-fixtures-dir=DIR", "--coder-mock-url=URL"):
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


# --- A shared server: --coder-mock-url and CODER_MOCK_URL -------------------------------------------

# One inner test run: its marker's scenario, then a wait until the other run has switched too, then checks
# that this run's session still has its own scenario, fault rule and journal.
ISOLATED_RUN = """
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SYNC = Path({sync!r})
ME, OTHER = {me!r}, {other!r}


def wait_for(name):
    deadline = time.monotonic() + 120
    while not (SYNC / name).exists():
        assert time.monotonic() < deadline, f"{{name}} did not appear within 120 s"
        time.sleep(0.02)


def get(url, headers):
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


@pytest.mark.coder_mock({scenario!r}, seed={seed})
def test_isolated(coder_mock):
    (SYNC / f"{{ME}}.session").write_text(coder_mock.session)
    coder_mock.faults.add("api-root-handler", status={status})
    first = get(coder_mock.url + "/api/v2/buildinfo", coder_mock.headers)
    (SYNC / f"{{ME}}-switched").touch()
    wait_for(f"{{OTHER}}-switched")

    # The other run has switched its session, added its rule and sent its request by now.
    live = coder_mock.scenario
    assert (live.name, live.seed) == ({scenario!r}, {seed})
    second = get(coder_mock.url + "/api/v2/buildinfo", {{"Coder-Session-Token": coder_mock.tokens.owner}})
    assert first == second
    assert first[1]["version"] == {version!r}
    assert get(coder_mock.url + "/api/v2/", coder_mock.headers)[0] == {status}
    assert [rule["status"] for rule in coder_mock.faults.list()] == [{status}]
    assert [entry["path"] for entry in coder_mock.journal()] == ["/api/v2/buildinfo", "/api/v2/buildinfo",
                                                                 "/api/v2/"]
    assert {{entry["session"] for entry in coder_mock.journal(include_admin=True)}} == {{coder_mock.session}}
    (SYNC / f"{{ME}}-checked").touch()
    wait_for(f"{{OTHER}}-checked")


def test_next_test_starts_reset(coder_mock):
    assert coder_mock.journal.count(include_admin=True) == 0
    assert coder_mock.faults.list() == []
    live = coder_mock.scenario
    assert (live.name, live.seed) == ("default", 1)
"""


def start_inner_run(folder: Path, arguments: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start `python -m pytest` in `folder`, with its output in folder/output.txt."""
    with (folder / "output.txt").open("wb") as output:
        return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", *arguments],
                                cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen[bytes], folder: Path) -> tuple[int, str]:
    """Wait for an inner run, ending it by its PID when it takes too long; return its exit code and output."""
    try:
        code = process.wait(timeout=INNER_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the inner pytest run in {folder} did not end within {INNER_TIMEOUT_SECONDS} s:\n"
                    + (folder / "output.txt").read_text(errors="replace"))
    return code, (folder / "output.txt").read_text(errors="replace")


def test_two_processes_share_server_isolated(pytester: pytest.Pytester, serve) -> None:  # noqa: F811
    server: ServeProcess = serve()
    url = f"http://127.0.0.1:{server.port}"
    sync = pytester.mkdir("sync")
    runs = {
        "a": {"scenario": "release-candidate", "seed": 3, "version": "v2.22.0-rc.1", "status": 502},
        "b": {"scenario": "dev-build", "seed": 7, "version": "v0.0.0-devel+4bd8c1e", "status": 503},
    }
    for me, other in (("a", "b"), ("b", "a")):
        folder = pytester.mkdir(me)
        (folder / f"test_run_{me}.py").write_text(ISOLATED_RUN.format(sync=str(sync), me=me, other=other,
                                                                      **runs[me]))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}

    # One run names the server with the option, the other through the environment variable.
    first = start_inner_run(pytester.path / "a", ["--coder-mock-url", url], env)
    second = start_inner_run(pytester.path / "b", [], {**env, "CODER_MOCK_URL": url})
    code_a, output_a = finish(first, pytester.path / "a")
    code_b, output_b = finish(second, pytester.path / "b")

    assert code_a == 0, output_a
    assert code_b == 0, output_b
    for output in (output_a, output_b):
        assert f"coder-mock: shared server {url}, one session per pytest process" in output
        assert "2 passed" in output
    session_a = (sync / "a.session").read_text()
    session_b = (sync / "b.session").read_text()
    assert session_a != session_b
    # Both runs ended their sessions, and neither touched the global scenario.
    assert server.json("GET", "/__admin/sessions") == {"sessions": []}
    assert server.json("GET", "/__admin/scenario")["name"] == "default"
    # The per-test reset cleared each session's journal, and each run ended its own session last.
    ended = server.json("GET", "/__admin/requests?method=DELETE")["requests"]
    assert sorted((entry["path"], entry["session"], entry["status"]) for entry in ended) == sorted([
        (f"/__admin/sessions/{session_a}", session_a, 204),
        (f"/__admin/sessions/{session_b}", session_b, 204),
    ])
    assert server.json("GET", "/__admin/requests/count?path_prefix=/api/v2/") == {"count": 0}


def test_session_reset_restores_faults(pytester: pytest.Pytester, shared_server: CoderMock) -> None:
    pytester.makepyfile(test_inner_fault_reset="""
        def test_changes_rules(coder_mock):
            assert len(coder_mock.faults.list()) == 5
            coder_mock.faults.set([{"operation": "all", "status": 500}])

        def test_sees_scenario_rules(coder_mock):
            rules = coder_mock.faults.list()
            assert [rule["operation"] for rule in rules] == [
                "get-deployment-config", "update-check", "get-deployment-stats", "ssh-config", "build-info"]
            assert [rule["applied"] for rule in rules] == [0, 0, 0, 0, 0]
    """)

    own = pytester.runpytest("--coder-mock-scenario", "flaky")
    shared = pytester.runpytest("--coder-mock-scenario", "flaky", "--coder-mock-url", shared_server.url)

    own.assert_outcomes(passed=2)
    shared.assert_outcomes(passed=2)
    assert shared_server.faults.list() == []


def test_option_wins_over_environment(pytester: pytest.Pytester, shared_server: CoderMock,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODER_MOCK_URL", "http://127.0.0.1:9")
    pytester.makepyfile(test_url=RECORD_URL)

    result = pytester.runpytest("--coder-mock-url", shared_server.url + "/")

    result.assert_outcomes(passed=1)
    assert (pytester.path / "url.txt").read_text() == shared_server.url
    result.stdout.fnmatch_lines([f"coder-mock: shared server {shared_server.url}, one session per pytest process"])


def test_empty_environment_starts_server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODER_MOCK_URL", "")
    pytester.makepyfile(test_url=RECORD_URL)

    result = pytester.runpytest()

    result.assert_outcomes(passed=1)
    assert "coder-mock: shared server" not in result.stdout.str()
    assert not port_accepts(int((pytester.path / "url.txt").read_text().rsplit(":", 1)[1]))


def test_unreachable_url_errors(pytester: pytest.Pytester) -> None:
    with CoderMock() as gone:
        url = gone.url
    pytester.makepyfile(test_any="""
        def test_first(coder_mock):
            pass

        def test_second(coder_mock):
            pass
    """)

    result = pytester.runpytest("--coder-mock-url", url)

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "*_ ERROR at setup of test_first _*",
        f"coder-mock session on {url} did not start: cannot reach coder-mock at {url}: [Errno 111] Connection"
        " refused; check that the server is running at that URL.",
    ])


def test_unknown_scenario_on_shared_server_errors(pytester: pytest.Pytester, shared_server: CoderMock) -> None:
    pytester.makepyfile(test_any="""
        def test_any(coder_mock):
            pass
    """)

    result = pytester.runpytest("--coder-mock-url", shared_server.url, "--coder-mock-scenario", "nope")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        f'coder-mock session on {shared_server.url} did not start: POST /__admin/sessions failed with status 404:'
        ' Scenario "nope" not found. Available: default, dev-build, experiments, flaky, minimal, outdated,'
        " rate-limited, release-candidate, server-errors, stats-processing, unlimited-token-lifetime.",
    ])
    assert shared_server.admin("GET", "/sessions") == {"sessions": []}


@pytest.mark.parametrize(("arguments", "variable", "message"), [
    (["--coder-mock-url", "127.0.0.1:3000"], None,
     "ERROR: invalid --coder-mock-url '127.0.0.1:3000': give the base URL of a running coder-mock server, such as"
     " http://127.0.0.1:3000."),
    ([], "ftp://127.0.0.1:3000",
     "ERROR: invalid CODER_MOCK_URL 'ftp://127.0.0.1:3000': give the base URL of a running coder-mock server, such"
     " as http://127.0.0.1:3000."),
    (["--coder-mock-url", "http://127.0.0.1:3000", "--coder-mock-scenarios-dir", "mine"], None,
     "ERROR: --coder-mock-scenarios-dir applies to a server that the plugin starts, but --coder-mock-url names a"
     " running one: start that server with --scenarios-dir instead."),
    (["--coder-mock-fixtures-dir", "mine"], "http://127.0.0.1:3000",
     "ERROR: --coder-mock-fixtures-dir applies to a server that the plugin starts, but CODER_MOCK_URL names a"
     " running one: start that server with --fixtures-dir instead."),
    (["--coder-mock-url", "http://127.0.0.1:3101/api/v2"], None,
     "ERROR: invalid --coder-mock-url 'http://127.0.0.1:3101/api/v2': give the server's base URL without a path,"
     " http://127.0.0.1:3101, because the plugin adds /api/v2 and /__admin itself."),
    ([], "http://127.0.0.1:3101/__admin",
     "ERROR: invalid CODER_MOCK_URL 'http://127.0.0.1:3101/__admin': give the server's base URL without a path,"
     " http://127.0.0.1:3101, because the plugin adds /api/v2 and /__admin itself."),
])
def test_invalid_url_usage_errors(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                  arguments: list[str], variable: str | None, message: str) -> None:
    if variable is not None:
        monkeypatch.setenv("CODER_MOCK_URL", variable)

    result = pytester.runpytest(*arguments)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_session_ended_elsewhere_ends_quietly(pytester: pytest.Pytester, shared_server: CoderMock) -> None:
    pytester.makepyfile(test_ended="""
        import urllib.request

        def test_end_own_session(coder_mock):
            request = urllib.request.Request(f"{coder_mock.url}/__admin/sessions/{coder_mock.session}",
                                             method="DELETE")
            with urllib.request.urlopen(request) as response:
                assert response.status == 204
    """)

    result = pytester.runpytest("--coder-mock-url", shared_server.url)

    result.assert_outcomes(passed=1)


def test_server_gone_at_session_end_errors(pytester: pytest.Pytester, serve) -> None:  # noqa: F811
    server: ServeProcess = serve()
    url = f"http://127.0.0.1:{server.port}"
    pytester.makepyfile(test_gone=f"""
        import os
        import signal
        import socket
        import time
        from pathlib import Path

        def test_stop_server(coder_mock):
            Path(__file__).with_name("session.txt").write_text(coder_mock.session)
            os.kill({server.process.pid}, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", {server.port}), timeout=2).close()
                except ConnectionRefusedError:
                    break
                except (ConnectionResetError, ConnectionAbortedError):
                    # A connection still queued when the server closed its socket is reset, not refused,
                    # so poll again until a new connection is refused.
                    pass
                assert time.monotonic() < deadline, "the server still accepts connections after 30 s"
                time.sleep(0.02)
    """)

    result = pytester.runpytest_subprocess("--coder-mock-url", url)
    assert server.process.wait(timeout=30) == 0

    result.assert_outcomes(passed=1, errors=1)
    session = (pytester.path / "session.txt").read_text()
    result.stdout.fnmatch_lines([
        "*_ ERROR at teardown of test_stop_server _*",
        f"coder-mock session {session} on {url} could not be ended: cannot reach coder-mock at {url}:"
        " [Errno 111] Connection refused; check that the server is running at that URL.",
    ])


def test_idle_session_renewed_with_warning(pytester: pytest.Pytester, serve) -> None:  # noqa: F811
    server: ServeProcess = serve("--session-idle", "3")
    url = f"http://127.0.0.1:{server.port}"
    pytester.makepyfile(test_idle=f"""
        import json
        import time
        import urllib.request
        from pathlib import Path

        def listed_sessions():
            with urllib.request.urlopen("{url}/__admin/sessions", timeout=10) as response:
                return [session["id"] for session in json.load(response)["sessions"]]

        def test_outlasts_session(coder_mock):
            Path(__file__).with_name("ended.txt").write_text(coder_mock.session)
            coder_mock.switch("outdated")
            # The listing ends the sessions idle longer than --session-idle.
            deadline = time.monotonic() + 60
            while coder_mock.session in listed_sessions():
                assert time.monotonic() < deadline, "the session was not ended within 60 s"
                time.sleep(0.2)

        def test_runs_in_new_session(coder_mock):
            Path(__file__).with_name("renewed.txt").write_text(coder_mock.session)
            assert coder_mock.journal.count(include_admin=True) == 0
            assert coder_mock.scenario.name == "default"
            request = urllib.request.Request(coder_mock.url + "/api/v2/buildinfo", headers=coder_mock.headers)
            urllib.request.urlopen(request, timeout=10).close()
            coder_mock.assert_called("GET", "/api/v2/buildinfo", times=1)
    """)

    result = pytester.runpytest_subprocess("--coder-mock-url", url)

    result.assert_outcomes(passed=2, warnings=1)
    ended = (pytester.path / "ended.txt").read_text()
    renewed = (pytester.path / "renewed.txt").read_text()
    assert renewed != ended
    result.stdout.fnmatch_lines([
        "*_idle.py::test_runs_in_new_session",
        f"  *SessionRenewedWarning: coder-mock session {ended} on {url} was ended by the server, probably because"
        f" it sat idle longer than the server's --session-idle, so session {renewed} replaces it from this test"
        " on; start the server with a larger --session-idle to keep one session for the whole run.",
    ], consecutive=True)
    # The run ended the new session when it finished.
    assert server.json("GET", "/__admin/sessions") == {"sessions": []}
