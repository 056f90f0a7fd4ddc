"""Build the world a scenario describes: every response value, consistent.

A fixture may give any subset of fields, and the rest are filled. Facts that
several operations share (the version, the access URL, telemetry, update
checks, experiments, SSH settings, token lifetimes) are settled once. A value
given in one place flows to the others, and two places that disagree are
rejected with both file locations.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
import functools
from typing import TYPE_CHECKING, Any, Callable

from coder_mock import semver
from coder_mock.documents import FileProblem
from coder_mock.filling import GENERATORS, Filler
from coder_mock.godefaults import parse_default, parse_duration, zero_value
from coder_mock.options import OPTIONS
from coder_mock.gotime import GoTime

if TYPE_CHECKING:
    from marshmallow import Schema

# The schema modules are imported in the functions that build a world, so
# that serving a world from the render cache does not import marshmallow.

DEFAULT_TIME = "2025-04-17T12:00:00Z"
RELEASE_URL = "https://github.com/coder/coder/releases/tag/{version}"
COMMIT_URL = "https://github.com/coder/coder/commit/{commit}"
# coderd's metrics cache aggregates the last 15 minutes of agent stats.
STATS_WINDOW = parse_duration("15m")

MISSING = object()


@dataclass(frozen=True)
class Claim:
    """A value one file gives for a shared fact, with where it was given."""

    where: str
    value: Any


@dataclass
class UserRecord:
    id: str
    username: str
    roles: tuple[str, ...]
    tokens: dict[str, GoTime]

    @property
    def is_owner(self) -> bool:
        return "owner" in self.roles


@dataclass
class World:
    """Every value a scenario serves, before rendering to bytes."""

    name: str
    description: str
    seed: int
    time: GoTime
    buildinfo: dict[str, Any]
    config: dict[str, Any]
    config_given: set[str]
    ssh: dict[str, Any]
    stats: dict[str, Any] | None
    experiments: list[str]
    safe_experiments: list[str]
    update_check: dict[str, Any]
    users: list[UserRecord]
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Fault rules as coder_mock.schemas.faults loads them.
    faults: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Inputs:
    """A validated scenario and its fixtures, each with the file it came from."""

    name: str
    source: str
    scenario: dict[str, Any]
    fixtures: dict[str, tuple[str, dict[str, Any]]]

    def fixture(self, kind: str) -> tuple[str, dict[str, Any]]:
        return self.fixtures.get(kind, ("", {}))


def get_path(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value


def settle(claims: list[Claim], produce: Callable[[], Any]) -> Any:
    from coder_mock.schemas.fields import written

    """Return the value the claims agree on, or `produce()` when none gives one."""
    given = [claim for claim in claims if claim.value is not MISSING]
    for claim in given[1:]:
        if claim.value != given[0].value:
            first = given[0]
            raise FileProblem(
                [
                    f"{claim.where}: {written(claim.value)} disagrees with {first.where}: {written(first.value)};"
                    " coderd serves one value for both, so give it in one place or make them equal."
                ]
            )
    return given[0].value if given else produce()


def fill(schema: Schema, data: dict[str, Any], filler: Filler, path: str = "") -> dict[str, Any]:
    """Return `data` with every field of `schema` present, in the schema's order."""
    from coder_mock.schemas.fields import Nested

    result: dict[str, Any] = {}
    for name, schema_field in schema.fields.items():
        field_path = f"{path}.{name}" if path else name
        value = data.get(name, MISSING)
        if isinstance(schema_field, Nested):
            nested = value if isinstance(value, dict) else {}
            result[name] = fill(schema_field.schema, nested, filler, field_path)
        elif value is not MISSING:
            result[name] = value
        elif getattr(schema_field, "fake", None):
            result[name] = GENERATORS[schema_field.fake](filler, field_path)
        else:
            result[name] = zero_value(schema_field)
    return result


def _where(file: str, key: str) -> str:
    return f"{file}: {key}" if file else key


