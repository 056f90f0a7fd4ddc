"""Building a scenario's world: determinism across processes and seeds, and facts that must agree."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from coder_mock.catalog import Catalog, load_catalog
from coder_mock.rendering import Rendered

from conftest import BUILTIN_SCENARIOS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUILTIN_DEFAULT_CONFIG = PROJECT_ROOT / "fixtures" / "deployment-config" / "default.yaml"
RELEASE_BUILDINFO = PROJECT_ROOT / "fixtures" / "buildinfo" / "release.yaml"
SUBPROCESS_TIMEOUT_SECONDS = 120

DIGEST_SCRIPT = textwrap.dedent(
    """
    import hashlib
    from coder_mock.catalog import load_catalog

    catalog = load_catalog()
    for name in catalog.names():
        for seed in (None, 12345):
            rendered = catalog.rendered(name, seed)
            groups = (("replies", rendered.replies), ("token_configs", rendered.token_configs),
                      ("overrides", rendered.overrides))
            for group, replies in groups:
                for key in sorted(replies):
                    reply = replies[key]
                    digest = hashlib.sha256(reply.body).hexdigest()
                    print(name, rendered.world.seed, group, key, reply.status, digest)
    """
)


def reply_digests(catalog: Catalog) -> list[str]:
    """Return the same lines as DIGEST_SCRIPT, computed in this process."""
    lines = []
    for name in catalog.names():
        for seed in (None, 12345):
            rendered = catalog.rendered(name, seed)
            groups = (("replies", rendered.replies), ("token_configs", rendered.token_configs),
                      ("overrides", rendered.overrides))
            for group, replies in groups:
                for key in sorted(replies):
                    reply = replies[key]
                    digest = hashlib.sha256(reply.body).hexdigest()
                    lines.append(f"{name} {rendered.world.seed} {group} {key} {reply.status} {digest}")
    return lines


def run_digest_process(cwd: Path, hash_seed: str) -> list[str]:
    environment = dict(os.environ, PYTHONHASHSEED=hash_seed)
    completed = subprocess.run(
        [sys.executable, "-c", DIGEST_SCRIPT],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.splitlines()


def write_yaml(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def body(rendered: Rendered, operation: str) -> Any:
    return json.loads(rendered.replies[operation].body)


def load_user_catalog(tmp_path: Path) -> Catalog:
    return load_catalog([tmp_path / "sc"], [tmp_path / "fx"])


# --- Determinism across processes ---------------------------------------------------


def test_digests_match_across_processes(tmp_path: Path, catalog: Catalog) -> None:
    first = run_digest_process(tmp_path, "1")
    second = run_digest_process(tmp_path, "2")

    assert first == second
    assert first == reply_digests(catalog)


def test_digests_cover_every_scenario(tmp_path: Path) -> None:
    lines = run_digest_process(tmp_path, "0")

    covered = sorted({(line.split()[0], line.split()[1]) for line in lines})
    assert covered == sorted((name, seed) for name in BUILTIN_SCENARIOS for seed in ("1", "12345"))
    replies = [line for line in lines if line.split()[2] == "replies"]
    assert len(replies) == len(BUILTIN_SCENARIOS) * 2 * 10


# --- Adding a field leaves every other value unchanged --------------------------------


def extend_default(tmp_path: Path, fixtures: dict[str, str]) -> None:
    write_yaml(tmp_path / "sc" / "plus.yaml", {
        "extends": "default",
        "description": "The default scenario with one more fixture field.",
        "fixtures": fixtures,
    })


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deployment_id", "1d5b2c83-2d0e-4c52-9a5f-3f0d2e4b6a7c"),
        ("upgrade_message", "Upgrade before Friday."),
        ("workspace_proxy", True),
    ],
)
def test_buildinfo_field_changes_nothing_else(tmp_path: Path, field: str, value: Any) -> None:
    release = yaml.safe_load(RELEASE_BUILDINFO.read_text(encoding="utf-8"))
    assert field not in release or release[field] != value
    write_yaml(tmp_path / "fx" / "buildinfo" / "release-plus.yaml", dict(release, **{field: value}))
    extend_default(tmp_path, {"buildinfo": "buildinfo/release-plus.yaml"})

    catalog = load_user_catalog(tmp_path)
    assert catalog.rejected == {}
    plain = catalog.rendered("default")
    plus = catalog.rendered("plus")

    plain_buildinfo = body(plain, "build-info")
    plus_buildinfo = body(plus, "build-info")
    assert plus_buildinfo[field] == value
    assert list(plus_buildinfo) == list(plain_buildinfo)
    for key in plain_buildinfo:
        if key != field:
            assert plus_buildinfo[key] == plain_buildinfo[key], key
    for operation in ("get-deployment-stats", "get-deployment-config", "ssh-config", "update-check"):
        assert plus.replies[operation] == plain.replies[operation], operation
    assert plus.token_configs == plain.token_configs
    assert plus.version == plain.version


@pytest.mark.parametrize(
    ("stats", "given"),
    [
        ({"workspaces": {"pending": 3}}, ("workspaces", "pending")),
        ({"session_count": {"ssh": 1000}}, ("session_count", "ssh")),
        ({"workspaces": {"connection_latency_ms": {"P95": 99.5}}}, ("workspaces", "connection_latency_ms", "P95")),
    ],
)
def test_stats_field_changes_nothing_else(tmp_path: Path, stats: dict[str, Any], given: tuple[str, ...]) -> None:
    write_yaml(tmp_path / "fx" / "deployment-stats" / "one-field.yaml", stats)
    extend_default(tmp_path, {"deployment-stats": "deployment-stats/one-field.yaml"})

    catalog = load_user_catalog(tmp_path)
    assert catalog.rejected == {}
    plain = catalog.rendered("default")
    plus = catalog.rendered("plus")

    plain_stats = flatten(body(plain, "get-deployment-stats"))
    plus_stats = flatten(body(plus, "get-deployment-stats"))
    expected_value = stats
    for key in given:
        expected_value = expected_value[key]
    assert plus_stats[given] == expected_value
    assert list(plus_stats) == list(plain_stats)
    for key in plain_stats:
        if key != given:
            assert plus_stats[key] == plain_stats[key], key
    for operation in ("build-info", "get-deployment-config", "ssh-config", "update-check"):
        assert plus.replies[operation] == plain.replies[operation], operation


def flatten(document: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            flat.update(flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


# --- Seeds --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 2, 12345, -7, 2**70])
def test_other_seed_changes_values(catalog: Catalog, seed: int) -> None:
    own = catalog.rendered("default")
    other = catalog.rendered("default", seed)
    own_buildinfo = body(own, "build-info")
    other_buildinfo = body(other, "build-info")

    assert other.world.seed == seed
    assert other_buildinfo["deployment_id"] != own_buildinfo["deployment_id"]
    assert other_buildinfo["external_url"] != own_buildinfo["external_url"]
    assert other.replies["get-deployment-stats"] != own.replies["get-deployment-stats"]
    # Values that the fixtures and the scenario give do not depend on the seed.
    for key in ("version", "dashboard_url", "telemetry", "agent_api_version", "provisioner_api_version"):
        assert other_buildinfo[key] == own_buildinfo[key], key
    assert other.token_configs == own.token_configs
    assert [user.id for user in other.world.users] == [user.id for user in own.world.users]


def test_same_seed_same_replies(catalog: Catalog) -> None:
    fresh = load_catalog()

    for name in BUILTIN_SCENARIOS:
        assert fresh.rendered(name, 12345).replies == catalog.rendered(name, 12345).replies, name
        assert fresh.rendered(name).replies == catalog.rendered(name).replies, name


def test_seeds_differ_pairwise(catalog: Catalog) -> None:
    deployment_ids = {seed: body(catalog.rendered("default", seed), "build-info")["deployment_id"] for seed in range(1, 6)}

    assert len(set(deployment_ids.values())) == 5


# --- Facts that several files give must agree -------------------------------------------


@pytest.fixture
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work from tmp_path, so that files there are shown as sc/... and fx/... in messages."""
    (tmp_path / "sc").mkdir()
    (tmp_path / "fx").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_rejected_only(catalog: Catalog, name: str, lines: list[str]) -> None:
    assert catalog.rejected == {name: lines}
    assert name not in catalog.entries
    assert catalog.names() == list(BUILTIN_SCENARIOS)


