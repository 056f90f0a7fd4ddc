"""Field types of coder_mock.schemas.fields, exercised through fixture files.

Each rejection is checked as the full `FILE: KEY.PATH: message` line that
documents.load_with produces, because a fixture author reads that line.
Tests run inside tmp_path, so the file shows as `fixture.yaml`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from coder_mock.catalog import BUILTIN_ROOT, FIXTURE_SCHEMAS
from coder_mock.documents import FileProblem, load_with, read_document
from coder_mock.schemas.fields import GoTime, Timestamp, written
from coder_mock.yamlsource import SourceBool, SourceFloat, plain

SHOWN = "fixture.yaml"
SEMVER_HELP = 'expected SemVer with a leading v, such as "v2.21.0+abc1234", "v2.20.0-rc.1" or "v0.0.0-devel+abc1234".'
UUID_HELP = 'expected 36 characters such as "7b0c6f1e-6a7e-4c57-9a59-2f3b7f0e5d11".'
URL_HELP = 'expected an absolute URL such as "https://coder.example.com", or "" for none.'
NO_ZONE = 'it has no time zone. Add Z for UTC, as in "2024-01-02T03:04:05Z", or an offset such as +02:00.'
RFC3339_HELP = 'expected RFC 3339 such as "2025-04-17T12:00:00Z".'
BUILDINFO_KEYS = (
    "external_url, version, dashboard_url, telemetry, workspace_proxy, agent_api_version,"
    " provisioner_api_version, upgrade_message, deployment_id, webpush_public_key"
)


@pytest.fixture(autouse=True)
def inside_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def load_fixture(kind: str, text: str, name: str = SHOWN) -> Any:
    path = Path(name)
    path.write_text(text, encoding="utf-8")
    return load_with(FIXTURE_SCHEMAS[kind](), read_document(path), path)


def rejection_lines(kind: str, text: str) -> list[str]:
    with pytest.raises(FileProblem) as raised:
        load_fixture(kind, text)
    return raised.value.lines


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            "version: 2.10\n",
            [
                f"{SHOWN}: version: invalid value 2.10: expected a SemVer version with a leading v."
                ' YAML reads unquoted 2.10 as a number; quote it and write the whole version, such as "v2.10.0".'
            ],
        ),
        ('version: "2.21.3"\n', [f'{SHOWN}: version: invalid version "2.21.3": {SEMVER_HELP}']),
        ('version: "v2.21"\n', [f'{SHOWN}: version: invalid version "v2.21": {SEMVER_HELP}']),
        ('version: "v2.21.3+"\n', [f'{SHOWN}: version: invalid version "v2.21.3+": {SEMVER_HELP}']),
        ('version: "v2.21.3-01"\n', [f'{SHOWN}: version: invalid version "v2.21.3-01": {SEMVER_HELP}']),
        ('version: "v02.21.3"\n', [f'{SHOWN}: version: invalid version "v02.21.3": {SEMVER_HELP}']),
        (
            "version: null\n",
            [f"{SHOWN}: version: invalid value null: expected a SemVer version with a leading v; leave the key out instead."],
        ),
    ],
)
def test_semver_field_rejections(text: str, lines: list[str]) -> None:
    assert rejection_lines("buildinfo", text) == lines


@pytest.mark.parametrize(
    "version", ["v2.21.0+abc1234", "v2.20.0-rc.1", "v0.0.0-devel+abc1234", "v10.0.0", "v1.0.0-rc.1+build.7"]
)
def test_semver_field_accepts(version: str) -> None:
    assert load_fixture("buildinfo", f'version: "{version}"\n') == {"version": version}


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ('deployment_id: "not-a-uuid"\n', [f'{SHOWN}: deployment_id: invalid UUID "not-a-uuid": {UUID_HELP}']),
        (
            'deployment_id: "0b6a3f2e5c1d4d7e9a8b1f2e3d4c5b6a"\n',
            [f'{SHOWN}: deployment_id: invalid UUID "0b6a3f2e5c1d4d7e9a8b1f2e3d4c5b6a": write it in the 8-4-4-4-12 hyphenated form.'],
        ),
        (
            'deployment_id: "{0b6a3f2e-5c1d-4d7e-9a8b-1f2e3d4c5b6a}"\n',
            [
                f'{SHOWN}: deployment_id: invalid UUID "{{0b6a3f2e-5c1d-4d7e-9a8b-1f2e3d4c5b6a}}":'
                " write it in the 8-4-4-4-12 hyphenated form."
            ],
        ),
        ("deployment_id: 42\n", [f"{SHOWN}: deployment_id: invalid value 42: expected a UUID. Quote the value."]),
    ],
)
def test_uuid_field_rejections(text: str, lines: list[str]) -> None:
    assert rejection_lines("buildinfo", text) == lines


def test_uuid_field_lowercases() -> None:
    loaded = load_fixture("buildinfo", 'deployment_id: "0B6A3F2E-5C1D-4D7E-9A8B-1F2E3D4C5B6A"\n')
    assert loaded == {"deployment_id": "0b6a3f2e-5c1d-4d7e-9a8b-1f2e3d4c5b6a"}


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("telemetry: 1\n", [f"{SHOWN}: telemetry: invalid value 1: expected true or false."]),
        ('telemetry: "true"\n', [f'{SHOWN}: telemetry: invalid value "true": expected true or false.']),
        ("telemetry: 1.0\n", [f"{SHOWN}: telemetry: invalid value 1.0: expected true or false."]),
    ],
)
def test_bool_field_rejections(text: str, lines: list[str]) -> None:
    assert rejection_lines("buildinfo", text) == lines


@pytest.mark.parametrize(
    ("text", "value"),
    [("telemetry: true\n", True), ("telemetry: false\n", False), ("telemetry: yes\n", True), ("telemetry: Off\n", False)],
)
def test_bool_field_accepts_yaml_booleans(text: str, value: bool) -> None:
    loaded = load_fixture("buildinfo", text)
    assert loaded == {"telemetry": value}
    assert type(loaded["telemetry"]) is bool


@pytest.mark.parametrize(
    ("kind", "text", "lines"),
    [
        (
            "deployment-ssh",
            "hostname_prefix: no\n",
            [
                f"{SHOWN}: hostname_prefix: invalid value no: expected a string."
                ' YAML reads unquoted no as the boolean false; quote it: "no".'
            ],
        ),
        (
            "deployment-ssh",
            "hostname_suffix: On\n",
            [
                f"{SHOWN}: hostname_suffix: invalid value On: expected a string."
                ' YAML reads unquoted On as the boolean true; quote it: "On".'
            ],
        ),
        (
            "buildinfo",
            "agent_api_version: 1.0\n",
            [
                f"{SHOWN}: agent_api_version: invalid value 1.0: expected a string."
                ' YAML reads unquoted 1.0 as a number; quote it: "1.0".'
            ],
        ),
        ("buildinfo", "upgrade_message: 5\n", [f"{SHOWN}: upgrade_message: invalid value 5: expected a string. Quote the value."]),
        (
            "buildinfo",
            "upgrade_message: [a]\n",
            [f"{SHOWN}: upgrade_message: invalid value [\"a\"]: expected a string. Quote the value."],
        ),
        (
            "buildinfo",
            'external_url: "github.com/coder/coder"\n',
            [f'{SHOWN}: external_url: invalid URL "github.com/coder/coder": {URL_HELP}'],
        ),
        (
            "buildinfo",
            'dashboard_url: "https://coder example.com"\n',
            [f'{SHOWN}: dashboard_url: invalid URL "https://coder example.com": {URL_HELP}'],
        ),
    ],
)
def test_string_field_rejections(kind: str, text: str, lines: list[str]) -> None:
    assert rejection_lines(kind, text) == lines


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("workspaces: {pending: 1.5}\n", [f"{SHOWN}: workspaces.pending: invalid value 1.5: expected an integer."]),
        (
            "workspaces: {pending: 2.0}\n",
            [f"{SHOWN}: workspaces.pending: invalid value 2.0: expected an integer; write 2 without the fraction."],
        ),
        ("workspaces: {pending: true}\n", [f"{SHOWN}: workspaces.pending: invalid value true: expected an integer."]),
        ("workspaces: {pending: no}\n", [f"{SHOWN}: workspaces.pending: invalid value no: expected an integer."]),
        ('workspaces: {pending: "3"}\n', [f'{SHOWN}: workspaces.pending: invalid value "3": expected an integer.']),
        (
            "workspaces: {rx_bytes: 9223372036854775808}\n",
            [f"{SHOWN}: workspaces.rx_bytes: invalid value 9223372036854775808: outside the range of a 64-bit integer."],
        ),
        (
            "workspaces: {tx_bytes: -9223372036854775809}\n",
            [f"{SHOWN}: workspaces.tx_bytes: invalid value -9223372036854775809: outside the range of a 64-bit integer."],
        ),
        ("session_count: {ssh: 1.5}\n", [f"{SHOWN}: session_count.ssh: invalid value 1.5: expected an integer."]),
        ("workspaces: {running: -5}\n", [f"{SHOWN}: workspaces.running: invalid value -5: expected 0 or more."]),
    ],
)
def test_int_field_rejections(text: str, lines: list[str]) -> None:
    assert rejection_lines("deployment-stats", text) == lines


@pytest.mark.parametrize("number", [9223372036854775807, 0])
def test_int_field_range_edges(number: int) -> None:
    loaded = load_fixture("deployment-stats", f"workspaces: {{rx_bytes: {number}}}\n")
    assert loaded == {"workspaces": {"rx_bytes": number}}


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            'workspaces: {connection_latency_ms: {P50: "fast"}}\n',
            [f'{SHOWN}: workspaces.connection_latency_ms.P50: invalid value "fast": expected a number.'],
        ),
        (
            "workspaces: {connection_latency_ms: {P95: true}}\n",
            [f"{SHOWN}: workspaces.connection_latency_ms.P95: invalid value true: expected a number."],
        ),
    ],
)
def test_number_field_rejections(text: str, lines: list[str]) -> None:
    assert rejection_lines("deployment-stats", text) == lines


@pytest.mark.parametrize(("written_value", "value"), [("1", 1.0), ("12.5", 12.5), ("0", 0.0)])
def test_number_field_gives_float(written_value: str, value: float) -> None:
    loaded = load_fixture("deployment-stats", f"workspaces: {{connection_latency_ms: {{P50: {written_value}}}}}\n")
    latency = loaded["workspaces"]["connection_latency_ms"]["P50"]
    assert latency == value
    assert type(latency) is float


@pytest.mark.parametrize(
    ("written_value", "source"),
    [(".nan", ".nan"), (".inf", ".inf"), ("-.inf", "-.inf")],
)
def test_number_field_rejects_nonfinite(written_value: str, source: str) -> None:
    # Go's encoder cannot write NaN or infinities, so coderd never sends them.
    lines = rejection_lines("deployment-stats", f"workspaces: {{connection_latency_ms: {{P50: {written_value}}}}}\n")
    assert len(lines) == 1
    assert lines[0].startswith(f"{SHOWN}: workspaces.connection_latency_ms.P50: invalid value {source}: ")


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            "config:\n  session_lifetime:\n    max_token_lifetime: 2592000.0\n",
            [
                f"{SHOWN}: config.session_lifetime.max_token_lifetime: invalid value 2592000.0: a duration is an"
                " integer number of nanoseconds, not a fraction. If you meant 2592000 seconds, write 2592000000000000."
            ],
        ),
        (
            "config:\n  session_lifetime:\n    default_duration: 1.5\n",
            [
                f"{SHOWN}: config.session_lifetime.default_duration: invalid value 1.5: a duration is an"
                " integer number of nanoseconds, not a fraction. If you meant 1.5 seconds, write 1500000000."
            ],
        ),
        (
            'config:\n  session_lifetime:\n    max_token_lifetime: "720h"\n',
            [
                f'{SHOWN}: config.session_lifetime.max_token_lifetime: invalid value "720h": a duration is an'
                " integer number of nanoseconds (30s is 30000000000), not a string."
            ],
        ),
        (
            "config:\n  session_lifetime:\n    max_token_lifetime: true\n",
            [f"{SHOWN}: config.session_lifetime.max_token_lifetime: invalid value true: expected an integer."],
        ),
        (
            "config:\n  session_lifetime:\n    max_token_lifetime: 9223372036854775808\n",
            [
                f"{SHOWN}: config.session_lifetime.max_token_lifetime: invalid value 9223372036854775808:"
                " outside the range of a 64-bit integer."
            ],
        ),
    ],
)
def test_duration_field_rejections(text: str, lines: list[str]) -> None:
    assert rejection_lines("deployment-config", text) == lines


def test_duration_unlimited_stays_exact() -> None:
    loaded = load_fixture("deployment-config", "config:\n  session_lifetime:\n    max_token_lifetime: 9223372036854775807\n")
    lifetime = loaded["config"]["session_lifetime"]["max_token_lifetime"]
    assert lifetime == 9223372036854775807
    assert type(lifetime) is int


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            "config:\n  experiments: [a, 1, no]\n",
            [
                f"{SHOWN}: config.experiments[1]: invalid value 1: expected a string.",
                f"{SHOWN}: config.experiments[2]: invalid value no: expected a string."
                ' YAML reads unquoted no as the boolean false; quote it: "no".',
            ],
        ),
        (
            "config:\n  experiments: web-push\n",
            [f'{SHOWN}: config.experiments: invalid value "web-push": expected a list of strings.'],
        ),
        (
            "config:\n  experiments: null\n",
            [f"{SHOWN}: config.experiments: invalid value null: expected a list of strings; leave the key out instead."],
        ),
        (
            "config:\n  support:\n    links: [{name: a}, 5, {icon: 3}]\n",
            [
                f"{SHOWN}: config.support.links[1]: invalid value 5: expected a mapping.",
                f"{SHOWN}: config.support.links[2].icon: invalid value 3: expected a string. Quote the value.",
            ],
        ),
        (
            "config:\n  external_auth: [{id: 1}]\n",
            [f"{SHOWN}: config.external_auth[0].id: invalid value 1: expected a string. Quote the value."],
        ),
        (
            "config:\n  tls:\n    cert_file: [a.pem, 2.5]\n",
            [
                f"{SHOWN}: config.tls.cert_file[1]: invalid value 2.5: expected a string."
                ' YAML reads unquoted 2.5 as a number; quote it: "2.5".'
            ],
        ),
    ],
)
def test_list_field_rejections(text: str, lines: list[str]) -> None:
    assert rejection_lines("deployment-config", text) == lines


@pytest.mark.parametrize(("text", "value"), [("5", "5"), ("null", "null")])
def test_struct_list_names_value(text: str, value: str) -> None:
    lines = rejection_lines("deployment-config", f"config:\n  external_auth: {text}\n")
    assert len(lines) == 1
    assert lines[0].startswith(f"{SHOWN}: config.external_auth: invalid value {value}: expected a list")


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            "ssh_config_options: {a: 1, b: on}\n",
            [
                f"{SHOWN}: ssh_config_options.a: invalid value 1: expected a string.",
                f"{SHOWN}: ssh_config_options.b: invalid value on: expected a string."
                ' YAML reads unquoted on as the boolean true; quote it: "on".',
            ],
        ),
        (
            "ssh_config_options: {yes: a}\n",
            [
                f"{SHOWN}: ssh_config_options.yes: invalid key yes: expected a string."
                ' YAML reads unquoted yes as the boolean true; quote it: "yes".'
            ],
        ),
        (
            "ssh_config_options: [a]\n",
            [f"{SHOWN}: ssh_config_options: invalid value [\"a\"]: expected a mapping of strings to strings."],
        ),
    ],
)
def test_string_map_rejections(text: str, lines: list[str]) -> None:
    assert rejection_lines("deployment-ssh", text) == lines


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ('config:\n  pg_auth: "kerberos"\n', [f'{SHOWN}: config.pg_auth: invalid value "kerberos": expected one of "password", "awsiamrds".']),
        (
            "config:\n  http_cookies: {same_site: Lax}\n",
            [f'{SHOWN}: config.http_cookies.same_site: invalid value "Lax": expected one of "lax", "none".'],
        ),
        (
            "config:\n  oidc: {auth_url_params: [1]}\n",
            [f"{SHOWN}: config.oidc.auth_url_params: invalid value [1]: expected a mapping with string keys."],
        ),
        (
            'config:\n  access_url: "coder.example.com"\n',
            [f'{SHOWN}: config.access_url: invalid URL "coder.example.com": {URL_HELP}'],
        ),
        (
            "config:\n  derp: {server: {region_id: 1.0}}\n",
            [f"{SHOWN}: config.derp.server.region_id: invalid value 1.0: expected an integer; write 1 without the fraction."],
        ),
        (
            "config:\n  notifications: {email: {from: 5}}\n",
            [f"{SHOWN}: config.notifications.email.from: invalid value 5: expected a string. Quote the value."],
        ),
    ],
)
def test_config_field_rejections(text: str, lines: list[str]) -> None:
    assert rejection_lines("deployment-config", text) == lines


@pytest.mark.parametrize(
    ("kind", "text", "lines"),
    [
        ("buildinfo", 'versoin: "v2.21.3"\n', [f'{SHOWN}: versoin: unknown key "versoin": did you mean "version"? Rename it.']),
        ("buildinfo", 'Version: "v2.21.3"\n', [f'{SHOWN}: Version: unknown key "Version": did you mean "version"? Rename it.']),
        ("buildinfo", "foo: 1\n", [f'{SHOWN}: foo: unknown key "foo": remove it; the keys allowed here are {BUILDINFO_KEYS}.']),
        (
            "deployment-stats",
            "workspaces: {connection_latency_ms: {p50: 1}}\n",
            [f'{SHOWN}: workspaces.connection_latency_ms.p50: unknown key "p50": did you mean "P50"? Rename it.'],
        ),
        (
            "deployment-config",
            "config:\n  config_ssh: {deploymentName: x}\n",
            [f'{SHOWN}: config.config_ssh.deploymentName: unknown key "deploymentName": did you mean "DeploymentName"? Rename it.'],
        ),
        (
            "deployment-config",
            "config:\n  sesion_lifetime: {}\n",
            [f'{SHOWN}: config.sesion_lifetime: unknown key "sesion_lifetime": did you mean "session_lifetime"? Rename it.'],
        ),
        (
            "deployment-config",
            "options: []\n",
            [f'{SHOWN}: options: unknown key "options": remove it; the keys allowed here are config.'],
        ),
        (
            "deployment-ssh",
            "on: 1\n",
            [
                f'{SHOWN}: on: unknown key "on": remove it; the keys allowed here are'
                " hostname_prefix, hostname_suffix, ssh_config_options."
            ],
        ),
    ],
)
def test_unknown_key_rejections(kind: str, text: str, lines: list[str]) -> None:
    assert rejection_lines(kind, text) == lines


@pytest.mark.parametrize(
    ("kind", "text", "lines"),
    [
        ("deployment-stats", "workspaces: 5\n", [f"{SHOWN}: workspaces: invalid value 5: expected a mapping."]),
        ("deployment-stats", "workspaces: [1]\n", [f"{SHOWN}: workspaces: invalid value [1]: expected a mapping."]),
        ("deployment-stats", "workspaces: null\n", [f"{SHOWN}: workspaces: invalid value null: expected a mapping."]),
        ("deployment-config", "config: 5\n", [f"{SHOWN}: config: invalid value 5: expected a mapping."]),
        ("buildinfo", "- 1\n", [f"{SHOWN}: (top level): invalid value [1]: expected a mapping."]),
        ("buildinfo", "just text\n", [f'{SHOWN}: (top level): invalid value "just text": expected a mapping.']),
    ],
)
def test_mapping_field_rejections(kind: str, text: str, lines: list[str]) -> None:
    assert rejection_lines(kind, text) == lines


def test_every_problem_reported_once() -> None:
    text = 'agent_api_version: 1.0\nupgrade_message: 5\ntelemetry: "true"\nversoin: x\n'
    assert rejection_lines("buildinfo", text) == [
        f'{SHOWN}: telemetry: invalid value "true": expected true or false.',
        f"{SHOWN}: agent_api_version: invalid value 1.0: expected a string."
        ' YAML reads unquoted 1.0 as a number; quote it: "1.0".',
        f"{SHOWN}: upgrade_message: invalid value 5: expected a string. Quote the value.",
        f'{SHOWN}: versoin: unknown key "versoin": did you mean "version"? Rename it.',
    ]


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            "collected_at: 2024-01-02T03:04:05\n",
            [f'{SHOWN}: collected_at: invalid timestamp "2024-01-02T03:04:05": {NO_ZONE}'],
        ),
        (
            'collected_at: "2024-01-02T03:04:05"\n',
            [f'{SHOWN}: collected_at: invalid timestamp "2024-01-02T03:04:05": {NO_ZONE}'],
        ),
        (
            'collected_at: "2024-02-30T03:04:05Z"\n',
            [f'{SHOWN}: collected_at: invalid timestamp "2024-02-30T03:04:05Z": day is out of range for month; check the date and time.'],
        ),
        ('collected_at: "yesterday"\n', [f'{SHOWN}: collected_at: invalid timestamp "yesterday": {RFC3339_HELP}']),
        ("collected_at: 2024-01-02\n", [f'{SHOWN}: collected_at: invalid timestamp "2024-01-02": {RFC3339_HELP}']),
        (
            "collected_at: 2024-01-02 03:04:05Z\n",
            [f'{SHOWN}: collected_at: invalid timestamp "2024-01-02 03:04:05Z": {RFC3339_HELP}'],
        ),
        ("collected_at: 5\n", [f"{SHOWN}: collected_at: invalid value 5: expected an RFC 3339 timestamp string."]),
    ],
)
def test_timestamp_field_rejections(text: str, lines: list[str]) -> None:
    assert rejection_lines("deployment-stats", text) == lines


@pytest.mark.parametrize(
    ("text", "rfc3339"),
    [
        ("collected_at: 2024-01-02T03:04:05Z\n", "2024-01-02T03:04:05Z"),
        ('collected_at: "2024-01-02T05:04:05.250+02:00"\n', "2024-01-02T03:04:05.25Z"),
    ],
)
def test_timestamp_field_accepts(text: str, rfc3339: str) -> None:
    loaded = load_fixture("deployment-stats", text)
    assert isinstance(loaded["collected_at"], GoTime)
    assert loaded["collected_at"].rfc3339() == rfc3339


@pytest.mark.parametrize(
    ("text", "rfc3339", "go_string"),
    [
        ("2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z", "2025-01-01 00:00:00 +0000 UTC"),
        ("2025-01-01T00:00:00.000000000Z", "2025-01-01T00:00:00Z", "2025-01-01 00:00:00 +0000 UTC"),
        ("2025-01-01T00:00:00.100Z", "2025-01-01T00:00:00.1Z", "2025-01-01 00:00:00.1 +0000 UTC"),
        ("2025-01-01T00:00:00.120000Z", "2025-01-01T00:00:00.12Z", "2025-01-01 00:00:00.12 +0000 UTC"),
        ("2025-01-01T00:00:00.123456789Z", "2025-01-01T00:00:00.123456789Z", "2025-01-01 00:00:00.123456789 +0000 UTC"),
        ("2025-01-01T00:00:00.000000001Z", "2025-01-01T00:00:00.000000001Z", "2025-01-01 00:00:00.000000001 +0000 UTC"),
        ("2025-01-01T02:30:00+02:30", "2025-01-01T00:00:00Z", "2025-01-01 00:00:00 +0000 UTC"),
        ("2024-12-31T23:00:00-01:00", "2025-01-01T00:00:00Z", "2025-01-01 00:00:00 +0000 UTC"),
        ("2025-01-01T00:00:00.5+01:00", "2024-12-31T23:00:00.5Z", "2024-12-31 23:00:00.5 +0000 UTC"),
        ("2025-01-01T00:00:00+23:59", "2024-12-31T00:01:00Z", "2024-12-31 00:01:00 +0000 UTC"),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", "9999-12-31 23:59:59 +0000 UTC"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01 00:00:00 +0000 UTC"),
        ("0999-06-01T00:00:00Z", "0999-06-01T00:00:00Z", "0999-06-01 00:00:00 +0000 UTC"),
    ],
)
def test_gotime_formats_like_go(text: str, rfc3339: str, go_string: str) -> None:
    moment = GoTime.parse(text)
    assert moment.rfc3339() == rfc3339
    assert moment.go_string() == go_string


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-01-01T00:00:00", f'invalid timestamp "2025-01-01T00:00:00": it has no time zone. Add Z for UTC, as in "2025-01-01T00:00:00Z", or an offset such as +02:00.'),
        # Go's time.Parse with the RFC 3339 layout takes only upper-case T and Z.
        ("2025-01-01t00:00:00z", f'invalid timestamp "2025-01-01t00:00:00z": {RFC3339_HELP}'),
        ("2025-01-01T00:00:00+0100", f'invalid timestamp "2025-01-01T00:00:00+0100": {RFC3339_HELP}'),
        ("2025-01-01T00:00:00 Z", f'invalid timestamp "2025-01-01T00:00:00 Z": {RFC3339_HELP}'),
        ("2025-13-01T00:00:00Z", 'invalid timestamp "2025-13-01T00:00:00Z": month must be in 1..12; check the date and time.'),
        ("2025-01-01T24:00:00Z", 'invalid timestamp "2025-01-01T24:00:00Z": hour must be in 0..23; check the date and time.'),
        ("2025-01-01T00:00:60Z", 'invalid timestamp "2025-01-01T00:00:60Z": second must be in 0..59; check the date and time.'),
        ("", f'invalid timestamp "": {RFC3339_HELP}'),
    ],
)
def test_gotime_parse_rejections(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        GoTime.parse(text)
    assert raised.value.messages == [message]


@pytest.mark.parametrize("text", ["2025-01-01T00:00:00+05:99", "2025-01-01T00:00:00-05:61"])
def test_gotime_rejects_offset_minutes(text: str) -> None:
    # RFC 3339 offset minutes stop at 59, and Go's time.Parse rejects more than 60.
    with pytest.raises(ValidationError) as raised:
        GoTime.parse(text)
    (message,) = raised.value.messages
    assert message.startswith(f'invalid timestamp "{text}": ')


def test_gotime_offset_hour_message() -> None:
    # RFC 3339 offset hours stop at 23. The message must not show Python's timedelta text.
    text = "2025-01-01T00:00:00+24:00"
    with pytest.raises(ValidationError) as raised:
        GoTime.parse(text)
    (message,) = raised.value.messages
    assert message.startswith(f'invalid timestamp "{text}": ')
    assert "timedelta" not in message
    assert not message.endswith("..")


def test_gotime_before_year_one_rejected() -> None:
    # 0001-01-01T00:30:00+01:00 is 0000-12-31T23:30:00Z, outside Python's datetime range.
    text = "0001-01-01T00:30:00+01:00"
    with pytest.raises(ValidationError) as raised:
        GoTime.parse(text)
    (message,) = raised.value.messages
    assert message.startswith(f'invalid timestamp "{text}": ')


@pytest.mark.parametrize(
    ("text", "nanoseconds", "expected"),
    [
        ("2025-01-01T00:00:00.999999999Z", 1, "2025-01-01T00:00:01Z"),
        ("2025-01-01T00:00:00Z", -1, "2024-12-31T23:59:59.999999999Z"),
        ("2025-01-01T00:00:00Z", 900_000_000_000, "2025-01-01T00:15:00Z"),
        ("2025-01-01T00:00:00.5Z", -1_500_000_000, "2024-12-31T23:59:59Z"),
    ],
)
def test_gotime_shifted_nanoseconds(text: str, nanoseconds: int, expected: str) -> None:
    assert GoTime.parse(text).shifted(nanoseconds).rfc3339() == expected


def test_gotime_equal_across_offsets() -> None:
    utc = GoTime.parse("2025-01-01T00:00:00Z")
    offset = GoTime.parse("2025-01-01T01:00:00+01:00")
    assert utc == offset
    assert hash(utc) == hash(offset)


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("2025-01-01T00:00:00Z", "2025-01-01T00:00:00.000000001Z"),
        ("2025-01-01T00:59:59+01:00", "2025-01-01T00:00:00Z"),
    ],
)
def test_gotime_orders_instants(earlier: str, later: str) -> None:
    assert GoTime.parse(earlier) < GoTime.parse(later)
    assert GoTime.parse(earlier) <= GoTime.parse(later)
    assert not GoTime.parse(later) < GoTime.parse(earlier)


def test_gotime_repr_shows_rfc3339() -> None:
    assert repr(GoTime.parse("2025-01-01T00:00:00.25Z")) == "GoTime('2025-01-01T00:00:00.25Z')"


@pytest.mark.parametrize(
    ("value", "serialized"),
    [(GoTime.parse("2025-04-17T12:00:00.123Z"), "2025-04-17T12:00:00.123Z"), (None, None)],
)
def test_timestamp_serializes_rfc3339(value: GoTime | None, serialized: str | None) -> None:
    assert Timestamp()._serialize(value, "collected_at", None) == serialized


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (SourceFloat(2.1, "2.10"), "2.10"),
        (SourceBool(False, "no"), "no"),
        ("a", '"a"'),
        ('say "hi"', '"say \\"hi\\""'),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (5, "5"),
        (2.5, "2.5"),
        ({"a": 1}, '{"a": 1}'),
        ([1], "[1]"),
    ],
)
def test_written_shows_source_text(value: Any, text: str) -> None:
    assert written(value) == text


def builtin_fixture_files() -> list[tuple[str, Path]]:
    root = BUILTIN_ROOT / "fixtures"
    return [(kind, path) for kind in sorted(FIXTURE_SCHEMAS) for path in sorted((root / kind).glob("*.yaml"))]


def test_builtin_fixture_kinds_present() -> None:
    kinds = {kind for kind, _ in builtin_fixture_files()}
    assert kinds == {"buildinfo", "deployment-config", "deployment-ssh", "deployment-stats"}


@pytest.mark.parametrize(
    ("kind", "path"), builtin_fixture_files(), ids=[f"{kind}/{path.name}" for kind, path in builtin_fixture_files()]
)
def test_builtin_fixtures_validate(kind: str, path: Path) -> None:
    document = read_document(path)
    loaded = load_with(FIXTURE_SCHEMAS[kind](), document, path)
    assert set(loaded) == set(plain(document))


def test_negative_duration_rejected() -> None:
    assert rejection_lines("deployment-config", "config:\n  session_lifetime: {max_token_lifetime: -1}\n") == [
        f"{SHOWN}: config.session_lifetime.max_token_lifetime: invalid value -1: no Coder setting takes a"
        " negative duration; give 0 or more."
    ]


def test_long_fraction_truncated_to_nanoseconds() -> None:
    moment = GoTime.parse("2024-01-02T00:00:00.123456789123Z")
    assert moment.rfc3339() == "2024-01-02T00:00:00.123456789Z"