def settle_build(inputs: Inputs, filler: Filler) -> dict[str, Any]:
    """Settle version and external_url so that both name the same commit."""
    file, build = inputs.fixture("buildinfo")
    version = build.get("version")
    external_url = build.get("external_url")
    version_commit = version.split("+", 1)[1] if version and "+" in version else None
    url_commit = external_url.rsplit("/commit/", 1)[1] if external_url and "/commit/" in external_url else None

    if version_commit and url_commit and not url_commit.startswith(version_commit):
        raise FileProblem(
            [
                f"{_where(file, 'external_url')}: commit {url_commit} does not start with the"
                f" build metadata of version {version}; coderd builds both from one commit, so make"
                f" the URL https://github.com/coder/coder/commit/{version_commit}... or drop one of them."
            ]
        )

    commit = url_commit or filler.commit("commit")
    if version_commit and not url_commit:
        commit = version_commit + commit[len(version_commit):]
    if version is None:
        version = filler.release_version("version", commit)
    if external_url is None:
        external_url = COMMIT_URL.format(commit=commit)
    return {"version": version, "external_url": external_url}


def settle_config(inputs: Inputs, build: dict[str, Any], filler: Filler) -> tuple[dict[str, Any], set[str]]:
    """Fill the deployment config and make it agree with the other fixtures and facts."""
    config_file, config_fixture = inputs.fixture("deployment-config")
    config = copy.deepcopy(config_fixture.get("config", {}))
    given = {option.path for option in OPTIONS if option.path and get_path(config, option.path) is not MISSING}

    build_file, buildinfo = inputs.fixture("buildinfo")
    ssh_file, ssh = inputs.fixture("deployment-ssh")
    facts = inputs.scenario.get("deployment", {})
    where_config = f"{config_file}: config" if config_file else "config"

    def claim_config(path: str) -> Claim:
        return Claim(f"{where_config}.{path}", get_path(config, path))

    def claim(file: str, data: dict[str, Any], key: str) -> Claim:
        return Claim(_where(file, key), data.get(key, MISSING))

    def fact(key: str) -> Claim:
        return Claim(f"{inputs.source}: deployment.{key}", facts.get(key, MISSING))

    shared: dict[str, tuple[list[Claim], Callable[[], Any]]] = {
        "access_url": (
            [claim_config("access_url"), claim(build_file, buildinfo, "dashboard_url")],
            lambda: filler.access_url("access_url"),
        ),
        "telemetry.enable": (
            [claim_config("telemetry.enable"), claim(build_file, buildinfo, "telemetry")],
            lambda: GENERATORS["telemetry"](filler, "telemetry"),
        ),
        "update_check": ([claim_config("update_check"), fact("update_check")], lambda: False),
        "experiments": ([claim_config("experiments"), fact("experiments")], lambda: []),
        "config_ssh.DeploymentName": (
            [claim_config("config_ssh.DeploymentName"), claim(ssh_file, ssh, "hostname_prefix")],
            lambda: "coder.",
        ),
        "workspace_hostname_suffix": (
            [claim_config("workspace_hostname_suffix"), claim(ssh_file, ssh, "hostname_suffix")],
            lambda: "coder",
        ),
    }
    ssh_options = ssh.get("ssh_config_options", MISSING)
    if ssh_options is not MISSING:
        as_lines = [f"{key}={value}" for key, value in sorted(ssh_options.items())]
        shared["config_ssh.SSHConfigOptions"] = (
            [claim_config("config_ssh.SSHConfigOptions"), Claim(_where(ssh_file, "ssh_config_options"), as_lines)],
            lambda: None,
        )

    for path, (claims, produce) in shared.items():
        set_path(config, path, settle(claims, produce))
        if any(claim.value is not MISSING for claim in claims):
            given.add(path)

    apply_option_defaults(config, build["version"])
    from coder_mock.schemas.deployment_values import DeploymentValues

    return fill(DeploymentValues(), config, filler, "config"), given


def apply_option_defaults(config: dict[str, Any], version: str) -> None:
    """Set every option a fixture leaves out to its default, as serpent does."""
    for option in OPTIONS:
        if not option.path or option.default is None or get_path(config, option.path) is not MISSING:
            continue
        default = option.default
        if option.path == "docs_url" and "devel" not in version:
            # A release build links the docs of its own version.
            default = f"{default}/@{version.split('+', 1)[0]}"
        set_path(config, option.path, parse_default(option.kind, default))

    # NOTE: the April 2025 source this mock follows has no option for the
    # owners' maximum, so it defaults to the members' maximum here.
    lifetime = config.setdefault("session_lifetime", {})
    lifetime.setdefault("max_admin_token_lifetime", lifetime.get("max_token_lifetime", 0))