def test_dashboard_url_against_builtin_config(user_dirs: Path) -> None:
    write_yaml(user_dirs / "fx" / "buildinfo" / "dash.yaml",
               {"version": "v2.22.1+f724638", "dashboard_url": "https://other.example.com"})
    write_yaml(user_dirs / "sc" / "dash.yaml",
               {"extends": "default", "description": "Mismatched URLs.", "fixtures": {"buildinfo": "buildinfo/dash.yaml"}})

    catalog = load_user_catalog(user_dirs)

    assert_rejected_only(catalog, "dash", [
        "fx/buildinfo/dash.yaml: dashboard_url: \"https://other.example.com\" disagrees with"
        f" {BUILTIN_DEFAULT_CONFIG}: config.access_url: \"https://coder.example.com\";"
        " coderd serves one value for both, so give it in one place or make them equal."
    ])


def test_dashboard_url_against_user_config(user_dirs: Path) -> None:
    write_yaml(user_dirs / "fx" / "buildinfo" / "dash.yaml", {"dashboard_url": "https://b.example.net"})
    write_yaml(user_dirs / "fx" / "deployment-config" / "site.yaml", {"config": {"access_url": "https://a.example.net"}})
    write_yaml(user_dirs / "sc" / "dash.yaml", {
        "extends": "default",
        "description": "Mismatched URLs.",
        "fixtures": {"buildinfo": "buildinfo/dash.yaml", "deployment-config": "deployment-config/site.yaml"},
    })

    catalog = load_user_catalog(user_dirs)

    assert_rejected_only(catalog, "dash", [
        "fx/buildinfo/dash.yaml: dashboard_url: \"https://b.example.net\" disagrees with"
        " fx/deployment-config/site.yaml: config.access_url: \"https://a.example.net\";"
        " coderd serves one value for both, so give it in one place or make them equal."
    ])


