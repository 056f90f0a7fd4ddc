"""Where Coder's published API reference and coderd's wire behaviour disagree.

coder-mock serves the wire. This table is the one list of every such
difference found so far; docs/differences.md presents the same entries, and a
test checks that the two stay in step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Difference:
    """One disagreement: the operation, what coderd sends, and what the reference shows."""

    key: str
    operation: str
    wire: str
    reference: str


DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        key="root-message",
        operation="GET /api/v2/",
        wire='{"message":"👋"} with the emoji as raw UTF-8 and no other field',
        reference="a codersdk.Response with message, detail and validations",
    ),
    Difference(
        key="csp-report-auth",
        operation="POST /api/v2/csp/reports",
        wire="no session token is read; anyone may post a report",
        reference="requires the CoderSessionToken security scheme",
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
    ),
    Difference(
        key="experiments-unknown-names",
        operation="GET /api/v2/experiments",
        wire="may contain names outside the Experiment enum, lower-cased, with * expanded to the safe list",
        reference="items restricted to the codersdk.Experiment enum",
    ),
    Difference(
        key="latency-keys-upper-case",
        operation="GET /api/v2/deployment/stats",
        wire="connection_latency_ms keys P50 and P95 (the Go fields have no JSON tags)",
        reference="keys p50 and p95",
    ),
    Difference(
        key="stats-processing",
        operation="GET /api/v2/deployment/stats",
        wire='400 {"message":"Deployment stats are still processing!"} before the first refresh',
        reference="200 only",
    ),
    Difference(
        key="url-fields-strings",
        operation="GET /api/v2/deployment/config",
        wire='serpent.URL values (access_url, docs_url, ...) as plain strings, "" when unset',
        reference="objects with scheme, host, path and other lower-case keys",
    ),
    Difference(
        key="host-port-strings",
        operation="GET /api/v2/deployment/config",
        wire='serpent.HostPort values (address, tls.address, ...) as one "host:port" string',
        reference="objects with host and port",
    ),
    Difference(
        key="struct-values-unwrapped",
        operation="GET /api/v2/deployment/config",
        wire="serpent.Struct values (external_auth, support.links) as the bare array, null when never set",
        reference='an object {"value": [...]}',
    ),
    Difference(
        key="ssh-config-go-names",
        operation="GET /api/v2/deployment/config",
        wire="config_ssh keys DeploymentName and SSHConfigOptions (the Go fields have no JSON tags)",
        reference="keys deploymentName and sshconfigOptions",
    ),
    Difference(
        key="empty-fields-omitted",
        operation="GET /api/v2/deployment/config",
        wire="omitempty fields of DeploymentValues and every empty field of serpent.Option left out",
        reference="every field shown",
    ),
    Difference(
        key="max-admin-token-lifetime",
        operation="GET /api/v2/deployment/config",
        wire="session_lifetime.max_admin_token_lifetime on servers from mid-2025",
        reference="no such field",
    ),
    Difference(
        key="hostname-suffix",
        operation="GET /api/v2/deployment/ssh",
        wire='hostname_suffix ("coder", no leading dot) on servers from v2.22; older servers leave it out',
        reference="listed, with no note of the server versions that send it",
    ),
    Difference(
        key="webpush-key-omitted",
        operation="GET /api/v2/buildinfo",
        wire="webpush_public_key left out when empty (omitempty), as it is unless the web-push experiment is on",
        reference="always shown",
    ),
    Difference(
        key="token-config-owner-maximum",
        operation="GET /api/v2/users/{user}/keys/tokens/tokenconfig",
        wire="owners get the owners' maximum lifetime; an unknown user gets 400, not 404",
        reference="one maximum for everyone; 200 only",
    ),
)