def parse_ssh_options(lines: list[str] | None) -> dict[str, str]:
    """Turn `key=value` or `key value` lines into coderd's ssh_config_options map."""
    options: dict[str, str] = {}
    for line in lines or []:
        key, _, value = line.replace("=", " ", 1).partition(" ")
        options[key.strip()] = value.strip()
    return options


def build_stats(inputs: Inputs, config: dict[str, Any], time: GoTime, seed: int) -> dict[str, Any] | None:
    """Fill DeploymentStats with ordered timestamps, or return None while stats are processing."""
    if not inputs.scenario.get("deployment", {}).get("stats_collected", True):
        return None
    file, stats = inputs.fixture("deployment-stats")
    filler = Filler(seed, "get-deployment-stats")
    interval = config.get("metrics_cache_refresh_interval") or parse_duration("1h")

    collected = stats.get("collected_at") or time.shifted(-filler.count("collected_at", 30, 600) * 1_000_000_000)
    aggregated = stats.get("aggregated_from") or collected.shifted(-STATS_WINDOW)
    next_update = stats.get("next_update_at") or collected.shifted(interval)
    if not aggregated <= collected <= next_update:
        raise FileProblem(
            [
                f"{_where(file, 'collected_at')}: timestamps out of order (aggregated_from"
                f" {aggregated.rfc3339()}, collected_at {collected.rfc3339()}, next_update_at"
                f" {next_update.rfc3339()}); coderd always has aggregated_from <= collected_at <= next_update_at."
            ]
        )
    from coder_mock.schemas.general import DeploymentStats

    filled = fill(DeploymentStats(), stats, filler)
    filled.update(aggregated_from=aggregated, collected_at=collected, next_update_at=next_update)
    quiet_without_workspaces(filled, stats)
    return filled


def quiet_without_workspaces(filled: dict[str, Any], given: dict[str, Any]) -> None:
    """Zero generated sessions and traffic when no workspace runs, since agents report both."""
    if filled["workspaces"]["running"] != 0:
        return
    given_workspaces = given.get("workspaces", {})
    for key in ("rx_bytes", "tx_bytes"):
        if key not in given_workspaces:
            filled["workspaces"][key] = 0
    given_sessions = given.get("session_count", {})
    for key in filled["session_count"]:
        if key not in given_sessions:
            filled["session_count"][key] = 0


@functools.cache
def hostname_suffix_since() -> str:
    """Return the first release whose GET /deployment/ssh sends hostname_suffix."""
    from coder_mock.schemas.general import SSHConfigResponse

    return SSHConfigResponse().fields["hostname_suffix"].metadata["since"]


def sends_hostname_suffix(version: str) -> bool:
    """Return whether a server of `version` sends hostname_suffix; development builds are the newest."""
    if "-devel" in version:
        return True
    return semver.is_current(version, hostname_suffix_since())


def read_experiments(raw: list[str], safe: list[str]) -> list[str]:
    """Expand experiments the way coderd's ReadExperiments does: lower-case, `*` means every safe one."""
    enabled: list[str] = []
    for name in raw:
        if name == "*":
            enabled.extend(safe)
        else:
            enabled.append(name.lower())
    return enabled


def settle_update_check(inputs: Inputs, build: dict[str, Any], update_check_enabled: bool) -> dict[str, Any]:
    """Build the GET /updatecheck body as coderd does from its version and the latest release."""
    latest = inputs.scenario.get("deployment", {}).get("latest_release")
    if not update_check_enabled or latest is None:
        return {"current": True, "version": build["version"], "url": build["external_url"]}
    url = latest.get("url") or RELEASE_URL.format(version=latest["version"])
    return {
        "current": semver.is_current(build["version"], latest["version"]),
        "version": latest["version"],
        "url": url,
    }


