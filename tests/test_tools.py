"""`coder-mock validate` and `coder-mock show`, through cli.main and once as the console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coder_mock.app import create_app
from coder_mock.catalog import BUILTIN_ROOT, Catalog
from coder_mock.cli import main
from coder_mock.schemas.scenario import OPERATIONS
from coder_mock.store import Store
from coder_mock.tools import REQUESTS

from conftest import BUILTIN_SCENARIOS, MEMBER_ID, MEMBER_TOKEN, OWNER_TOKEN

CONSOLE_SCRIPT = Path(sys.executable).parent / "coder-mock"
KINDS = "buildinfo, deployment-config, deployment-ssh, deployment-stats"
CSP_REPORT = b'{"csp-report":{"document-uri":"https://coder.example.com/","violated-directive":"script-src"}}'

BROKEN_PROJECT_LINES = [
    "proj/fixtures/buildinfo/old.yaml: version: invalid value 2.10: expected a SemVer version with a leading v."
    ' YAML reads unquoted 2.10 as a number; quote it and write the whole version, such as "v2.10.0".',
    'proj/fixtures/buildinfo/unused.yaml: telemetry: invalid value "no": expected true or false.',
    "proj/fixtures/deployment-ssh/bad.yaml: hostname_prefix: invalid value no: expected a string."
    ' YAML reads unquoted no as the boolean false; quote it: "no".',
    f"proj/fixtures/loose.yaml: the file is not in a fixture kind subfolder; move it into one of {KINDS}.",
    f'proj/fixtures/widgets/thing.yaml: unknown fixture kind "widgets" (the subfolder name); move the file'
    f" into one of {KINDS}.",
    "proj/scenarios/typo.yaml: description: missing: add this key with a string.",
    'proj/scenarios/typo.yaml: descripton: unknown key "descripton": did you mean "description"? Rename it.',
]
BROKEN_PROJECT_SUMMARY = "7 problems in 6 files; 1 scenario valid, 2 rejected (old, typo)."


def write(folder: Path, relative: str, text: str) -> None:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder `proj` with one good scenario, broken scenarios and broken fixtures."""
    monkeypatch.chdir(tmp_path)
    root = Path("proj")
    write(root, "fixtures/buildinfo/old.yaml", "version: 2.10\n")
    write(root, "fixtures/deployment-ssh/bad.yaml", "hostname_prefix: no\n")
    write(root, "fixtures/buildinfo/unused.yaml", 'telemetry: "no"\n')
    write(root, "fixtures/widgets/thing.yaml", "anything: 1\n")
    write(root, "fixtures/loose.yaml", "x: 1\n")
    write(root, "fixtures/buildinfo/good.yaml", 'version: "v2.22.1+f724638"\n')
    write(root, "fixtures/buildinfo/README.md", "Not a fixture: only .yaml, .yml and .json files are checked.\n")
    write(root, "fixtures/.hidden/ignored.yaml", "x: 1\n")
    write(
        root,
        "scenarios/old.yaml",
        "extends: default\n"
        "description: Old.\n"
        "fixtures:\n"
        "  buildinfo: buildinfo/old.yaml\n"
        "  deployment-ssh: deployment-ssh/bad.yaml\n",
    )
    write(root, "scenarios/typo.yaml", "extends: default\ndescripton: Typo.\n")
    write(root, "scenarios/good.yaml", "extends: default\ndescription: Good.\nfixtures:\n  buildinfo: buildinfo/good.yaml\n")
    return root


def output_lines(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], str]:
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err


# validate


def test_validate_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate"])

    lines, err = output_lines(capsys)
    assert code == 0
    assert lines == [f"No problems; {len(BUILTIN_SCENARIOS)} scenarios valid."]
    assert err == ""


def test_validate_broken_project(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "proj"])

    lines, err = output_lines(capsys)
    assert code == 1
    assert lines == BROKEN_PROJECT_LINES + [BROKEN_PROJECT_SUMMARY]
    assert err == ""


def test_validate_folder_options(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "--scenarios-dir", "proj/scenarios", "--fixtures-dir", "proj/fixtures"])

    lines, _ = output_lines(capsys)
    assert code == 1
    assert lines == BROKEN_PROJECT_LINES + [BROKEN_PROJECT_SUMMARY]


