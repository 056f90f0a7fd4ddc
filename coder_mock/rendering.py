"""Render a World into the exact bytes each General operation sends.

This runs once per scenario and seed; request handlers only pick bytes from
the result and never encode the large bodies themselves.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from coder_mock import gojson
from coder_mock.options import GROUPS, OPTIONS, OPTIONS_BY_NAME, SECRET_PATHS, ServerOption
from coder_mock.schemas.deployment_values import DeploymentValues
from coder_mock.schemas.general import (
    BuildInfoResponse,
    DeploymentStats,
    SSHConfigResponse,
    TokenConfig,
    UpdateCheckResponse,
)
from coder_mock.wire import (
    FORBIDDEN,
    INTERNAL_ERROR,
    RATE_LIMIT_MESSAGE,
    RESOURCE_NOT_FOUND,
    SIGNED_OUT,
    STATS_PROCESSING,
    error_body,
    sort_maps,
    to_wire,
)
from coder_mock.world import MISSING, UserRecord, World, get_path, set_path


OVERRIDE_DEFAULTS: dict[int, dict[str, str]] = {
    401: {"message": SIGNED_OUT},
    403: FORBIDDEN,
    404: {"message": RESOURCE_NOT_FOUND},
    429: {"message": RATE_LIMIT_MESSAGE},
    500: {"message": INTERNAL_ERROR},
}
"""coderd's texts for the statuses an override may send; others use the HTTP reason phrase."""


@dataclass(frozen=True)
class Reply:
    """A precomputed response: status and body bytes."""

    status: int
    body: bytes


@dataclass
class Rendered:
    """One scenario at one seed, ready to serve."""

    world: World
    version: str
    replies: dict[str, Reply]
    token_configs: dict[str, Reply]
    overrides: dict[str, Reply]
    users_by_key_id: dict[str, tuple[str, UserRecord]] = field(default_factory=dict)
    users_by_name: dict[str, UserRecord] = field(default_factory=dict)
    users_by_id: dict[str, UserRecord] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.world.name


def ok(body: Any) -> Reply:
    return Reply(200, gojson.encode(body))


def blank_secrets(config: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `config` with secret values emptied, as DeploymentValues.WithoutSecrets does."""
    blanked = copy.deepcopy(config)
    for path in SECRET_PATHS:
        value = get_path(blanked, path)
        if value is not MISSING:
            set_path(blanked, path, [] if isinstance(value, list) else "")
    return blanked


def render_group(names: tuple[str, ...]) -> dict[str, Any] | None:
    group: dict[str, Any] | None = None
    for name in names:
        entry: dict[str, Any] = {}
        if group is not None:
            entry["parent"] = group
        entry["name"] = name
        yaml_key = GROUPS.get(name, {}).get("yaml")
        if yaml_key:
            entry["yaml"] = yaml_key
        group = entry
    return group


def render_option(option: ServerOption, full_config: dict[str, Any], given: set[str] | frozenset[str]) -> dict[str, Any]:
    """Render one serpent.Option; every field is omitempty except that a set value is kept even when false."""
    entry: dict[str, Any] = {"name": option.name}
    if option.required:
        entry["required"] = True
    for key in ("flag", "flag_shorthand", "env", "yaml"):
        if getattr(option, key):
            entry[key] = getattr(option, key)
    if option.default:
        entry["default"] = option.default

    if option.path and not option.secret:
        # The option's value is a non-nil pointer, so omitempty keeps it even when false or "".
        entry["value"] = get_path(full_config, option.path)

    annotations = dict(option.annotations)
    if option.secret:
        annotations["secret"] = "true"
    if annotations:
        entry["annotations"] = sort_maps(annotations)

    group = render_group(option.group)
    if group:
        entry["group"] = group
    if option.use_instead:
        entry["use_instead"] = [render_option(OPTIONS_BY_NAME[name], full_config, given) for name in option.use_instead]
    if option.hidden:
        entry["hidden"] = True

    if option.path in given:
        entry["value_source"] = "env"
    elif option.default is not None:
        entry["value_source"] = "default"
    return entry


def render_deployment_config(world: World) -> dict[str, Any]:
    schema = DeploymentValues()
    config = blank_secrets(world.config)
    full = to_wire(schema, world.config, omit=False)
    options = []
    claimed: set[str] = set()
    for option in OPTIONS:
        # A deprecated alias and its successor share one value. serpent sets
        # only one of them, so the value source belongs to the first.
        given = world.config_given - claimed
        options.append(render_option(option, full, given))
        if option.path:
            claimed.add(option.path)
    return {"config": to_wire(schema, config), "options": options}


def override_reply(override: dict[str, Any]) -> Reply:
    """Render a status override with coderd's own texts unless the scenario gives others."""
    status = override["status"]
    default = OVERRIDE_DEFAULTS.get(status, {"message": HTTPStatus(status).phrase + "."})
    message = override.get("message", default["message"])
    detail = override.get("detail", default.get("detail", ""))
    return Reply(status, gojson.encode(error_body(message, detail)))


def render(world: World) -> Rendered:
    """Render every reply of `world`."""
    replies = {
        "api-root-handler": ok({"message": "👋"}),
        "build-info": ok(to_wire(BuildInfoResponse(), world.buildinfo)),
        "report-csp-violations": ok("ok"),
        "get-deployment-config": ok(render_deployment_config(world)),
        "ssh-config": ok(to_wire(SSHConfigResponse(), world.ssh)),
        "get-enabled-experiments": ok(world.experiments),
        "get-safe-experiments": ok({"safe": world.safe_experiments}),
        "update-check": ok(to_wire(UpdateCheckResponse(), world.update_check)),
        "forbidden": Reply(403, gojson.encode(FORBIDDEN)),
    }
    if world.stats is None:
        replies["get-deployment-stats"] = Reply(400, gojson.encode(STATS_PROCESSING))
    else:
        replies["get-deployment-stats"] = ok(to_wire(DeploymentStats(), world.stats))

    lifetimes = world.config["session_lifetime"]
    token_configs = {}
    for user in world.users:
        maximum = lifetimes["max_admin_token_lifetime"] if user.is_owner else lifetimes["max_token_lifetime"]
        token_configs[user.id] = ok(to_wire(TokenConfig(), {"max_token_lifetime": maximum}))

    overrides = {operation: override_reply(override) for operation, override in world.overrides.items()}
    rendered = Rendered(world, world.buildinfo["version"], replies, token_configs, overrides)
    for user in world.users:
        rendered.users_by_name[user.username.lower()] = user
        rendered.users_by_id[user.id] = user
        for token in user.tokens:
            key_id, secret = token.split("-", 1)
            rendered.users_by_key_id[key_id] = (secret, user)
    return rendered