def test_equal_urls_are_accepted(user_dirs: Path) -> None:
    write_yaml(user_dirs / "fx" / "buildinfo" / "dash.yaml", {"dashboard_url": "https://a.example.net"})
    write_yaml(user_dirs / "fx" / "deployment-config" / "site.yaml", {"config": {"access_url": "https://a.example.net"}})
    write_yaml(user_dirs / "sc" / "dash.yaml", {
        "extends": "default",
        "description": "Matching URLs.",
        "fixtures": {"buildinfo": "buildinfo/dash.yaml", "deployment-config": "deployment-config/site.yaml"},
    })

    catalog = load_user_catalog(user_dirs)

    assert catalog.rejected == {}
    assert body(catalog.rendered("dash"), "build-info")["dashboard_url"] == "https://a.example.net"


def test_commit_mismatch_is_rejected(user_dirs: Path) -> None:
    write_yaml(user_dirs / "fx" / "buildinfo" / "commit.yaml", {
        "version": "v2.21.3+abc1234",
        "external_url": "https://github.com/coder/coder/commit/def5678901234567890123456789012345678901",
    })
    write_yaml(user_dirs / "sc" / "commit.yaml",
               {"extends": "default", "description": "Two commits.", "fixtures": {"buildinfo": "buildinfo/commit.yaml"}})

    catalog = load_user_catalog(user_dirs)

    assert_rejected_only(catalog, "commit", [
        "fx/buildinfo/commit.yaml: external_url: commit def5678901234567890123456789012345678901 does not start"
        " with the build metadata of version v2.21.3+abc1234; coderd builds both from one commit, so make the URL"
        " https://github.com/coder/coder/commit/abc1234... or drop one of them."
    ])


def test_matching_commit_is_accepted(user_dirs: Path) -> None:
    url = "https://github.com/coder/coder/commit/abc1234567890123456789012345678901234567"
    write_yaml(user_dirs / "fx" / "buildinfo" / "commit.yaml", {"version": "v2.21.3+abc1234", "external_url": url})
    write_yaml(user_dirs / "sc" / "commit.yaml",
               {"extends": "default", "description": "One commit.", "fixtures": {"buildinfo": "buildinfo/commit.yaml"}})

    catalog = load_user_catalog(user_dirs)

    assert catalog.rejected == {}
    buildinfo = body(catalog.rendered("commit"), "build-info")
    assert buildinfo["version"] == "v2.21.3+abc1234"
    assert buildinfo["external_url"] == url


