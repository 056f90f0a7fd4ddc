"""Render a World into the exact bytes each General operation sends.

This runs once per scenario and seed; request handlers only pick bytes from
the result and never encode the large bodies themselves.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from coder_mock import gojson
from coder_mock.differences import ReferenceContext, reference_transforms
from coder_mock.faults import FaultRule, build_rules
from coder_mock.options import GROUPS, OPTIONS, OPTIONS_BY_NAME, SECRET_PATHS, ServerOption
from coder_mock.statustext import reason_phrase
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
from coder_mock.world import MISSING, UserRecord, World, get_path, sends_hostname_suffix, set_path

# The functions that render import the schemas, so that unpickling a Rendered
# from the render cache does not import marshmallow.


OVERRIDE_DEFAULTS: dict[int, dict[str, str]] = {
    401: {"message": SIGNED_OUT},
    403: FORBIDDEN,
    404: {"message": RESOURCE_NOT_FOUND},
    429: {"message": RATE_LIMIT_MESSAGE},
    500: {"message": INTERNAL_ERROR},
}
"""coderd's texts for the statuses an override may send; others use Go's reason phrase plus "."."""


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
    profile: str = "wire"
    users_by_key_id: dict[str, tuple[str, UserRecord]] = field(default_factory=dict)
    users_by_name: dict[str, UserRecord] = field(default_factory=dict)
    users_by_id: dict[str, UserRecord] = field(default_factory=dict)
    faults: tuple[FaultRule, ...] = ()

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


OPTION_FIELDS = {
    "name": "", "description": "", "required": False, "flag": "", "flag_shorthand": "", "env": "", "yaml": "",
    "default": "", "value": None, "annotations": {}, "use_instead": [], "hidden": False, "value_source": "",
}
"""serpent.Option's fields with their empty values, for the reference profile, which shows them all."""


def render_options(world: World) -> list[dict[str, Any]]:
    from coder_mock.schemas.deployment_values import DeploymentValues

    full = to_wire(DeploymentValues(), world.config, omit=False)
    options = []
    claimed: set[str] = set()
    for option in OPTIONS:
        # A deprecated alias and its successor share one value. serpent sets
        # only one of them, so the value source belongs to the first.
        given = world.config_given - claimed
        options.append(render_option(option, full, given))
        if option.path:
            claimed.add(option.path)
    return options


def show_every_option_field(entry: dict[str, Any]) -> dict[str, Any]:
    """Return `entry` with every serpent.Option field, in Go's order; a missing group stays out."""
    full = {}
    for key, empty in OPTION_FIELDS.items():
        if key == "use_instead":
            full["group"] = entry.get("group")
        full[key] = entry.get(key, empty)
    if full["group"] is None:
        del full["group"]
    full["use_instead"] = [show_every_option_field(item) for item in full["use_instead"]]
    return full


def render_ssh_config(world: World) -> dict[str, Any]:
    from coder_mock.schemas.general import SSHConfigResponse

    body = to_wire(SSHConfigResponse(), world.ssh)
    if not sends_hostname_suffix(world.buildinfo["version"]):
        del body["hostname_suffix"]
    return body


def render_deployment_config(world: World) -> dict[str, Any]:
    from coder_mock.schemas.deployment_values import DeploymentValues

    config = to_wire(DeploymentValues(), blank_secrets(world.config))
    return {"config": config, "options": render_options(world)}


def reference_context(world: World) -> ReferenceContext:
    from coder_mock.schemas.deployment_values import DeploymentValues

    return ReferenceContext(
        config=world.config,
        full_config=lambda: to_wire(DeploymentValues(), blank_secrets(world.config), omit=False, nil_as_empty=True),
        full_options=lambda: [show_every_option_field(entry) for entry in render_options(world)],
    )


def in_profile(operation_id: str, body: Any, profile: str, context: ReferenceContext) -> Any:
    """Return `body` as `profile` serves it."""
    if profile == "wire":
        return body
    for transform in reference_transforms(operation_id):
        body = transform(copy.deepcopy(body), context)
    return body


def override_reply(override: dict[str, Any]) -> Reply:
    """Render a status override with coderd's own texts unless the scenario gives others."""
    status = override["status"]
    default = OVERRIDE_DEFAULTS.get(status, {"message": reason_phrase(status) + "."})
    message = override.get("message", default["message"])
    detail = override.get("detail", default.get("detail", ""))
    return Reply(status, gojson.encode(error_body(message, detail)))


def render(world: World, profile: str = "wire") -> Rendered:
    """Render every reply of `world` as `profile` serves it."""
    from coder_mock.schemas.general import BuildInfoResponse, DeploymentStats, TokenConfig, UpdateCheckResponse

    context = reference_context(world)
    bodies = {
        "api-root-handler": {"message": "👋"},
        "build-info": to_wire(BuildInfoResponse(), world.buildinfo),
        "report-csp-violations": "ok",
        "get-deployment-config": render_deployment_config(world),
        "ssh-config": render_ssh_config(world),
        "get-enabled-experiments": world.experiments,
        "get-safe-experiments": {"safe": world.safe_experiments},
        "update-check": to_wire(UpdateCheckResponse(), world.update_check),
    }
    if world.stats is not None:
        bodies["get-deployment-stats"] = to_wire(DeploymentStats(), world.stats)
    replies = {operation: ok(in_profile(operation, body, profile, context)) for operation, body in bodies.items()}
    replies["forbidden"] = Reply(403, gojson.encode(FORBIDDEN))
    if world.stats is None:
        replies["get-deployment-stats"] = Reply(400, gojson.encode(STATS_PROCESSING))

    lifetimes = world.config["session_lifetime"]
    token_configs = {}
    for user in world.users:
        maximum = lifetimes["max_admin_token_lifetime"] if user.is_owner else lifetimes["max_token_lifetime"]
        body = to_wire(TokenConfig(), {"max_token_lifetime": maximum})
        token_configs[user.id] = ok(in_profile("get-token-config", body, profile, context))

    overrides = {operation: override_reply(override) for operation, override in world.overrides.items()}
    rendered = Rendered(world, world.buildinfo["version"], replies, token_configs, overrides, profile,
                        faults=build_rules(world.faults))
    for user in world.users:
        rendered.users_by_name[user.username.lower()] = user
        rendered.users_by_id[user.id] = user
        for token in user.tokens:
            key_id, secret = token.split("-", 1)
            rendered.users_by_key_id[key_id] = (secret, user)
    return rendered