def test_validate_scenarios_dir_argument(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A DIR without scenarios/ or fixtures/ and without kind subfolders is a folder of scenario files.
    code = main(["validate", "proj/scenarios", "--fixtures-dir", "proj/fixtures"])

    lines, _ = output_lines(capsys)
    assert code == 1
    assert lines == BROKEN_PROJECT_LINES + [BROKEN_PROJECT_SUMMARY]


def test_validate_fixtures_dir_argument(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A DIR with a subfolder named for a fixture kind is a fixtures folder.
    code = main(["validate", "proj/fixtures"])

    lines, _ = output_lines(capsys)
    assert code == 1
    assert lines == BROKEN_PROJECT_LINES[:5] + ["5 problems in 5 files; 0 scenarios valid."]


def test_validate_good_scenarios_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "mine/first.yaml", "extends: default\ndescription: First.\n")
    write(tmp_path, "mine/second.yml", "extends: outdated\ndescription: Second.\n")

    code = main(["validate", "mine"])

    lines, err = output_lines(capsys)
    assert code == 0
    assert lines == ["No problems; 2 scenarios valid."]
    assert err == ""


def test_validate_missing_fixture_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "mine/scenarios/lost.yaml", "extends: default\ndescription: Lost.\n"
                                                "fixtures:\n  deployment-stats: deployment-stats/gone.yaml\n")
    write(tmp_path, "mine/fixtures/deployment-stats/other.yaml", "{}\n")

    code = main(["validate", "mine"])

    lines, _ = output_lines(capsys)
    assert code == 1
    assert lines == [
        'mine/scenarios/lost.yaml: fixtures.deployment-stats: fixture "deployment-stats/gone.yaml" not found in'
        f" mine/fixtures, {BUILTIN_ROOT / 'fixtures'}; create it or fix the path.",
        "1 problem in 1 file; 0 scenarios valid, 1 rejected (lost).",
    ]