@pytest.mark.parametrize(
    ("stats", "shown"),
    [
        (
            {"aggregated_from": "2025-04-17T12:00:00Z", "collected_at": "2025-04-17T11:00:00Z"},
            "aggregated_from 2025-04-17T12:00:00Z, collected_at 2025-04-17T11:00:00Z,"
            " next_update_at 2025-04-17T15:00:00Z",
        ),
        (
            {"collected_at": "2025-04-17T11:00:00Z", "next_update_at": "2025-04-17T10:00:00Z"},
            "aggregated_from 2025-04-17T10:45:00Z, collected_at 2025-04-17T11:00:00Z,"
            " next_update_at 2025-04-17T10:00:00Z",
        ),
        (
            {
                "aggregated_from": "2025-04-17T09:00:00Z",
                "collected_at": "2025-04-17T11:00:00Z",
                "next_update_at": "2025-04-17T10:59:59.5Z",
            },
            "aggregated_from 2025-04-17T09:00:00Z, collected_at 2025-04-17T11:00:00Z,"
            " next_update_at 2025-04-17T10:59:59.5Z",
        ),
    ],
)
def test_stats_out_of_order(user_dirs: Path, stats: dict[str, str], shown: str) -> None:
    write_yaml(user_dirs / "fx" / "deployment-stats" / "order.yaml", stats)
    write_yaml(user_dirs / "sc" / "order.yaml", {
        "extends": "default",
        "description": "Stats out of order.",
        "fixtures": {"deployment-stats": "deployment-stats/order.yaml"},
    })

    catalog = load_user_catalog(user_dirs)

    assert_rejected_only(catalog, "order", [
        f"fx/deployment-stats/order.yaml: collected_at: timestamps out of order ({shown});"
        " coderd always has aggregated_from <= collected_at <= next_update_at."
    ])


def test_equal_stats_times_accepted(user_dirs: Path) -> None:
    moment = "2025-04-17T11:00:00Z"
    write_yaml(user_dirs / "fx" / "deployment-stats" / "order.yaml",
               {"aggregated_from": moment, "collected_at": moment, "next_update_at": moment})
    write_yaml(user_dirs / "sc" / "order.yaml", {
        "extends": "default",
        "description": "Stats all at one instant.",
        "fixtures": {"deployment-stats": "deployment-stats/order.yaml"},
    })

    catalog = load_user_catalog(user_dirs)

    assert catalog.rejected == {}
    stats = body(catalog.rendered("order"), "get-deployment-stats")
    assert (stats["aggregated_from"], stats["collected_at"], stats["next_update_at"]) == (moment, moment, moment)


DAY_NS = 86_400_000_000_000


def token_scenario(user_dirs: Path, owner_expiry: str | None, member_expiry: str | None) -> None:
    write_yaml(user_dirs / "fx" / "deployment-config" / "short.yaml", {
        "config": {
            "access_url": "https://coder.example.com",
            "session_lifetime": {
                "max_token_lifetime": DAY_NS,
                "max_admin_token_lifetime": 2 * DAY_NS,
                "default_token_lifetime": DAY_NS // 24,
            },
        },
    })
    owner_token: dict[str, str] = {"token": "adminToken-coderMockAdminSecret01"}
    member_token: dict[str, str] = {"token": "memberTokn-coderMockMemberSecret1"}
    if owner_expiry:
        owner_token["expires_at"] = owner_expiry
    if member_expiry:
        member_token["expires_at"] = member_expiry
    write_yaml(user_dirs / "sc" / "token.yaml", {
        "extends": "default",
        "description": "Short token lifetimes.",
        "fixtures": {"deployment-config": "deployment-config/short.yaml"},
        "users": [
            {"username": "admin", "roles": ["owner"], "tokens": [owner_token]},
            {"username": "member", "roles": ["member"],
             "tokens": [{"token": "expiredTkn-coderMockExpiredToken1", "expires_at": "2025-01-01T00:00:00Z"},
                        member_token]},
        ],
    })


