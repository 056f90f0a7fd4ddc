"""Reading fixture and scenario files, and the `FILE: KEY.PATH: message` lines of their problems.

Tests run inside tmp_path, so a file named `scenario.yaml` shows as `scenario.yaml`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from coder_mock.documents import FileProblem, display_path, error_lines, load_with, read_document
from coder_mock.schemas.fields import GoTime
from coder_mock.schemas.scenario import Scenario
from coder_mock.yamlsource import SourceBool, SourceFloat, plain

SHOWN = "scenario.yaml"
TOKEN_HELP = (
    "a Coder session token is a 10-character id, a dash and a 22-character secret, letters and digits only,"
    ' such as "abcde12345-abcdefghijklmnopqrstuv".'
)
STATUS_HELP = "an override is an error response, so use a status from 400 to 599."
FIXTURE_PATH_HELP = 'give a path relative to a fixtures folder, such as "buildinfo/release.yaml", without "..".'
SCENARIO_KEYS = "extends, description, seed, time, profile, fixtures, users, deployment, overrides, faults"


@pytest.fixture(autouse=True)
def inside_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(name: str, text: str) -> Path:
    path = Path(name)
    path.write_text(text, encoding="utf-8")
    return path


def read_lines(name: str, text: str) -> list[str]:
    path = write(name, text)
    with pytest.raises(FileProblem) as raised:
        read_document(path)
    return raised.value.lines


def load_scenario(text: str) -> Any:
    path = write(SHOWN, text)
    return load_with(Scenario(), read_document(path), path, partial=False)


def scenario_lines(text: str) -> list[str]:
    with pytest.raises(FileProblem) as raised:
        load_scenario(text)
    return raised.value.lines


def test_python_tag_rejected_before_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(os, "system", calls.append)

    lines = read_lines("fixture.yaml", 'x: !!python/object/apply:os.system ["true"]\n')

    assert lines == [
        "fixture.yaml: line 1: the tag !!python/object/apply:os.system is not allowed;"
        " coder-mock reads plain YAML without language tags, so remove the tag."
    ]
    assert calls == []


def test_python_tag_creates_nothing() -> None:
    lines = read_lines("fixture.yaml", 'version: "v2.21.3"\nx: !!python/object/apply:os.mkdir ["made-by-yaml"]\n')

    assert lines == [
        "fixture.yaml: line 2: the tag !!python/object/apply:os.mkdir is not allowed;"
        " coder-mock reads plain YAML without language tags, so remove the tag."
    ]
    assert not Path("made-by-yaml").exists()


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("x: !!python/name:os.system\n", "!!python/name:os.system"),
        ("x: !!python/object:os.PathLike {}\n", "!!python/object:os.PathLike"),
        ("x: !custom value\n", "!custom"),
    ],
)
def test_other_tags_rejected(text: str, tag: str) -> None:
    assert read_lines("fixture.yaml", text) == [
        f"fixture.yaml: line 1: the tag {tag} is not allowed;"
        " coder-mock reads plain YAML without language tags, so remove the tag."
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: b: c\n", "fixture.yaml: invalid YAML at line 1 column 5: mapping values are not allowed here."),
        ("a: 1\n  b: 2\n", "fixture.yaml: invalid YAML at line 2 column 4: mapping values are not allowed here."),
        ("a: *missing\n", "fixture.yaml: invalid YAML at line 1 column 4: found undefined alias 'missing'."),
    ],
)
def test_invalid_yaml_syntax(text: str, line: str) -> None:
    assert read_lines("fixture.yaml", text) == [line]


def test_multiple_documents_message_complete() -> None:
    # PyYAML splits this message into a context and a problem, and the problem alone is half a sentence.
    (line,) = read_lines("fixture.yaml", "a: 1\n---\nb: 2\n")
    assert line.startswith("fixture.yaml: invalid YAML at line 2 column 1: ")
    assert "expected a single document in the stream" in line
    assert line.endswith("but found another document.")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{"version": }', "fixture.json: invalid JSON at line 1 column 13: Expecting value."),
        ('{"a": 1,}', "fixture.json: invalid JSON at line 1 column 9: Expecting property name enclosed in double quotes."),
        ("", "fixture.json: invalid JSON at line 1 column 1: Expecting value."),
        ('{"a": 1}\n{"b": 2}', "fixture.json: invalid JSON at line 2 column 1: Extra data."),
        ("version: v2\n", "fixture.json: invalid JSON at line 1 column 1: Expecting value."),
    ],
)
def test_invalid_json_fixture(text: str, line: str) -> None:
    assert read_lines("fixture.json", text) == [line]


def test_json_fixture_reads_plain() -> None:
    path = write("fixture.json", '{"version": "v2.21.3", "telemetry": true, "n": 2.5}')
    document = read_document(path)
    assert document == {"version": "v2.21.3", "telemetry": True, "n": 2.5}
    assert type(document["telemetry"]) is bool
    assert type(document["n"]) is float


def test_missing_file_not_found() -> None:
    with pytest.raises(FileProblem) as raised:
        read_document(Path("fixtures") / "absent.yaml")
    assert raised.value.lines == ["fixtures/absent.yaml: file not found; create it or fix the path that names it."]


def test_non_utf8_file_rejected() -> None:
    Path("latin1.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(FileProblem) as raised:
        read_document(Path("latin1.yaml"))
    assert raised.value.lines == [
        "latin1.yaml: cannot be read ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte);"
        " save it as UTF-8 text."
    ]


def test_yaml_keeps_source_text() -> None:
    path = write("fixture.yml", "version: 2.10\nok: yes\nwhen: 2024-01-02T03:04:05\nday: 2024-01-02\n")
    document = read_document(path)

    assert isinstance(document["version"], SourceFloat)
    assert document["version"].source == "2.10"
    assert document["version"] == 2.1
    assert isinstance(document["ok"], SourceBool)
    assert document["ok"].source == "yes"
    assert document["ok"] == True  # noqa: E712 - SourceBool compares by value
    assert document["when"] == "2024-01-02T03:04:05"
    assert document["day"] == "2024-01-02"


def test_plain_drops_source_types() -> None:
    document = read_document(write("fixture.yaml", "a: [1.5, no]\nb: {c: On}\n"))
    converted = plain(document)
    assert converted == {"a": [1.5, False], "b": {"c": True}}
    assert type(converted["a"][0]) is float
    assert type(converted["a"][1]) is bool
    assert type(converted["b"]["c"]) is bool


def test_empty_document_loads_empty() -> None:
    path = write("fixture.yaml", "# only a comment\n")
    assert read_document(path) is None
    assert load_with(Scenario(), None, path) == {}


@pytest.mark.parametrize(
    ("messages", "document", "lines"),
    [
        ({"_schema": ["top problem"]}, {}, ["f.yaml: (top level): top problem"]),
        ({"a": {"_schema": ["nested problem"], 0: ["at index"]}}, {}, ["f.yaml: a: nested problem", "f.yaml: a[0]: at index"]),
        ({"b": [{"c": ["deep"]}]}, {}, ["f.yaml: b.c: deep"]),
        ({"a": ["invalid value: expected a mapping."]}, {"a": [1]}, ["f.yaml: a: invalid value [1]: expected a mapping."]),
        ({"a": {1: ["invalid value: expected a mapping."]}}, {"a": [0, "x"]}, ['f.yaml: a[1]: invalid value "x": expected a mapping.']),
        ({"gone": ["invalid value: expected a mapping."]}, {}, ["f.yaml: gone: invalid value null: expected a mapping."]),
    ],
)
def test_error_lines_format(messages: Any, document: Any, lines: list[str]) -> None:
    assert error_lines("f.yaml", messages, document) == lines


def test_file_problem_joins_lines() -> None:
    problem = FileProblem(["a.yaml: x: first", "a.yaml: y: second"])
    assert problem.lines == ["a.yaml: x: first", "a.yaml: y: second"]
    assert str(problem) == "a.yaml: x: first\na.yaml: y: second"


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (Path("scenarios/x.yaml"), "scenarios/x.yaml"),
        (Path("a/../b.yaml"), "b.yaml"),
        (Path("/nonexistent-root/x.yaml"), "/nonexistent-root/x.yaml"),
    ],
)
def test_display_path_relative_to_cwd(path: Path, shown: str) -> None:
    assert display_path(path) == shown


def test_display_path_absolute_inside_cwd(tmp_path: Path) -> None:
    assert display_path(tmp_path / "s" / "x.yaml") == "s/x.yaml"


FULL_SCENARIO = """\
extends: default
description: Everything set.
seed: 7
time: "2025-04-17T14:00:00+02:00"
fixtures:
  buildinfo: buildinfo/release.yaml
  deployment-config: deployment-config/default.yaml
  deployment-ssh: deployment-ssh/minimal.yaml
  deployment-stats: deployment-stats/zero.yaml