def test_validate_missing_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)

    code = main(["validate", "absent"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == ("coder-mock: absent: folder not found; pass a project folder (with scenarios/ or"
                            " fixtures/), a fixtures folder or a folder of scenario files.\n")


def test_validate_file_as_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "default.yaml", "description: A file, not a folder.\n")

    code = main(["validate", "default.yaml"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == ("coder-mock: default.yaml: not a folder; pass a project folder (with scenarios/ or"
                            " fixtures/), a fixtures folder or a folder of scenario files.\n")


def test_validate_missing_fixtures_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)

    code = main(["validate", "--fixtures-dir", "absent"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == "coder-mock: absent: folder not found; check the --fixtures-dir value.\n"


# show


def served(catalog: Catalog, scenario: str, method: str, path: str, token: str | None = None,
           data: bytes | None = None, seed: int | None = None) -> tuple[int, dict[str, str], bytes]:
    """Return the status, headers and body the app sends, asked directly through Flask's test client."""
    client = create_app(Store(catalog, scenario, seed=seed), quiet=True).test_client()
    headers = {"Coder-Session-Token": token} if token else {}
    if data is not None:
        headers["Content-Type"] = "application/csp-report"
    response = client.open(path, method=method, headers=headers, data=data)
    return response.status_code, dict(response.headers), response.get_data()


def split_show_output(capsysbinary: pytest.CaptureFixture[bytes]) -> tuple[str, list[str], bytes]:
    """Split show's output into the status line, the header lines and the body."""
    out = capsysbinary.readouterr().out
    head, body = out.split(b"\n\n", 1)
    status, *headers = head.decode("utf-8").split("\n")
    return status, headers, body


def header_lines(headers: dict[str, str]) -> list[str]:
    names = sorted(headers, key=str.lower)
    return [f"{name}: {headers[name]}" for name in names]


def test_show_requests_cover_operations() -> None:
    assert list(REQUESTS) == list(OPERATIONS)


def test_show_build_info_exact(catalog: Catalog, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    _, _, body = served(catalog, "default", "GET", "/api/v2/buildinfo")

    code = main(["show", "default", "build-info"])

    out = capsysbinary.readouterr().out
    assert code == 0
    assert out == (
        b"HTTP/1.1 200 OK\n"
        + f"Content-Length: {len(body)}\n".encode()
        + b"Content-Type: application/json; charset=utf-8\n"
        b"X-Coder-Build-Version: v2.22.1+f724638\n"
        b"X-Content-Type-Options: nosniff\n"
        b"\n" + body
    )
    assert body.startswith(b'{"external_url":"https://github.com/coder/coder/commit/f724638')
    assert body.endswith(b"}\n")


@pytest.mark.parametrize(
    ("scenario", "operation", "caller", "method", "path", "token", "status"),
    [
        ("default", "api-root-handler", "owner", "GET", "/api/v2/", OWNER_TOKEN, 200),
        ("default", "get-deployment-config", "owner", "GET", "/api/v2/deployment/config", OWNER_TOKEN, 200),
        ("default", "ssh-config", "member", "GET", "/api/v2/deployment/ssh", MEMBER_TOKEN, 200),
        ("default", "get-deployment-stats", "owner", "GET", "/api/v2/deployment/stats", OWNER_TOKEN, 200),
        ("default", "get-token-config", "member", "GET", "/api/v2/users/me/keys/tokens/tokenconfig",
         MEMBER_TOKEN, 200),
        ("outdated", "update-check", "none", "GET", "/api/v2/updatecheck", None, 200),
        ("experiments", "get-enabled-experiments", "member", "GET", "/api/v2/experiments", MEMBER_TOKEN, 200),
        ("experiments", "get-safe-experiments", "owner", "GET", "/api/v2/experiments/available", OWNER_TOKEN, 200),
        ("minimal", "get-deployment-config", "owner", "GET", "/api/v2/deployment/config", OWNER_TOKEN, 200),
        ("dev-build", "build-info", "none", "GET", "/api/v2/buildinfo", None, 200),
        ("unlimited-token-lifetime", "get-token-config", "owner", "GET",
         "/api/v2/users/me/keys/tokens/tokenconfig", OWNER_TOKEN, 200),
        ("stats-processing", "get-deployment-stats", "owner", "GET", "/api/v2/deployment/stats", OWNER_TOKEN, 400),
        ("server-errors", "ssh-config", "member", "GET", "/api/v2/deployment/ssh", MEMBER_TOKEN, 500),
        ("server-errors", "ssh-config", "none", "GET", "/api/v2/deployment/ssh", None, 401),
    ],
)
def test_show_matches_test_client(catalog: Catalog, capsysbinary: pytest.CaptureFixture[bytes], scenario: str,
                                  operation: str, caller: str, method: str, path: str, token: str | None,
                                  status: int) -> None:
    expected_status, expected_headers, expected_body = served(catalog, scenario, method, path, token)

    code = main(["show", scenario, operation, "--as", caller])

    status_line, headers, body = split_show_output(capsysbinary)
    assert code == 0
    assert expected_status == status
    assert status_line.startswith(f"HTTP/1.1 {status} ")
    assert headers == header_lines(expected_headers)
    assert body == expected_body


def test_show_csp_report(catalog: Catalog, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    _, expected_headers, expected_body = served(catalog, "default", "POST", "/api/v2/csp/reports", data=CSP_REPORT)

    code = main(["show", "default", "report-csp-violations", "--as", "none"])

    status_line, headers, body = split_show_output(capsysbinary)
    assert code == 0
    assert status_line == "HTTP/1.1 200 OK"
    assert headers == header_lines(expected_headers)
    assert body == b'"ok"\n'
    assert body == expected_body


def test_show_token_operation_without_token(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code = main(["show", "default", "get-token-config", "--as", "none"])

    status_line, _, body = split_show_output(capsysbinary)
    assert code == 0
    assert status_line == "HTTP/1.1 401 Unauthorized"
    assert body == (b'{"message":"You are signed out or your session has expired. Please sign in again to'
                    b' continue.","detail":"Cookie \\"coder_session_token\\" or query parameter must be'
                    b' provided."}\n')


def test_show_member_forbidden_config(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code = main(["show", "default", "get-deployment-config", "--as", "member"])

    status_line, _, body = split_show_output(capsysbinary)
    assert code == 0
    assert status_line == "HTTP/1.1 403 Forbidden"
    assert body == (b'{"message":"Forbidden.","detail":"You don\'t have permission to view this content. If you'
                    b" believe this is a mistake, please contact your administrator or try signing in with"
                    b' different credentials."}\n')


def test_show_rate_limited_headers(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code = main(["show", "rate-limited", "ssh-config", "--as", "none"])

    status_line, headers, body = split_show_output(capsysbinary)
    names = [line.split(": ", 1)[0] for line in headers]
    values = dict(line.split(": ", 1) for line in headers)
    assert code == 0
    assert status_line == "HTTP/1.1 429 Too Many Requests"
    assert names == sorted(names, key=str.lower)
    assert 1 <= int(values["Retry-After"]) <= 60
    assert values["X-Ratelimit-Limit"] == "512"
    assert values["X-Ratelimit-Remaining"] == "0"
    assert int(values["X-Ratelimit-Reset"]) % 60 == 0
    assert "Date" not in values
    assert body == b'{"message":"You\'ve been rate limited for sending more than 512 requests in 1m0s."}\n'


def test_show_user_and_seed(catalog: Catalog, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    _, _, expected_body = served(catalog, "default", "GET", f"/api/v2/users/{MEMBER_ID}/keys/tokens/tokenconfig",
                                 OWNER_TOKEN, seed=7)

    code = main(["show", "default", "get-token-config", "--user", MEMBER_ID, "--seed", "7"])

    status_line, _, body = split_show_output(capsysbinary)
    assert code == 0
    assert status_line == "HTTP/1.1 200 OK"
    assert body == expected_body


def test_show_unknown_user(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code = main(["show", "default", "get-token-config", "--user", "nobody"])

    status_line, _, body = split_show_output(capsysbinary)
    assert code == 0
    assert status_line == "HTTP/1.1 400 Bad Request"
    assert body == b'{"message":"\\"user\\" must be an existing uuid or username.","detail":"queried user=\\"nobody\\""}\n'


def test_show_seed_changes_generated_values(catalog: Catalog, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    _, _, own_seed = served(catalog, "default", "GET", "/api/v2/buildinfo")
    _, _, seed_seven = served(catalog, "default", "GET", "/api/v2/buildinfo", seed=7)

    code = main(["show", "default", "build-info", "--seed", "7"])

    _, _, body = split_show_output(capsysbinary)
    assert code == 0
    assert body == seed_seven
    assert seed_seven != own_seed


def test_show_unknown_operation(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["show", "default", "build_info"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == f"coder-mock: unknown operation 'build_info'; choose one of {', '.join(OPERATIONS)}.\n"


def test_show_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["show", "nope", "build-info"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == f"coder-mock: unknown scenario 'nope'; choose one of {', '.join(BUILTIN_SCENARIOS)}.\n"


def test_show_user_outside_token_config(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["show", "default", "build-info", "--user", "member"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == "coder-mock: --user applies to get-token-config only; remove it.\n"


def test_show_good_scenario_in_broken_folder(project: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code = main(["show", "good", "ssh-config", "--as", "member",
                 "--scenarios-dir", "proj/scenarios", "--fixtures-dir", "proj/fixtures"])

    status_line, _, body = split_show_output(capsysbinary)
    assert code == 0
    assert status_line == "HTTP/1.1 200 OK"
    assert body == b'{"hostname_prefix":"coder.","hostname_suffix":"coder","ssh_config_options":{}}\n'


def test_show_rejected_scenario(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["show", "old", "build-info", "--scenarios-dir", "proj/scenarios", "--fixtures-dir", "proj/fixtures"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"coder-mock: scenario 'old' cannot be shown: {BROKEN_PROJECT_LINES[0]}",
        f"coder-mock: scenario 'old' cannot be shown: {BROKEN_PROJECT_LINES[2]}",
    ]


def test_show_role_without_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "mine/owners-only.yaml",
          "extends: default\n"
          "description: Owners only.\n"
          "users:\n"
          "  - username: boss\n"
          "    roles: [owner]\n"
          "    tokens:\n"
          "      - token: bossTokenX-abcdefghijklmnopqrstuv\n")

    code = main(["show", "owners-only", "ssh-config", "--as", "member", "--scenarios-dir", "mine"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == ("coder-mock: scenario 'owners-only' has no unexpired session token for a user without"
                            " the owner role; add one to its users or pick another --as.\n")


def test_console_script_validate_and_show(catalog: Catalog, tmp_path: Path) -> None:
    assert CONSOLE_SCRIPT.is_file(), f"console script missing next to {sys.executable}"
    _, _, expected_body = served(catalog, "default", "GET", "/api/v2/experiments", MEMBER_TOKEN)

    validated = subprocess.run([str(CONSOLE_SCRIPT), "validate"], cwd=tmp_path, capture_output=True, timeout=120)
    show = subprocess.run([str(CONSOLE_SCRIPT), "show", "default", "get-enabled-experiments", "--as", "member"],
                          cwd=tmp_path, capture_output=True, timeout=120)

    assert validated.returncode == 0
    assert validated.stdout == f"No problems; {len(BUILTIN_SCENARIOS)} scenarios valid.\n".encode()
    assert validated.stderr == b""
    assert show.returncode == 0
    assert show.stderr == b""
    assert show.stdout.endswith(b"\n\n" + expected_body)
    assert show.stdout.startswith(b"HTTP/1.1 200 OK\nContent-Length: ")