@pytest.mark.parametrize(
    ("owner_expiry", "member_expiry", "where", "expiry", "maximum"),
    [
        (None, "2025-04-19T12:00:00Z", "users[1].tokens[1]", "2025-04-19T12:00:00Z", DAY_NS),
        (None, "2025-04-18T12:00:01Z", "users[1].tokens[1]", "2025-04-18T12:00:01Z", DAY_NS),
        ("2025-04-20T12:00:00Z", None, "users[0].tokens[0]", "2025-04-20T12:00:00Z", 2 * DAY_NS),
    ],
)
def test_token_beyond_maximum_lifetime(
    user_dirs: Path, owner_expiry: str | None, member_expiry: str | None, where: str, expiry: str, maximum: int
) -> None:
    token_scenario(user_dirs, owner_expiry, member_expiry)

    catalog = load_user_catalog(user_dirs)

    assert_rejected_only(catalog, "token", [
        f"sc/token.yaml: {where}.expires_at: {expiry} is beyond the maximum token lifetime of {maximum} ns"
        " that the deployment config allows this user's role; pick an earlier time or raise"
        " session_lifetime in the config."
    ])


def test_token_at_maximum_accepted(user_dirs: Path) -> None:
    token_scenario(user_dirs, "2025-04-19T12:00:00Z", "2025-04-18T12:00:00Z")

    catalog = load_user_catalog(user_dirs)

    assert catalog.rejected == {}
    users = {user.username: user for user in catalog.rendered("token").world.users}
    assert users["admin"].tokens["adminToken-coderMockAdminSecret01"].rfc3339() == "2025-04-19T12:00:00Z"
    assert users["member"].tokens["memberTokn-coderMockMemberSecret1"].rfc3339() == "2025-04-18T12:00:00Z"
    assert users["member"].tokens["expiredTkn-coderMockExpiredToken1"].rfc3339() == "2025-01-01T00:00:00Z"


def test_token_default_expiry_within_maximum(user_dirs: Path) -> None:
    token_scenario(user_dirs, None, None)

    catalog = load_user_catalog(user_dirs)

    assert catalog.rejected == {}
    users = {user.username: user for user in catalog.rendered("token").world.users}
    # default_token_lifetime is one hour after the scenario time of 2025-04-17T12:00:00Z.
    assert users["admin"].tokens["adminToken-coderMockAdminSecret01"].rfc3339() == "2025-04-17T13:00:00Z"
    assert users["member"].tokens["memberTokn-coderMockMemberSecret1"].rfc3339() == "2025-04-17T13:00:00Z"


@pytest.mark.parametrize(
    ("version", "sends"),
    [("v2.21.3+abc1234", False), ("v2.22.0+abc1234", True), ("v2.22.0-rc.1", True), ("v0.0.0-devel+abc1234", True)],
)
def test_hostname_suffix_follows_version(user_dirs: Path, version: str, sends: bool) -> None:
    write_yaml(user_dirs / "fx" / "buildinfo" / "versioned.yaml", {"version": version})
    write_yaml(user_dirs / "sc" / "versioned.yaml",
               {"extends": "default", "description": "A versioned server.", "fixtures": {"buildinfo": "buildinfo/versioned.yaml"}})

    ssh = body(load_user_catalog(user_dirs).rendered("versioned"), "ssh-config")

    assert ("hostname_suffix" in ssh) is sends


def test_webpush_key_needs_experiment(user_dirs: Path) -> None:
    write_yaml(user_dirs / "fx" / "buildinfo" / "push.yaml", {"webpush_public_key": "BKey"})
    write_yaml(user_dirs / "sc" / "push.yaml",
               {"extends": "default", "description": "A key without the experiment.", "fixtures": {"buildinfo": "buildinfo/push.yaml"}})

    assert_rejected_only(load_user_catalog(user_dirs), "push", [
        "fx/buildinfo/push.yaml: webpush_public_key: a key is given but the web-push experiment is off, and"
        " coderd then sends an empty key; enable web-push in deployment.experiments or remove the key."
    ])


def test_no_sessions_without_running_workspaces(user_dirs: Path) -> None:
    write_yaml(user_dirs / "fx" / "deployment-stats" / "idle.yaml", {"workspaces": {"running": 0}})
    write_yaml(user_dirs / "sc" / "idle.yaml",
               {"extends": "default", "description": "No workspace runs.", "fixtures": {"deployment-stats": "deployment-stats/idle.yaml"}})

    stats = body(load_user_catalog(user_dirs).rendered("idle"), "get-deployment-stats")

    assert stats["session_count"] == {"vscode": 0, "ssh": 0, "jetbrains": 0, "reconnecting_pty": 0}
    assert stats["workspaces"]["rx_bytes"] == 0
    assert stats["workspaces"]["tx_bytes"] == 0