def build_users(inputs: Inputs, config: dict[str, Any], time: GoTime, seed: int) -> list[UserRecord]:
    """Give every user an id and every token an expiry within the role's maximum lifetime."""
    filler = Filler(seed, "users")
    lifetimes = config["session_lifetime"]
    users = []
    seen_key_ids: set[str] = set()
    for index, user in enumerate(inputs.scenario.get("users", [])):
        roles = tuple(user["roles"])
        maximum = lifetimes["max_admin_token_lifetime"] if "owner" in roles else lifetimes["max_token_lifetime"]
        tokens = {}
        for token_index, token in enumerate(user["tokens"]):
            expires = token.get("expires_at") or time.shifted(min(lifetimes["default_token_lifetime"], maximum))
            if maximum and time < expires and time.shifted(maximum) < expires:
                raise FileProblem(
                    [
                        f"{inputs.source}: users[{index}].tokens[{token_index}].expires_at:"
                        f" {expires.rfc3339()} is beyond the maximum token lifetime of {maximum} ns"
                        " that the deployment config allows this user's role; pick an earlier time"
                        " or raise session_lifetime in the config."
                    ]
                )
            key_id = token["token"].split("-", 1)[0]
            if key_id in seen_key_ids:
                raise FileProblem(
                    [
                        f"{inputs.source}: users[{index}].tokens[{token_index}].token: the id {key_id!r}"
                        " (the part before the dash) is already used by another token; give each token its own id."
                    ]
                )
            seen_key_ids.add(key_id)
            tokens[token["token"]] = expires
        user_id = user.get("id") or filler.uuid(f"{user['username']}.id")
        users.append(UserRecord(user_id, user["username"], roles, tokens))
    return users


def build_world(inputs: Inputs, seed: int | None = None) -> World:
    """Settle and fill everything `inputs` describes; raise FileProblem on a contradiction."""
    scenario = inputs.scenario
    seed = scenario.get("seed", 0) if seed is None else seed
    from coder_mock.schemas.general import BuildInfoResponse, SSHConfigResponse

    time = scenario.get("time") or GoTime.parse(DEFAULT_TIME)
    deployment = Filler(seed, "deployment")

    build = settle_build(inputs, deployment)
    config, given = settle_config(inputs, build, deployment)

    _, build_fixture = inputs.fixture("buildinfo")
    buildinfo = dict(build_fixture, **build)
    buildinfo["dashboard_url"] = config["access_url"]
    buildinfo["telemetry"] = config["telemetry"]["enable"]
    facts = scenario.get("deployment", {})
    safe = facts.get("safe_experiments", [])
    experiments = read_experiments(config["experiments"] or [], safe)
    if "web-push" not in experiments:
        # coderd's web push dispatcher is a no-op with an empty key unless the experiment is on.
        if buildinfo.get("webpush_public_key"):
            build_file, _ = inputs.fixture("buildinfo")
            raise FileProblem(
                [
                    f"{_where(build_file, 'webpush_public_key')}: a key is given but the web-push experiment"
                    " is off, and coderd then sends an empty key; enable web-push in deployment.experiments"
                    " or remove the key."
                ]
            )
        buildinfo["webpush_public_key"] = ""
    buildinfo = fill(BuildInfoResponse(), buildinfo, Filler(seed, "build-info"))

    _, ssh_fixture = inputs.fixture("deployment-ssh")
    ssh = fill(SSHConfigResponse(), ssh_fixture, Filler(seed, "ssh-config"))
    ssh["hostname_prefix"] = config["config_ssh"]["DeploymentName"]
    ssh["hostname_suffix"] = config["workspace_hostname_suffix"]
    ssh["ssh_config_options"] = parse_ssh_options(config["config_ssh"]["SSHConfigOptions"])

    return World(
        name=inputs.name,
        description=scenario["description"],
        seed=seed,
        time=time,
        buildinfo=buildinfo,
        config=config,
        config_given=given,
        ssh=ssh,
        stats=build_stats(inputs, config, time, seed),
        experiments=experiments,
        safe_experiments=list(safe),
        update_check=settle_update_check(inputs, build, bool(config["update_check"])),
        users=build_users(inputs, config, time, seed),
        overrides=scenario.get("overrides", {}),
        faults=scenario.get("faults", []),
    )
