"""Where Coder's published API reference and coderd's wire behaviour disagree.

This table is the one list of every such difference found so far, and it
drives the two fidelity profiles: `wire` (the default) serves what coderd
sends, and `reference` applies each entry's `to_reference` so that a client
generated from the reference gets exactly the shapes the reference shows.
docs/differences.md presents the same entries, and a test keeps both in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from coder_mock.schemas.general import EXPERIMENTS_KNOWN

PROFILES = ("wire", "reference")

# serpent.URL and serpent.HostPort values of DeploymentValues, by key path.
URL_PATHS = (
    "access_url",
    "docs_url",
    "derp.server.relay_url",
    "oidc.icon_url",
    "telemetry.url",
    "agent_fallback_troubleshooting_url",
    "notifications.webhook.endpoint",
)
HOST_PORT_PATHS = ("address", "prometheus.address", "pprof.address", "tls.address")
STRUCT_PATHS = ("external_auth", "support.links")


@dataclass(frozen=True)
class ReferenceContext:
    """What a reference transform may need beyond the wire body."""

    config: dict[str, Any]
    full_config: Callable[[], dict[str, Any]]
    full_options: Callable[[], list[dict[str, Any]]]


Transform = Callable[[Any, ReferenceContext], Any]


@dataclass(frozen=True)
class Difference:
    """One disagreement: the operation, what coderd sends, and what the reference shows.

    `to_reference` turns a wire body of `operation_id` into the reference's
    shape; `reference_access` is the access level the reference gives it.
    """

    key: str
    operation: str
    wire: str
    reference: str
    operation_id: str = ""
    to_reference: Transform | None = None
    reference_access: str | None = None


def _walk(data: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, str]:
    """Return the mapping that holds the last key of `path`, and that key."""
    keys = path.split(".")
    for key in keys[:-1]:
        data = data.get(key) if isinstance(data, dict) else None
        if data is None:
            return None, keys[-1]
    return data, keys[-1]


def _replace_at(paths: tuple[str, ...], change: Callable[[Any], Any]) -> Transform:
    def transform(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
        for path in paths:
            parent, key = _walk(body["config"], path)
            if parent is not None and key in parent:
                parent[key] = change(parent[key])
        return body

    return transform


def url_object(text: str | None) -> dict[str, Any]:
    """Return a URL as the reference shows serpent.URL: Go's url.URL fields, lower-cased."""
    parts = urlsplit(text or "")
    return {
        "scheme": parts.scheme,
        "opaque": "",
        "user": {},
        "host": parts.netloc.rpartition("@")[2],
        "path": parts.path,
        "rawPath": "",
        "omitHost": False,
        "forceQuery": False,
        "rawQuery": parts.query,
        "fragment": parts.fragment,
        "rawFragment": "",
    }


def host_port_object(text: str | None) -> dict[str, str]:
    host, _, port = (text or "").rpartition(":")
    return {"host": host, "port": port}


def _known_experiments(names: list[str]) -> list[str]:
    return [name for name in names if name in EXPERIMENTS_KNOWN]


