"""Schemas of the General section of Coder's API v2.

Fields follow Go's struct order in codersdk, which is the key order coderd
writes. `fake` names the generator in `coder_mock.filling` that fills a field
a fixture leaves out.
"""

from __future__ import annotations

from coder_mock.schemas.constants import EXPERIMENTS_KNOWN  # noqa: F401 - exported
from coder_mock.schemas.deployment_values import DeploymentValues
from coder_mock.schemas.fields import (
    AnyMap,
    AnyValue,
    Bool,
    CoderSchema,
    Duration,
    Int,
    Nested,
    NestedList,
    Number,
    SemVer,
    String,
    StringList,
    StringMap,
    Timestamp,
    URL,
    UUID,
)


class BuildInfoResponse(CoderSchema):
    """codersdk.BuildInfoResponse, served by GET /buildinfo."""

    external_url = URL(fake="external_url")
    version = SemVer(fake="version")
    dashboard_url = URL(fake="access_url")
    telemetry = Bool(fake="telemetry")
    workspace_proxy = Bool()
    agent_api_version = String(fake="agent_api_version")
    provisioner_api_version = String(fake="provisioner_api_version")
    upgrade_message = String()
    deployment_id = UUID(fake="uuid")
    webpush_public_key = String(fake="vapid_key", metadata={"omitempty": True})


class UpdateCheckResponse(CoderSchema):
    """codersdk.UpdateCheckResponse, served by GET /updatecheck."""

    current = Bool(required=True)
    version = SemVer(required=True)
    url = URL(required=True)


class SSHConfigResponse(CoderSchema):
    """codersdk.SSHConfigResponse, served by GET /deployment/ssh.

    `hostname_suffix` is sent by servers from v2.22 on.
    """

    hostname_prefix = String()
    # Sent by servers from v2.22 on; rendering leaves it out for older versions.
    hostname_suffix = String(metadata={"since": "v2.22.0"})
    ssh_config_options = StringMap()


class WorkspaceConnectionLatencyMS(CoderSchema):
    """codersdk.WorkspaceConnectionLatencyMS; Go gives its fields no JSON tags."""

    P50 = Number(fake="latency_p50")
    P95 = Number(fake="latency_p95")


class WorkspaceDeploymentStats(CoderSchema):
    """codersdk.WorkspaceDeploymentStats."""

    pending = Int(fake="small_count", minimum=0)
    building = Int(fake="small_count", minimum=0)
    running = Int(fake="count", minimum=0)
    failed = Int(fake="small_count", minimum=0)
    stopped = Int(fake="count", minimum=0)
    connection_latency_ms = Nested(WorkspaceConnectionLatencyMS)
    rx_bytes = Int(fake="byte_total", minimum=0)
    tx_bytes = Int(fake="byte_total", minimum=0)


class SessionCountDeploymentStats(CoderSchema):
    """codersdk.SessionCountDeploymentStats."""

    vscode = Int(fake="count", minimum=0)
    ssh = Int(fake="count", minimum=0)
    jetbrains = Int(fake="small_count", minimum=0)
    reconnecting_pty = Int(fake="small_count", minimum=0)


class DeploymentStats(CoderSchema):
    """codersdk.DeploymentStats, served by GET /deployment/stats."""

    aggregated_from = Timestamp()
    collected_at = Timestamp()
    next_update_at = Timestamp()
    workspaces = Nested(WorkspaceDeploymentStats)
    session_count = Nested(SessionCountDeploymentStats)


class TokenConfig(CoderSchema):
    """codersdk.TokenConfig, served by GET /users/{user}/keys/tokens/tokenconfig."""

    max_token_lifetime = Duration(required=True)


class AvailableExperiments(CoderSchema):
    """codersdk.AvailableExperiments, served by GET /experiments/available."""

    safe = StringList(required=True)


class Group(CoderSchema):
    """serpent.Group: where an option appears in `coder server --help`."""

    omit_empty = True

    parent = Nested(lambda: Group())
    name = String()
    yaml = String()
    description = String()


class Option(CoderSchema):
    """serpent.Option: one server setting with its flag, env and value source."""

    omit_empty = True

    name = String()
    description = String()
    required = Bool()
    flag = String()
    flag_shorthand = String()
    env = String()
    yaml = String()
    default = String()
    value = AnyValue()
    annotations = StringMap()
    group = Nested(Group)
    use_instead = NestedList(lambda: Option())
    hidden = Bool()
    value_source = String()


class DeploymentConfig(CoderSchema):
    """codersdk.DeploymentConfig, served by GET /deployment/config."""

    omit_empty = True

    config = Nested(DeploymentValues)
    options = NestedList(Option)


class CSPViolation(CoderSchema):
    """coderd.cspViolation: the body browsers POST to /csp/reports."""

    # coderd decodes a body without the key, or with null, as an empty report.
    csp_report = AnyMap(data_key="csp-report", metadata={"omitempty": True})