users:
  - username: admin
    id: 0b6a3f2e-5c1d-4d7e-9a8b-1f2e3d4c5b6a
    roles: [owner, auditor]
    tokens:
      - token: adminToken-coderMockAdminSecret01
        expires_at: "2026-01-01T00:00:00Z"
deployment:
  update_check: true
  latest_release: {version: "v2.24.1", url: "https://github.com/coder/coder/releases/tag/v2.24.1"}
  experiments: ["*"]
  safe_experiments: [web-push]
  stats_collected: false
overrides:
  all: {status: 503, message: Down., detail: maintenance}
  build-info: {status: 400}
  get-token-config: {status: 599}
"""


def test_full_scenario_loads() -> None:
    loaded = load_scenario(FULL_SCENARIO)

    assert loaded["extends"] == "default"
    assert loaded["seed"] == 7
    assert loaded["time"] == GoTime.parse("2025-04-17T12:00:00Z")
    assert loaded["fixtures"] == {
        "buildinfo": "buildinfo/release.yaml",
        "deployment_config": "deployment-config/default.yaml",
        "deployment_ssh": "deployment-ssh/minimal.yaml",
        "deployment_stats": "deployment-stats/zero.yaml",
    }
    assert loaded["users"] == [
        {
            "username": "admin",
            "id": "0b6a3f2e-5c1d-4d7e-9a8b-1f2e3d4c5b6a",
            "roles": ["owner", "auditor"],
            "tokens": [
                {"token": "adminToken-coderMockAdminSecret01", "expires_at": GoTime.parse("2026-01-01T00:00:00Z")}
            ],
        }
    ]
    assert loaded["deployment"] == {
        "update_check": True,
        "latest_release": {"version": "v2.24.1", "url": "https://github.com/coder/coder/releases/tag/v2.24.1"},
        "experiments": ["*"],
        "safe_experiments": ["web-push"],
        "stats_collected": False,
    }
    assert loaded["overrides"] == {
        "all": {"status": 503, "message": "Down.", "detail": "maintenance"},
        "build_info": {"status": 400},
        "get_token_config": {"status": 599},
    }


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("seed: 1\n", [f"{SHOWN}: description: missing: add this key with a string."]),
        ("", [f"{SHOWN}: description: missing: add this key with a string."]),
        (
            "descripton: x.\n",
            [
                f"{SHOWN}: description: missing: add this key with a string.",
                f'{SHOWN}: descripton: unknown key "descripton": did you mean "description"? Rename it.',
            ],
        ),
        ("description: 5\n", [f"{SHOWN}: description: invalid value 5: expected a string. Quote the value."]),
        (
            "description: x.\nversoin: 2\n",
            [f'{SHOWN}: versoin: unknown key "versoin": remove it; the keys allowed here are {SCENARIO_KEYS}.'],
        ),
        ("- description: x.\n", [f'{SHOWN}: (top level): invalid value [{{"description": "x."}}]: expected a mapping.']),
        (
            "description: x.\nseed: 1.0\n",
            [f"{SHOWN}: seed: invalid value 1.0: expected an integer; write 1 without the fraction."],
        ),
        ("description: x.\nseed: yes\n", [f"{SHOWN}: seed: invalid value yes: expected an integer."]),
        (
            "description: x.\ntime: 2025-01-01T00:00:00\n",
            [
                f'{SHOWN}: time: invalid timestamp "2025-01-01T00:00:00": it has no time zone.'
                ' Add Z for UTC, as in "2025-01-01T00:00:00Z", or an offset such as +02:00.'
            ],
        ),
    ],
)
def test_scenario_top_level_rejections(text: str, lines: list[str]) -> None:
    assert scenario_lines(text) == lines


USER = "description: x.\nusers:\n  - username: a\n    roles: {roles}\n    tokens:\n      - token: {token}\n"
GOOD_TOKEN = "abcde12345-abcdefghijklmnopqrstuv"


@pytest.mark.parametrize(
    ("token", "written"),
    [
        ("short", '"short"'),
        ("12345", "12345"),
        ("abcde12345abcdefghijklmnopqrstuvw", '"abcde12345abcdefghijklmnopqrstuvw"'),
        ("abcde1234-abcdefghijklmnopqrstuvw", '"abcde1234-abcdefghijklmnopqrstuvw"'),
        ("abcde12345-abcdefghijklmnopqrstu_", '"abcde12345-abcdefghijklmnopqrstu_"'),
        ("abcde12345-abcdefghijklmnopqrstuvx", '"abcde12345-abcdefghijklmnopqrstuvx"'),
    ],
)
def test_scenario_bad_token_format(token: str, written: str) -> None:
    assert scenario_lines(USER.format(roles="[owner]", token=token)) == [
        f"{SHOWN}: users[0].tokens[0].token: invalid token {written}: {TOKEN_HELP}"
    ]


@pytest.mark.parametrize("roles", ["[owner]", "[member]", "[user-admin, template-admin, auditor]", "[]"])
def test_scenario_known_roles(roles: str) -> None:
    loaded = load_scenario(USER.format(roles=roles, token=GOOD_TOKEN))
    assert loaded["users"][0]["tokens"] == [{"token": GOOD_TOKEN}]


@pytest.mark.parametrize(
    ("roles", "line"),
    [
        (
            "[owner, superuser]",
            f'{SHOWN}: users[0].roles: unknown role "superuser": expected one of owner, member, user-admin,'
            " template-admin, auditor.",
        ),
        (
            "[Owner]",
            f'{SHOWN}: users[0].roles: unknown role "Owner": expected one of owner, member, user-admin,'
            " template-admin, auditor.",
        ),
        ("member", f'{SHOWN}: users[0].roles: invalid value "member": expected a list of strings.'),
        ("[1]", f"{SHOWN}: users[0].roles[0]: invalid value 1: expected a string."),
    ],
)
def test_scenario_unknown_role(roles: str, line: str) -> None:
    assert scenario_lines(USER.format(roles=roles, token=GOOD_TOKEN)) == [line]


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            "description: x.\nusers:\n  - username: a\n    roles: [member]\n",
            [f"{SHOWN}: users[0].tokens: Missing data for required field."],
        ),
        (
            "description: x.\nusers:\n  - username: a\n    roles: [member]\n    tokens: []\n    id: nope\n",
            [f'{SHOWN}: users[0].id: invalid UUID "nope": expected 36 characters such as "7b0c6f1e-6a7e-4c57-9a59-2f3b7f0e5d11".'],
        ),
        ("description: x.\nusers: [5]\n", [f"{SHOWN}: users[0]: invalid value 5: expected a mapping."]),
        (
            "description: x.\nusers:\n  - username: a\n    roles: [member]\n    tokens:\n"
            f"      - token: {GOOD_TOKEN}\n        expires_at: 2025-01-01\n",
            [f'{SHOWN}: users[0].tokens[0].expires_at: invalid timestamp "2025-01-01": expected RFC 3339 such as "2025-04-17T12:00:00Z".'],
        ),
    ],
)
def test_scenario_user_rejections(text: str, lines: list[str]) -> None:
    assert scenario_lines(text) == lines


@pytest.mark.parametrize(("value", "written"), [("5", "5"), ("null", "null")])
def test_scenario_users_not_list(value: str, written: str) -> None:
    (line,) = scenario_lines(f"description: x.\nusers: {value}\n")
    assert line.startswith(f"{SHOWN}: users: invalid value {written}: expected a list")


@pytest.mark.parametrize(
    ("operation", "status", "key"),
    [
        ("build-info", 302, "build-info"),
        ("build-info", 600, "build-info"),
        ("all", 399, "all"),
        ("update-check", 200, "update-check"),
        ("ssh-config", 0, "ssh-config"),
        ("get-token-config", -404, "get-token-config"),
    ],
)
def test_override_status_outside_range(operation: str, status: int, key: str) -> None:
    text = f"description: x.\noverrides:\n  {operation}:\n    status: {status}\n"
    assert scenario_lines(text) == [f"{SHOWN}: overrides.{key}.status: invalid status {status}: {STATUS_HELP}"]


@pytest.mark.parametrize("status", [400, 404, 429, 500, 599])
def test_override_status_inside_range(status: int) -> None:
    loaded = load_scenario(f"description: x.\noverrides:\n  all: {{status: {status}}}\n")
    assert loaded["overrides"] == {"all": {"status": status}}


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            "description: x.\noverrides:\n  build-info: {message: hi}\n",
            [f"{SHOWN}: overrides.build-info.status: missing: add this key with an integer."],
        ),
        (
            "description: x.\noverrides:\n  build-info: {status: 404.0}\n",
            [f"{SHOWN}: overrides.build-info.status: invalid value 404.0: expected an integer; write 404 without the fraction."],
        ),
        (
            "description: x.\noverrides:\n  build_info: {status: 404}\n",
            [f'{SHOWN}: overrides.build_info: unknown key "build_info": did you mean "build-info"? Rename it.'],
        ),
    ],
)
def test_override_other_rejections(text: str, lines: list[str]) -> None:
    assert scenario_lines(text) == lines


@pytest.mark.parametrize(
    "reference",
    [
        "../etc/passwd",
        "buildinfo/../release.yaml",
        "buildinfo/..",
        "/etc/passwd",
        "buildinfo//release.yaml",
        "./buildinfo/release.yaml",
        "buildinfo/",
        "",
    ],
)
def test_fixture_path_rejections(reference: str) -> None:
    text = f'description: x.\nfixtures:\n  buildinfo: "{reference}"\n'
    assert scenario_lines(text) == [f'{SHOWN}: fixtures.buildinfo: invalid fixture path "{reference}": {FIXTURE_PATH_HELP}']


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            "description: x.\nfixtures:\n  buildinfo: 5\n",
            [f"{SHOWN}: fixtures.buildinfo: invalid value 5: expected a fixture path. Quote the value."],
        ),
        (
            "description: x.\nfixtures:\n  deployment_config: a.yaml\n",
            [f'{SHOWN}: fixtures.deployment_config: unknown key "deployment_config": did you mean "deployment-config"? Rename it.'],
        ),
        ("description: x.\nfixtures: null\n", [f"{SHOWN}: fixtures: invalid value null: expected a mapping."]),
    ],
)
def test_fixtures_section_rejections(text: str, lines: list[str]) -> None:
    assert scenario_lines(text) == lines


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            "description: x.\ndeployment:\n  latest_release: {version: 2.24}\n",
            [
                f"{SHOWN}: deployment.latest_release.version: invalid value 2.24: expected a SemVer version with a"
                ' leading v. YAML reads unquoted 2.24 as a number; quote it and write the whole version, such as "v2.24.0".'
            ],
        ),
        (
            'description: x.\ndeployment:\n  latest_release: {url: "https://example.com"}\n',
            [f"{SHOWN}: deployment.latest_release.version: missing: add this key with a SemVer version with a leading v."],
        ),
        (
            "description: x.\ndeployment:\n  experiments: [1]\n",
            [f"{SHOWN}: deployment.experiments[0]: invalid value 1: expected a string."],
        ),
        (
            "description: x.\ndeployment:\n  update_check: 'no'\n",
            [f'{SHOWN}: deployment.update_check: invalid value "no": expected true or false.'],
        ),
    ],
)
def test_deployment_section_rejections(text: str, lines: list[str]) -> None:
    assert scenario_lines(text) == lines


def test_duplicate_yaml_key_rejected() -> None:
    assert read_lines("dup.yaml", "seed: 1\ndescription: x.\nseed: 2\n") == [
        "dup.yaml: line 3: duplicate key 'seed'; keep one of them."
    ]


@pytest.mark.parametrize(
    ("username", "line"),
    [
        ("me", f'{SHOWN}: users[0].username: invalid username "me": {{user}} "me" always means the caller;'
               " pick another name."),
        ("bad user!", f'{SHOWN}: users[0].username: invalid username "bad user!": Coder usernames are up to 32'
                      ' letters and digits, with single dashes between them, such as "alice-dev".'),
    ],
)
def test_username_rules(username: str, line: str) -> None:
    text = (
        f'description: x.\nusers:\n  - username: "{username}"\n    roles: [member]\n'
        "    tokens: [{token: abcde12345-abcdefghijklmnopqrstuv}]\n"
    )
    assert scenario_lines(text) == [line]