def _show_every_config_field(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    return {"config": context.full_config(), "options": context.full_options()}


def _ssh_config_lower_names(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    ssh = body["config"]["config_ssh"]
    body["config"]["config_ssh"] = {
        "deploymentName": ssh.get("DeploymentName", ""),
        "sshconfigOptions": ssh.get("SSHConfigOptions") or [],
    }
    return body


def _drop_admin_maximum(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    body["config"]["session_lifetime"].pop("max_admin_token_lifetime", None)
    return body


def _lower_latency_keys(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    latency = body["workspaces"]["connection_latency_ms"]
    body["workspaces"]["connection_latency_ms"] = {"p50": latency["P50"], "p95": latency["P95"]}
    return body


def _member_maximum(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    return {"max_token_lifetime": context.config["session_lifetime"]["max_token_lifetime"]}


def _without(key: str) -> Transform:
    def transform(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
        body.pop(key, None)
        return body

    return transform


def _with_webpush_key(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    body.setdefault("webpush_public_key", "")
    return body


DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        key="root-message",
        operation="GET /api/v2/",
        wire='{"message":"👋"} with the emoji as raw UTF-8 and no other field',
        reference="a codersdk.Response with message, detail and validations",
        operation_id="api-root-handler",
        to_reference=lambda body, context: {"message": body["message"], "detail": "", "validations": []},
    ),
    Difference(
        key="csp-report-auth",
        operation="POST /api/v2/csp/reports",
        wire="no session token is read; anyone may post a report",
        reference="requires the CoderSessionToken security scheme",
        operation_id="report-csp-violations",
        reference_access="member",
    ),
    Difference(
        key="csp-report-errors",
        operation="POST /api/v2/csp/reports",
        wire='400 "Failed to read body, invalid json." for a bad body, 413 above 65536 bytes on newer servers',
        reference="200 only",
    ),
    Difference(
        key="experiments-available-object",
        operation="GET /api/v2/experiments/available",
        wire='an object {"safe": [...]} (codersdk.AvailableExperiments)',
        reference="an array of codersdk.Experiment",
        operation_id="get-safe-experiments",
        to_reference=lambda body, context: _known_experiments(body["safe"]),
    ),
    Difference(
        key="experiments-unknown-names",
        operation="GET /api/v2/experiments",
        wire="may contain names outside the Experiment enum, lower-cased, with * expanded to the safe list",
        reference="items restricted to the codersdk.Experiment enum",
        operation_id="get-enabled-experiments",
        to_reference=lambda body, context: _known_experiments(body),
    ),
    Difference(
        key="latency-keys-upper-case",
        operation="GET /api/v2/deployment/stats",
        wire="connection_latency_ms keys P50 and P95 (the Go fields have no JSON tags)",
        reference="keys p50 and p95",
        operation_id="get-deployment-stats",
        to_reference=_lower_latency_keys,
    ),
    Difference(
        key="stats-processing",
        operation="GET /api/v2/deployment/stats",
        wire='400 {"message":"Deployment stats are still processing!"} before the first refresh',
        reference="200 only",
    ),
    # The entries below reshape the deployment config in this order: every
    # field is shown first, then single values change shape.
    Difference(
        key="empty-fields-omitted",
        operation="GET /api/v2/deployment/config",
        wire="omitempty fields of DeploymentValues and every empty field of serpent.Option left out",
        reference="every field shown",
        operation_id="get-deployment-config",
        to_reference=_show_every_config_field,
    ),
    Difference(
        key="url-fields-strings",
        operation="GET /api/v2/deployment/config",
        wire='serpent.URL values (access_url, docs_url, ...) as plain strings, "" when unset',
        reference="objects with scheme, host, path and other lower-case keys",
        operation_id="get-deployment-config",
        to_reference=_replace_at(URL_PATHS, url_object),
    ),
    Difference(
        key="host-port-strings",
        operation="GET /api/v2/deployment/config",
        wire='serpent.HostPort values (address, tls.address, ...) as one "host:port" string',
        reference="objects with host and port",
        operation_id="get-deployment-config",
        to_reference=_replace_at(HOST_PORT_PATHS, host_port_object),
    ),
    Difference(
        key="struct-values-unwrapped",
        operation="GET /api/v2/deployment/config",
        wire="serpent.Struct values (external_auth, support.links) as the bare array, null when never set",
        reference='an object {"value": [...]}',
        operation_id="get-deployment-config",
        to_reference=_replace_at(STRUCT_PATHS, lambda value: {"value": value or []}),
    ),
    Difference(
        key="ssh-config-go-names",
        operation="GET /api/v2/deployment/config",
        wire="config_ssh keys DeploymentName and SSHConfigOptions (the Go fields have no JSON tags)",
        reference="keys deploymentName and sshconfigOptions",
        operation_id="get-deployment-config",
        to_reference=_ssh_config_lower_names,
    ),
    Difference(
        key="max-admin-token-lifetime",
        operation="GET /api/v2/deployment/config",
        wire="session_lifetime.max_admin_token_lifetime on servers from mid-2025",
        reference="no such field",
        operation_id="get-deployment-config",
        to_reference=_drop_admin_maximum,
    ),
    Difference(
        key="hostname-suffix",
        operation="GET /api/v2/deployment/ssh",
        wire='hostname_suffix ("coder", no leading dot) on servers from v2.22; older servers leave it out',
        reference="no hostname_suffix, as the servers before v2.22 that the reference describes",
        operation_id="ssh-config",
        to_reference=_without("hostname_suffix"),
    ),
    Difference(
        key="webpush-key-omitted",
        operation="GET /api/v2/buildinfo",
        wire="webpush_public_key left out when empty (omitempty), as it is unless the web-push experiment is on",
        reference="always shown",
        operation_id="build-info",
        to_reference=_with_webpush_key,
    ),
    Difference(
        key="token-config-owner-maximum",
        operation="GET /api/v2/users/{user}/keys/tokens/tokenconfig",
        wire="owners get the owners' maximum lifetime; an unknown user gets 400, not 404",
        reference="one maximum for everyone; 200 only",
        operation_id="get-token-config",
        to_reference=_member_maximum,
    ),
)


def reference_transforms(operation_id: str) -> list[Transform]:
    """Return the transforms the reference profile applies to `operation_id`, in table order."""
    return [
        item.to_reference
        for item in DIFFERENCES
        if item.operation_id == operation_id and item.to_reference is not None
    ]


def access_in(profile: str, operation_id: str, wire_access: str) -> str:
    """Return who may call `operation_id` in `profile`."""
    if profile == "reference":
        for item in DIFFERENCES:
            if item.operation_id == operation_id and item.reference_access:
                return item.reference_access
    return wire_access
