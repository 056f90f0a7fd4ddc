"""The 10 operations of the General section of Coder's API v2, on every built-in scenario.

Expected values are coderd's: exact status codes, exact error bodies, key
order of Go's structs, and the headers coderd adds to every response.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import Schema
from marshmallow import fields as mm_fields
from werkzeug.test import TestResponse

from coder_mock.app import create_app
from coder_mock.catalog import load_catalog
from coder_mock.schemas.deployment_values import DeploymentValues
from coder_mock.schemas.fields import Nested
from coder_mock.store import Store
from conftest import (
    BUILTIN_SCENARIOS,
    EXPIRED_TOKEN,
    MEMBER_ID,
    MEMBER_TOKEN,
    OWNER_ID,
    OWNER_TOKEN,
    UNKNOWN_TOKEN,
)

JSON_TYPE = "application/json; charset=utf-8"
PUBLIC, MEMBER, OWNER = "public", "member", "owner"

# Operation key -> (method, path, who may call it).
OPERATIONS = {
    "root": ("GET", "/api/v2/", PUBLIC),
    "buildinfo": ("GET", "/api/v2/buildinfo", PUBLIC),
    "csp-reports": ("POST", "/api/v2/csp/reports", PUBLIC),
    "deployment-config": ("GET", "/api/v2/deployment/config", OWNER),
    "deployment-ssh": ("GET", "/api/v2/deployment/ssh", MEMBER),
    "deployment-stats": ("GET", "/api/v2/deployment/stats", OWNER),
    "experiments": ("GET", "/api/v2/experiments", MEMBER),
    "experiments-available": ("GET", "/api/v2/experiments/available", MEMBER),
    "updatecheck": ("GET", "/api/v2/updatecheck", PUBLIC),
    "tokenconfig": ("GET", "/api/v2/users/me/keys/tokens/tokenconfig", MEMBER),
}
AUTHENTICATED = [name for name, (_, _, access) in OPERATIONS.items() if access != PUBLIC]

# Auth state -> the Coder-Session-Token header value sent (None sends no header).
AUTH_STATES = {
    "none": None,
    "malformed": "abc",
    "unknown": UNKNOWN_TOKEN,
    "member": MEMBER_TOKEN,
    "owner": OWNER_TOKEN,
}

# The scenarios whose operations respond normally; the other two return 429 or 500 everywhere.
SERVING_SCENARIOS = tuple(name for name in BUILTIN_SCENARIOS if name not in ("rate-limited", "server-errors"))
STATS_SCENARIOS = tuple(name for name in SERVING_SCENARIOS if name != "stats-processing")

# The build version each scenario's buildinfo fixture gives.
BUILD_VERSIONS = {
    "default": "v2.22.1+f724638",
    "dev-build": "v0.0.0-devel+4bd8c1e",
    "experiments": "v2.22.1+f724638",
    "flaky": "v2.22.1+f724638",
    "minimal": "v2.22.1+f724638",
    "outdated": "v2.22.1+f724638",
    "rate-limited": "v2.22.1+f724638",
    "release-candidate": "v2.22.0-rc.1",
    "server-errors": "v2.22.1+f724638",
    "stats-processing": "v2.22.1+f724638",
    "unlimited-token-lifetime": "v2.22.1+f724638",
}

CSP_REPORT = (
    b'{"csp-report":{"document-uri":"https://coder.example.com/workspaces",'
    b'"violated-directive":"script-src","blocked-uri":"inline"}}'
)

SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."
NO_TOKEN_BODY = (
    b'{"message":"You are signed out or your session has expired. Please sign in again to continue.",'
    b'"detail":"Cookie \\"coder_session_token\\" or query parameter must be provided."}\n'
)
FORBIDDEN_BODY = (
    b'{"message":"Forbidden.","detail":"You don\'t have permission to view this content. If you believe'
    b' this is a mistake, please contact your administrator or try signing in with different credentials."}\n'
)
RATE_LIMITED_BODY = b'{"message":"You\'ve been rate limited for sending more than 512 requests in 1m0s."}\n'
SERVER_ERROR_BODY = (
    b'{"message":"An internal server error occurred.",'
    b'"detail":"dial tcp 10.0.0.5:5432: connect: connection refused"}\n'
)
STATS_PROCESSING_BODY = b'{"message":"Deployment stats are still processing!"}\n'
ROUTE_NOT_FOUND_BODY = b'{"message":"Route not found."}\n'
METHOD_NOT_ALLOWED_BODY = b'{"message":"Method not allowed."}\n'
ROOT_BODY = b'{"message":"\xf0\x9f\x91\x8b"}\n'
CSP_OK_BODY = b'"ok"\n'
INVALID_JSON = "Failed to read body, invalid json."

# Go struct field order of the General response types.
BUILDINFO_KEYS = [
    "external_url",
    "version",
    "dashboard_url",
    "telemetry",
    "workspace_proxy",
    "agent_api_version",
    "provisioner_api_version",
    "upgrade_message",
    "deployment_id",
]
UPDATECHECK_KEYS = ["current", "version", "url"]
SSH_KEYS = ["hostname_prefix", "hostname_suffix", "ssh_config_options"]
STATS_KEYS = ["aggregated_from", "collected_at", "next_update_at", "workspaces", "session_count"]
STATS_WORKSPACE_KEYS = [
    "pending",
    "building",
    "running",
    "failed",
    "stopped",
    "connection_latency_ms",
    "rx_bytes",
    "tx_bytes",
]
STATS_SESSION_KEYS = ["vscode", "ssh", "jetbrains", "reconnecting_pty"]
OPTION_KEYS = [
    "name",
    "description",
    "required",
    "flag",
    "flag_shorthand",
    "env",
    "yaml",
    "default",
    "value",
    "annotations",
    "group",
    "use_instead",
    "hidden",
    "value_source",
]
GROUP_KEYS = ["parent", "name", "yaml", "description"]

# Option name -> the config path of its secret value.
SECRET_OPTIONS = {
    "OAuth2 GitHub Client Secret": "oauth2.github.client_secret",
    "OIDC Client Secret": "oidc.client_secret",
    "Trace Honeycomb API Key": "trace.honeycomb_api_key",
    "Provisioner Daemon Pre-shared Key (PSK)": "provisioner.daemon_psk",
    "Postgres Connection URL": "pg_connection_url",
    "SCIM API Key": "scim_api_key",
    "External Token Encryption Keys": "external_token_encryption_keys",
    "Email Auth: Password": "notifications.email.auth.password",
    "Notifications: Email Auth: Password": "notifications.email.auth.password",
}
# fixtures/deployment-config/default.yaml sets these two secrets.
DEFAULT_CONFIG_SECRETS = {"Postgres Connection URL", "OIDC Client Secret"}
SECRETS_SET = {
    "default": DEFAULT_CONFIG_SECRETS,
    "dev-build": DEFAULT_CONFIG_SECRETS,
    "experiments": DEFAULT_CONFIG_SECRETS,
    "flaky": DEFAULT_CONFIG_SECRETS,
    "minimal": set(),
    "outdated": DEFAULT_CONFIG_SECRETS,
    "release-candidate": DEFAULT_CONFIG_SECRETS,
    "stats-processing": DEFAULT_CONFIG_SECRETS,
    "unlimited-token-lifetime": set(),
}
SECRET_VALUES = (b"postgres://coder:secret@db.example.com", b"an-oidc-secret")

# Scenario -> (current, latest version) when update checks are on; None when they are off.
UPDATE_CHECKS = {
    "default": None,
    "dev-build": (False, "v2.21.3"),
    "experiments": None,
    "flaky": None,
    "minimal": None,
    "outdated": (False, "v2.24.1"),
    "release-candidate": (True, "v2.21.3"),
    "stats-processing": None,
    "unlimited-token-lifetime": None,
}

EXPERIMENTS_ENABLED = {
    "default": [],
    "dev-build": [],
    "experiments": ["web-push", "dynamic-parameters", "workspace-usage", "notifications", "quantum-workspaces"],
    "flaky": [],
    "minimal": [],
    "outdated": [],
    "release-candidate": [],
    "stats-processing": [],
    "unlimited-token-lifetime": [],
}

UNLIMITED = 9223372036854775807
SEMVER = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
RFC3339_UTC = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$")
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def go_json(value: Any) -> bytes:
    """Encode `value` as Go's json.Encoder does: compact, HTML characters escaped, one newline."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode("utf-8") + b"\n"


def unauthorized_body(detail: str) -> bytes:
    return go_json({"message": SIGNED_OUT, "detail": detail})


def invalid_json_body(detail: str) -> bytes:
    return go_json({"message": INVALID_JSON, "detail": detail})


def send(client: FlaskClient, operation: str, token: str | None = None) -> TestResponse:
    method, path, _ = OPERATIONS[operation]
    headers = {} if token is None else {"Coder-Session-Token": token}
    if method == "POST":
        return client.post(path, data=CSP_REPORT, headers=headers, content_type="application/csp-report")
    return client.open(path, method=method, headers=headers)


def get_json(client: FlaskClient, path: str, token: str = OWNER_TOKEN) -> Any:
    response = client.get(path, headers={"Coder-Session-Token": token})
    assert response.status_code == 200, response.data
    return json.loads(response.data)


def config_value(config: dict[str, Any], path: str, missing: Any = None) -> Any:
    value: Any = config
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return missing
        value = value[key]
    return value


def expected_answer(scenario: str, operation: str, auth: str) -> tuple[int, bytes | None]:
    """Return coderd's status and error body for one matrix cell (None for a 200 body)."""
    # The rate limiter runs before authentication, on every operation.
    if scenario == "rate-limited":
        return 429, RATE_LIMITED_BODY
    access = OPERATIONS[operation][2]
    if access != PUBLIC:
        if auth == "none":
            return 401, NO_TOKEN_BODY
        if auth == "malformed":
            return 401, unauthorized_body("Invalid API key format: incorrect amount of API key parts, expected 2 got 1")
        if auth == "unknown":
            return 401, unauthorized_body("API key is invalid.")
        if access == OWNER and auth == "member":
            return 403, FORBIDDEN_BODY
    if scenario == "server-errors":
        return 500, SERVER_ERROR_BODY
    if scenario == "stats-processing" and operation == "deployment-stats":
        return 400, STATS_PROCESSING_BODY
    return 200, None


def assert_common_headers(response: TestResponse, version: str, content_type: str = JSON_TYPE) -> None:
    assert response.headers["X-Coder-Build-Version"] == version
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Type"] == content_type
    assert "Server" not in response.headers


def assert_compact_json(body: bytes) -> None:
    assert body.endswith(b"\n")
    assert not body.endswith(b"\n\n")
    assert body == go_json(json.loads(body))


def assert_string_map(value: Any) -> None:
    assert isinstance(value, dict)
    assert list(value) == sorted(value)
    assert all(isinstance(key, str) for key in value)
    assert all(isinstance(item, str) for item in value.values())


def assert_timestamp(value: Any) -> None:
    assert isinstance(value, str)
    assert RFC3339_UTC.match(value), value


def assert_struct(schema: Schema, value: Any, path: str) -> None:
    """Check `value` against a Go struct mirrored by `schema`: key order, omitempty and nesting."""
    assert isinstance(value, dict), path
    declared = [(field.data_key or name, field) for name, field in schema.fields.items()]
    declared_keys = [key for key, _ in declared]
    assert set(value) <= set(declared_keys), f"{path}: unknown keys {set(value) - set(declared_keys)}"
    assert list(value) == [key for key in declared_keys if key in value], f"{path}: keys out of Go order"
    for key, field in declared:
        omits_empty = schema.omit_empty or bool(field.metadata.get("omitempty"))
        if not omits_empty:
            assert key in value, f"{path}.{key} missing although Go has no omitempty on it"
        elif key in value:
            assert value[key] not in (False, 0, "", [], {}, None), f"{path}.{key} is empty but omitempty"
        item = value.get(key)
        if isinstance(field, Nested) and item is not None:
            assert_struct(field.schema, item, f"{path}.{key}")
        if isinstance(field, mm_fields.List) and isinstance(field.inner, Nested) and item:
            for index, element in enumerate(item):
                assert_struct(field.inner.schema, element, f"{path}.{key}[{index}]")


def assert_group(group: Any) -> None:
    assert isinstance(group, dict)
    assert list(group) == [key for key in GROUP_KEYS if key in group]
    assert isinstance(group["name"], str)
    assert group["name"] != ""
    if "parent" in group:
        assert_group(group["parent"])


def assert_option(option: Any) -> None:
    assert isinstance(option, dict)
    assert list(option) == [key for key in OPTION_KEYS if key in option], option
    assert isinstance(option["name"], str)
    assert option["name"] != ""
    for key in ("description", "flag", "flag_shorthand", "env", "yaml", "default", "value_source"):
        if key in option:
            assert isinstance(option[key], str), (option["name"], key)
            assert option[key] != "", (option["name"], key)
    for key in ("required", "hidden"):
        if key in option:
            assert option[key] is True, (option["name"], key)
    if "annotations" in option:
        assert_string_map(option["annotations"])
    if "group" in option:
        assert_group(option["group"])
    for replacement in option.get("use_instead", []):
        assert_option(replacement)


def assert_shape(operation: str, body: bytes) -> None:
    """Check a 200 body: field set, Go key order and value types."""
    data = json.loads(body)
    if operation == "root":
        assert body == ROOT_BODY
    elif operation == "csp-reports":
        assert body == CSP_OK_BODY
    elif operation == "buildinfo":
        assert list(data) in (BUILDINFO_KEYS, BUILDINFO_KEYS + ["webpush_public_key"])
        for key in ("external_url", "version", "dashboard_url", "agent_api_version",
                    "provisioner_api_version", "upgrade_message", "deployment_id"):
            assert isinstance(data[key], str), key
        assert SEMVER.match(data["version"])
        assert re.match(r"^https://github\.com/coder/coder/commit/[0-9a-f]{40}$", data["external_url"])
        assert UUID_TEXT.match(data["deployment_id"])
        assert re.match(r"^\d+\.\d+$", data["agent_api_version"])
        assert re.match(r"^\d+\.\d+$", data["provisioner_api_version"])
        assert isinstance(data["telemetry"], bool)
        assert data["workspace_proxy"] is False
        if "webpush_public_key" in data:
            assert isinstance(data["webpush_public_key"], str)
            assert data["webpush_public_key"] != ""
    elif operation == "deployment-config":
        assert list(data) == ["config", "options"]
        assert_struct(DeploymentValues(), data["config"], "config")
        assert isinstance(data["options"], list)
        assert len(data["options"]) > 0
        for option in data["options"]:
            assert_option(option)
    elif operation == "deployment-ssh":
        assert list(data) == SSH_KEYS
        assert isinstance(data["hostname_prefix"], str)
        assert isinstance(data["hostname_suffix"], str)
        assert_string_map(data["ssh_config_options"])
    elif operation == "deployment-stats":
        assert list(data) == STATS_KEYS
        for key in ("aggregated_from", "collected_at", "next_update_at"):
            assert_timestamp(data[key])
        workspaces = data["workspaces"]
        assert list(workspaces) == STATS_WORKSPACE_KEYS
        for key in STATS_WORKSPACE_KEYS:
            if key != "connection_latency_ms":
                assert type(workspaces[key]) is int, key
                assert workspaces[key] >= 0, key
        latency = workspaces["connection_latency_ms"]
        assert list(latency) == ["P50", "P95"]
        assert all(type(latency[key]) in (int, float) for key in ("P50", "P95"))
        assert list(data["session_count"]) == STATS_SESSION_KEYS
        assert all(type(count) is int for count in data["session_count"].values())
        assert all(count >= 0 for count in data["session_count"].values())
    elif operation == "experiments":
        assert isinstance(data, list)
        assert all(isinstance(name, str) for name in data)
        assert "" not in data
    elif operation == "experiments-available":
        assert list(data) == ["safe"]
        assert isinstance(data["safe"], list)
        assert all(isinstance(name, str) for name in data["safe"])
        assert "" not in data["safe"]
    elif operation == "updatecheck":
        assert list(data) == UPDATECHECK_KEYS
        assert isinstance(data["current"], bool)
        assert SEMVER.match(data["version"])
        assert isinstance(data["url"], str)
        assert data["url"].startswith("https://github.com/coder/coder/")
    elif operation == "tokenconfig":
        assert list(data) == ["max_token_lifetime"]
        assert type(data["max_token_lifetime"]) is int
    else:
        raise AssertionError(f"no shape check for {operation}")


def assert_rate_limit_headers(response: TestResponse, started: float) -> None:
    assert response.headers["X-Ratelimit-Limit"] == "512"
    assert response.headers["X-Ratelimit-Remaining"] == "0"
    reset = int(response.headers["X-Ratelimit-Reset"])
    assert int(started) < reset <= started + 61
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60


# --- every operation x auth state x scenario ---


@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS)
@pytest.mark.parametrize("auth", AUTH_STATES)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_matrix_status_and_body(client: FlaskClient, store: Store, operation: str, auth: str, scenario: str) -> None:
    store.switch(scenario)
    started = time.time()

    response = send(client, operation, AUTH_STATES[auth])

    status, body = expected_answer(scenario, operation, auth)
    assert response.status_code == status
    assert_common_headers(response, BUILD_VERSIONS[scenario])
    assert_compact_json(response.data)
    if status == 200:
        assert_shape(operation, response.data)
    else:
        assert response.data == body
    if status == 429:
        assert_rate_limit_headers(response, started)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_rate_limit_before_auth(client: FlaskClient, store: Store, operation: str) -> None:
    store.switch("rate-limited")

    response = send(client, operation, EXPIRED_TOKEN)

    assert response.status_code == 429
    assert response.data == RATE_LIMITED_BODY


@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS)
def test_buildinfo_version_header(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)

    response = client.get("/api/v2/buildinfo")

    assert response.headers["X-Coder-Build-Version"] == BUILD_VERSIONS[scenario]
    if scenario in SERVING_SCENARIOS:
        assert json.loads(response.data)["version"] == BUILD_VERSIONS[scenario]


# --- headers on responses other than the operations' own ---

# Name -> (method, path, body, expected status, expected content type).
OTHER_REQUESTS = {
    "api-not-found": ("GET", "/api/v2/nope", None, 404, JSON_TYPE),
    "api-trailing-slash": ("GET", "/api/v2/buildinfo/", None, 404, JSON_TYPE),
    "api-wrong-method": ("DELETE", "/api/v2/buildinfo", None, 405, JSON_TYPE),
    "csp-too-large": ("POST", "/api/v2/csp/reports", b" " * 65537, 413, JSON_TYPE),
    "admin-health": ("GET", "/__admin/health", None, 200, JSON_TYPE),
    "admin-not-found": ("GET", "/__admin/nope", None, 404, JSON_TYPE),
    "dashboard-html": ("GET", "/workspaces", None, 200, "text/html; charset=utf-8"),
    "site-root-html": ("GET", "/", None, 200, "text/html; charset=utf-8"),
    "healthz": ("GET", "/healthz", None, 200, "text/plain; charset=utf-8"),
}
# The overrides respond before the CSP body is read.
OVERRIDDEN_CSP = {"rate-limited": 429, "server-errors": 500}


@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS)
@pytest.mark.parametrize("request_name", OTHER_REQUESTS)
def test_headers_on_other_responses(client: FlaskClient, store: Store, request_name: str, scenario: str) -> None:
    store.switch(scenario)
    method, path, body, status, content_type = OTHER_REQUESTS[request_name]
    if request_name == "csp-too-large":
        status = OVERRIDDEN_CSP.get(scenario, status)

    response = client.open(path, method=method, data=body)

    assert response.status_code == status
    assert_common_headers(response, BUILD_VERSIONS[scenario], content_type)
    if content_type == JSON_TYPE:
        assert_compact_json(response.data)
    elif request_name == "healthz":
        assert response.data == b"OK"
    else:
        assert response.data.startswith(b"<!DOCTYPE html>")
        assert response.data.endswith(b"</html>\n")


# --- token sources, precedence, 401 details and roles ---

# Token sources in coderd's order: the first one present wins.
TOKEN_SOURCES = ("cookie", "query", "header", "bearer", "access_token")


@pytest.fixture
def raw_client(app: Flask) -> FlaskClient:
    """A client without a cookie jar, so that a Cookie header given per request is sent as is."""
    return app.test_client(use_cookies=False)


def credentials(tokens: dict[str, str]) -> dict[str, Any]:
    """Return test-client arguments that send each token through its source."""
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    for source, token in tokens.items():
        if source == "cookie":
            headers["Cookie"] = f"coder_session_token={token}"
        elif source == "query":
            query["coder_session_token"] = token
        elif source == "header":
            headers["Coder-Session-Token"] = token
        elif source == "bearer":
            headers["Authorization"] = f"Bearer {token}"
        elif source == "access_token":
            query["access_token"] = token
        else:
            raise AssertionError(f"unknown token source {source}")
    return {"headers": headers, "query_string": query}


@pytest.mark.parametrize("source", TOKEN_SOURCES)
def test_token_source_accepted(raw_client: FlaskClient, source: str) -> None:
    response = raw_client.get("/api/v2/deployment/config", **credentials({source: OWNER_TOKEN}))

    assert response.status_code == 200


@pytest.mark.parametrize("source", TOKEN_SOURCES)
def test_token_source_identifies_member(raw_client: FlaskClient, source: str) -> None:
    response = raw_client.get("/api/v2/deployment/config", **credentials({source: MEMBER_TOKEN}))

    assert response.status_code == 403
    assert response.data == FORBIDDEN_BODY


@pytest.mark.parametrize("first, second", list(itertools.combinations(TOKEN_SOURCES, 2)))
def test_invalid_first_source_wins(raw_client: FlaskClient, first: str, second: str) -> None:
    response = raw_client.get("/api/v2/experiments", **credentials({first: "abc", second: OWNER_TOKEN}))

    assert response.status_code == 401
    assert response.data == unauthorized_body(
        "Invalid API key format: incorrect amount of API key parts, expected 2 got 1"
    )


@pytest.mark.parametrize("first, second", list(itertools.combinations(TOKEN_SOURCES, 2)))
def test_valid_first_source_wins(raw_client: FlaskClient, first: str, second: str) -> None:
    response = raw_client.get("/api/v2/experiments", **credentials({first: OWNER_TOKEN, second: "abc"}))

    assert response.status_code == 200
    assert response.data == b"[]\n"


@pytest.mark.parametrize("first, second", list(itertools.combinations(TOKEN_SOURCES, 2)))
def test_first_source_sets_role(raw_client: FlaskClient, first: str, second: str) -> None:
    response = raw_client.get("/api/v2/deployment/stats", **credentials({first: MEMBER_TOKEN, second: OWNER_TOKEN}))

    assert response.status_code == 403
    assert response.data == FORBIDDEN_BODY


def test_empty_cookie_falls_through(raw_client: FlaskClient) -> None:
    response = raw_client.get(
        "/api/v2/deployment/config",
        headers={"Cookie": "coder_session_token=", "Coder-Session-Token": OWNER_TOKEN},
    )

    assert response.status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_case_insensitive(raw_client: FlaskClient, scheme: str) -> None:
    response = raw_client.get("/api/v2/deployment/config", headers={"Authorization": f"{scheme} {OWNER_TOKEN}"})

    assert response.status_code == 200


@pytest.mark.parametrize("authorization", [f"Basic {OWNER_TOKEN}", f"Token {OWNER_TOKEN}", OWNER_TOKEN])
def test_other_schemes_ignored(raw_client: FlaskClient, authorization: str) -> None:
    response = raw_client.get("/api/v2/experiments", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response.data == NO_TOKEN_BODY


# Token -> the `detail` of coderd's 401 (None sends no token).
TOKEN_DETAILS = {
    "missing": (None, 'Cookie "coder_session_token" or query parameter must be provided.'),
    "one-part": ("abc", "Invalid API key format: incorrect amount of API key parts, expected 2 got 1"),
    "three-parts": ("a-b-c", "Invalid API key format: incorrect amount of API key parts, expected 2 got 3"),
    "short-secret": ("abcdefghij-short", "Invalid API key format: invalid API key secret length, expected 22 got 5"),
    "short-id": ("abc-abcdefghijklmnopqrstuv", "Invalid API key format: invalid API key ID length, expected 10 got 3"),
    "long-id": ("adminToken1-coderMockAdminSecret01",
                "Invalid API key format: invalid API key ID length, expected 10 got 11"),
    "unknown-id": (UNKNOWN_TOKEN, "API key is invalid."),
    "wrong-secret": ("adminToken-abcdefghijklmnopqrstuv", "API key secret is invalid."),
    "expired": (EXPIRED_TOKEN, 'API key expired at "2025-01-01 00:00:00 +0000 UTC".'),
}


@pytest.mark.parametrize("case", TOKEN_DETAILS)
@pytest.mark.parametrize("operation", AUTHENTICATED)
def test_unauthorized_detail(client: FlaskClient, operation: str, case: str) -> None:
    token, detail = TOKEN_DETAILS[case]

    response = send(client, operation, token)

    assert response.status_code == 401
    assert response.data == unauthorized_body(detail)
    assert_common_headers(response, BUILD_VERSIONS["default"])


def test_no_token_exact_bytes(client: FlaskClient) -> None:
    response = client.get("/api/v2/experiments")

    assert response.data == NO_TOKEN_BODY
    assert response.data == (
        b'{"message":"You are signed out or your session has expired. Please sign in again to continue.",'
        b'"detail":"Cookie \\"coder_session_token\\" or query parameter must be provided."}\n'
    )


@pytest.mark.parametrize("operation", ["deployment-config", "deployment-stats"])
@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS)
def test_member_forbidden_owner_only(client: FlaskClient, store: Store, scenario: str, operation: str) -> None:
    store.switch(scenario)

    response = send(client, operation, MEMBER_TOKEN)

    expected = (429, RATE_LIMITED_BODY) if scenario == "rate-limited" else (403, FORBIDDEN_BODY)
    assert (response.status_code, response.data) == expected


@pytest.mark.parametrize(
    "operation", ["deployment-ssh", "experiments", "experiments-available", "tokenconfig"]
)
@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_member_allowed_elsewhere(client: FlaskClient, store: Store, scenario: str, operation: str) -> None:
    store.switch(scenario)

    response = send(client, operation, MEMBER_TOKEN)

    assert response.status_code == 200
    assert_shape(operation, response.data)


# --- the {user} path parameter of tokenconfig ---

# (caller token, {user} as sent, role of the user it names).
# NOTE: "%6De" is expected to mean "me" because the path is decoded before routing.
# chi routes on Go's raw path when one is kept, so coderd may treat it as an unknown username.
USER_FORMS = [
    (OWNER_TOKEN, "me", OWNER),
    (OWNER_TOKEN, "%6De", OWNER),
    (OWNER_TOKEN, OWNER_ID, OWNER),
    (OWNER_TOKEN, OWNER_ID.upper(), OWNER),
    (OWNER_TOKEN, "admin", OWNER),
    (OWNER_TOKEN, "ADMIN", OWNER),
    (OWNER_TOKEN, "Admin", OWNER),
    (OWNER_TOKEN, MEMBER_ID, MEMBER),
    (OWNER_TOKEN, MEMBER_ID.upper(), MEMBER),
    (OWNER_TOKEN, "member", MEMBER),
    (OWNER_TOKEN, "MEMBER", MEMBER),
    (MEMBER_TOKEN, "me", MEMBER),
    (MEMBER_TOKEN, "%6De", MEMBER),
    (MEMBER_TOKEN, MEMBER_ID, MEMBER),
    (MEMBER_TOKEN, MEMBER_ID.upper(), MEMBER),
    (MEMBER_TOKEN, "member", MEMBER),
    (MEMBER_TOKEN, "mEmBeR", MEMBER),
]
USER_FORM_IDS = [f"{'owner' if token == OWNER_TOKEN else 'member'}-asks-{user}" for token, user, _ in USER_FORMS]


def lifetime_for(config: dict[str, Any], role: str) -> int:
    key = "max_admin_token_lifetime" if role == OWNER else "max_token_lifetime"
    # Both durations are omitempty in Go, so a zero maximum is left out.
    return config_value(config, f"session_lifetime.{key}", 0)


@pytest.mark.parametrize("caller, user, role", USER_FORMS, ids=USER_FORM_IDS)
@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_tokenconfig_user_forms(
    client: FlaskClient, store: Store, scenario: str, caller: str, user: str, role: str
) -> None:
    store.switch(scenario)
    config = get_json(client, "/api/v2/deployment/config")["config"]

    response = client.get(f"/api/v2/users/{user}/keys/tokens/tokenconfig", headers={"Coder-Session-Token": caller})

    assert response.status_code == 200
    assert response.data == go_json({"max_token_lifetime": lifetime_for(config, role)})


@pytest.mark.parametrize("user", ["nobody", "00000000-0000-0000-0000-000000000000",
                                  "6F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F0", "mee", "admin2"])
@pytest.mark.parametrize("caller", [OWNER_TOKEN, MEMBER_TOKEN], ids=["owner", "member"])
def test_tokenconfig_unknown_user(client: FlaskClient, caller: str, user: str) -> None:
    response = client.get(f"/api/v2/users/{user}/keys/tokens/tokenconfig", headers={"Coder-Session-Token": caller})

    assert response.status_code == 400
    assert response.data == (
        b'{"message":"\\"user\\" must be an existing uuid or username.","detail":"queried user=\\"'
        + user.encode()
        + b'\\""}\n'
    )


def test_tokenconfig_nobody_exact_bytes(client: FlaskClient) -> None:
    response = client.get("/api/v2/users/nobody/keys/tokens/tokenconfig", headers={"Coder-Session-Token": OWNER_TOKEN})

    assert response.status_code == 400
    assert response.data == (
        b'{"message":"\\"user\\" must be an existing uuid or username.","detail":"queried user=\\"nobody\\""}\n'
    )


def test_tokenconfig_unknown_user_needs_token(client: FlaskClient) -> None:
    response = client.get("/api/v2/users/nobody/keys/tokens/tokenconfig")

    assert response.status_code == 401
    assert response.data == NO_TOKEN_BODY


@pytest.mark.parametrize("caller", [OWNER_TOKEN, MEMBER_TOKEN], ids=["owner", "member"])
def test_unlimited_lifetime_exact_bytes(client: FlaskClient, store: Store, caller: str) -> None:
    store.switch("unlimited-token-lifetime")

    response = client.get("/api/v2/users/me/keys/tokens/tokenconfig", headers={"Coder-Session-Token": caller})

    assert response.status_code == 200
    assert response.data == b'{"max_token_lifetime":9223372036854775807}\n'


def test_unlimited_lifetime_in_config(client: FlaskClient, store: Store) -> None:
    store.switch("unlimited-token-lifetime")

    response = client.get("/api/v2/deployment/config", headers={"Coder-Session-Token": OWNER_TOKEN})

    assert b'"max_token_lifetime":9223372036854775807,"max_admin_token_lifetime":9223372036854775807}' in response.data
    assert json.loads(response.data)["config"]["session_lifetime"]["max_token_lifetime"] == UNLIMITED


SPLIT_SCENARIO = """\
extends: default
description: Owners may create tokens for 90 days, members for 30.
fixtures:
  deployment-config: deployment-config/split-lifetimes.yaml
"""
SPLIT_CONFIG = """\
config:
  access_url: "https://coder.example.com"
  session_lifetime:
    default_token_lifetime: 604800000000000
    max_token_lifetime: 2592000000000000
    max_admin_token_lifetime: 7776000000000000
"""


@pytest.fixture
def split_client(tmp_path: Path) -> FlaskClient:
    """A client of a scenario whose owner and member token maximums differ."""
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "split-lifetimes.yaml").write_text(SPLIT_SCENARIO, encoding="utf-8")
    (tmp_path / "fixtures" / "deployment-config").mkdir(parents=True)
    (tmp_path / "fixtures" / "deployment-config" / "split-lifetimes.yaml").write_text(SPLIT_CONFIG, encoding="utf-8")
    catalog = load_catalog([tmp_path / "scenarios"], [tmp_path / "fixtures"])
    return create_app(Store(catalog, "split-lifetimes"), quiet=True).test_client()


@pytest.mark.parametrize(
    "caller, user, expected",
    [
        (OWNER_TOKEN, "me", 7776000000000000),
        (OWNER_TOKEN, OWNER_ID, 7776000000000000),
        (OWNER_TOKEN, "admin", 7776000000000000),
        (OWNER_TOKEN, MEMBER_ID, 2592000000000000),
        (OWNER_TOKEN, "member", 2592000000000000),
        (MEMBER_TOKEN, "me", 2592000000000000),
        (MEMBER_TOKEN, MEMBER_ID, 2592000000000000),
    ],
    ids=["owner-me", "owner-id", "owner-name", "owner-asks-member-id", "owner-asks-member-name",
         "member-me", "member-id"],
)
def test_lifetime_follows_target_role(split_client: FlaskClient, caller: str, user: str, expected: int) -> None:
    config = get_json(split_client, "/api/v2/deployment/config")["config"]

    response = split_client.get(
        f"/api/v2/users/{user}/keys/tokens/tokenconfig", headers={"Coder-Session-Token": caller}
    )

    assert config["session_lifetime"]["max_admin_token_lifetime"] == 7776000000000000
    assert config["session_lifetime"]["max_token_lifetime"] == 2592000000000000
    assert response.status_code == 200
    assert response.data == go_json({"max_token_lifetime": expected})


# --- bad inputs ---

# Name -> (request body, Content-Type, expected status, expected body).
CSP_INPUTS = {
    "empty": (b"", None, 400, invalid_json_body("EOF")),
    "whitespace-only": (b" \n\t", None, 400, invalid_json_body("EOF")),
    "truncated": (b'{"csp-report":{"document-uri":', None, 400, invalid_json_body("unexpected EOF")),
    "array": (b"[]", None, 400,
              invalid_json_body("json: cannot unmarshal array into Go value of type coderd.cspViolation")),
    "string": (b'"report"', None, 400,
               invalid_json_body("json: cannot unmarshal string into Go value of type coderd.cspViolation")),
    "number": (b"42", None, 400,
               invalid_json_body("json: cannot unmarshal number into Go value of type coderd.cspViolation")),
    "not-utf8": (b"\xff\xfe", None, 400, invalid_json_body("invalid character '\u00ff' looking for beginning of value")),
    "bad-literal": (b"nul", None, 400, invalid_json_body("unexpected EOF")),
    "bad-character": (b"{x}", None, 400,
                      invalid_json_body("invalid character 'x' looking for beginning of object key string")),
    "report-as-string": (
        b'{"csp-report": "x"}', None, 400,
        invalid_json_body("json: cannot unmarshal string into Go struct field cspViolation.csp-report"
                          " of type map[string]interface {}"),
    ),
    "report-as-array": (
        b'{"csp-report": []}', None, 400,
        invalid_json_body("json: cannot unmarshal array into Go struct field cspViolation.csp-report"
                          " of type map[string]interface {}"),
    ),
    "null": (b"null", None, 200, CSP_OK_BODY),
    "empty-object": (b"{}", None, 200, CSP_OK_BODY),
    "report-null": (b'{"csp-report":null}', None, 200, CSP_OK_BODY),
    "unknown-field": (b'{"other":1}', None, 200, CSP_OK_BODY),
    "csp-report-type": (CSP_REPORT, "application/csp-report", 200, CSP_OK_BODY),
    "json-type": (CSP_REPORT, "application/json", 200, CSP_OK_BODY),
    "text-type": (CSP_REPORT, "text/plain", 200, CSP_OK_BODY),
    "at-limit": (b'{"csp-report":{"k":"' + b"a" * (65536 - 23) + b'"}}', None, 200, CSP_OK_BODY),
    "over-limit": (
        b'{"csp-report":{"k":"' + b"a" * 65536 + b'"}}', None, 413,
        b'{"message":"Request body too large.","detail":"Maximum CSP report size is 65536 bytes."}\n',
    ),
    "whitespace-over-limit": (
        b" " * 65537, None, 413,
        b'{"message":"Request body too large.","detail":"Maximum CSP report size is 65536 bytes."}\n',
    ),
}


def test_csp_at_limit_size() -> None:
    assert len(CSP_INPUTS["at-limit"][0]) == 65536
    assert len(CSP_INPUTS["over-limit"][0]) > 65536


@pytest.mark.parametrize("case", CSP_INPUTS)
def test_csp_report_inputs(client: FlaskClient, case: str) -> None:
    body, content_type, status, expected = CSP_INPUTS[case]

    response = client.post("/api/v2/csp/reports", data=body, content_type=content_type)

    assert response.status_code == status
    assert response.data == expected
    assert_common_headers(response, BUILD_VERSIONS["default"])


def test_csp_invalid_utf8_detail(client: FlaskClient) -> None:
    response = client.post("/api/v2/csp/reports", data=b"\xff\xfe")

    assert response.data == (
        b'{"message":"Failed to read body, invalid json.",'
        b'"detail":"invalid character \'\xc3\xbf\' looking for beginning of value"}\n'
    )


@pytest.mark.parametrize("token", [None, "abc", EXPIRED_TOKEN, MEMBER_TOKEN])
def test_csp_ignores_token(client: FlaskClient, token: str | None) -> None:
    headers = {} if token is None else {"Coder-Session-Token": token}

    response = client.post("/api/v2/csp/reports", data=CSP_REPORT, headers=headers, content_type="application/csp-report")

    assert response.status_code == 200
    assert response.data == CSP_OK_BODY


# Name -> (method, path, expected status, expected body, expected Allow header).
ROUTING_CASES = {
    "trailing-slash": ("GET", "/api/v2/buildinfo/", 404, ROUTE_NOT_FOUND_BODY, None),
    "unknown-path": ("GET", "/api/v2/nope", 404, ROUTE_NOT_FOUND_BODY, None),
    "unknown-nested": ("GET", "/api/v2/deployment/nope", 404, ROUTE_NOT_FOUND_BODY, None),
    "tokenconfig-slash": ("GET", "/api/v2/users/me/keys/tokens/tokenconfig/", 404, ROUTE_NOT_FOUND_BODY, None),
    "api-only": ("GET", "/api", 404, ROUTE_NOT_FOUND_BODY, None),
    "api-v2-no-slash": ("GET", "/api/v2", 200, ROOT_BODY, None),
    "double-slash": ("GET", "/api/v2//buildinfo", 200, None, None),
    "delete-buildinfo": ("DELETE", "/api/v2/buildinfo", 405, METHOD_NOT_ALLOWED_BODY, "GET"),
    "post-buildinfo": ("POST", "/api/v2/buildinfo", 405, METHOD_NOT_ALLOWED_BODY, "GET"),
    "options-buildinfo": ("OPTIONS", "/api/v2/buildinfo", 405, METHOD_NOT_ALLOWED_BODY, "GET"),
    "head-buildinfo": ("HEAD", "/api/v2/buildinfo", 405, b"", "GET"),
    "head-root": ("HEAD", "/api/v2/", 405, b"", "GET"),
    "post-root": ("POST", "/api/v2/", 405, METHOD_NOT_ALLOWED_BODY, "GET"),
    "head-root-no-slash": ("HEAD", "/api/v2", 405, b"", "GET"),
    "options-root-no-slash": ("OPTIONS", "/api/v2", 405, METHOD_NOT_ALLOWED_BODY, "GET"),
    "delete-root-no-slash": ("DELETE", "/api/v2", 405, METHOD_NOT_ALLOWED_BODY, "GET"),
    "get-csp-reports": ("GET", "/api/v2/csp/reports", 405, METHOD_NOT_ALLOWED_BODY, "POST"),
    "put-updatecheck": ("PUT", "/api/v2/updatecheck", 405, METHOD_NOT_ALLOWED_BODY, "GET"),
    "put-config": ("PUT", "/api/v2/deployment/config", 405, METHOD_NOT_ALLOWED_BODY, "GET"),
    "post-tokenconfig": ("POST", "/api/v2/users/me/keys/tokens/tokenconfig", 405, METHOD_NOT_ALLOWED_BODY, "GET"),
}


@pytest.mark.parametrize("case", ROUTING_CASES)
def test_routing_edge_cases(client: FlaskClient, case: str) -> None:
    method, path, status, body, allow = ROUTING_CASES[case]

    # The owner token passes authentication, so only routing decides the response.
    response = client.open(path, method=method, headers={"Coder-Session-Token": OWNER_TOKEN})

    assert response.status_code == status
    if body is not None:
        assert response.data == body
    assert response.headers.get("Allow") == allow
    assert_common_headers(response, BUILD_VERSIONS["default"])
    assert b"<html" not in response.data


def test_double_slash_same_bytes(client: FlaskClient) -> None:
    collapsed = client.get("/api/v2//buildinfo")
    plain = client.get("/api/v2/buildinfo")

    assert collapsed.status_code == 200
    assert collapsed.data == plain.data


@pytest.mark.parametrize("path", ["/api/v2///deployment//ssh", "/api//v2/deployment/ssh"])
def test_collapsed_path_authenticates(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 401
    assert response.data == NO_TOKEN_BODY


# --- agreement between operations of one scenario ---


def semver_core(version: str) -> tuple[int, int, int]:
    """Return major, minor and patch of `version` cut at its first `-`, as coderd compares it."""
    core = version.split("-", 1)[0].split("+", 1)[0].lstrip("v")
    major, minor, patch = (int(part) for part in core.split("."))
    return major, minor, patch


@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_updatecheck_matches_buildinfo(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)
    buildinfo = get_json(client, "/api/v2/buildinfo")
    config = get_json(client, "/api/v2/deployment/config")["config"]

    check = get_json(client, "/api/v2/updatecheck")

    if not config.get("update_check", False):
        assert check == {"current": True, "version": buildinfo["version"], "url": buildinfo["external_url"]}
    else:
        assert "+" not in check["version"]
        assert check["url"] == f"https://github.com/coder/coder/releases/tag/{check['version']}"
        assert check["current"] == (semver_core(buildinfo["version"]) >= semver_core(check["version"]))


@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_updatecheck_expected_values(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)
    config = get_json(client, "/api/v2/deployment/config")["config"]

    check = get_json(client, "/api/v2/updatecheck")

    expected = UPDATE_CHECKS[scenario]
    if expected is None:
        assert "update_check" not in config
        assert check["current"] is True
        assert check["version"] == BUILD_VERSIONS[scenario]
    else:
        assert config["update_check"] is True
        assert (check["current"], check["version"]) == expected


@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_experiments_expand_config(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)
    config = get_json(client, "/api/v2/deployment/config")["config"]
    safe = get_json(client, "/api/v2/experiments/available")["safe"]

    enabled = get_json(client, "/api/v2/experiments")

    expected: list[str] = []
    for name in config.get("experiments", []):
        if name == "*":
            expected.extend(safe)
        else:
            expected.append(name.lower())
    assert enabled == expected
    assert enabled == EXPERIMENTS_ENABLED[scenario]
    assert "*" not in enabled
    assert all(name == name.lower() for name in enabled)


def test_experiments_wildcard_kept_in_config(client: FlaskClient, store: Store) -> None:
    store.switch("experiments")

    config = get_json(client, "/api/v2/deployment/config")["config"]

    assert config["experiments"] == ["*", "workspace-usage", "Notifications", "quantum-workspaces"]


@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_available_experiments_object(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)

    response = client.get("/api/v2/experiments/available", headers={"Coder-Session-Token": MEMBER_TOKEN})

    expected = ["web-push", "dynamic-parameters"] if scenario == "experiments" else []
    assert response.data == go_json({"safe": expected})


@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_buildinfo_matches_config(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)
    config = get_json(client, "/api/v2/deployment/config")["config"]

    buildinfo = get_json(client, "/api/v2/buildinfo")

    assert buildinfo["dashboard_url"] == config["access_url"]
    assert buildinfo["telemetry"] is config["telemetry"]["enable"]


@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_ssh_matches_config(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)
    config = get_json(client, "/api/v2/deployment/config")["config"]

    ssh = get_json(client, "/api/v2/deployment/ssh", MEMBER_TOKEN)

    assert ssh["hostname_prefix"] == config["config_ssh"]["DeploymentName"]
    assert ssh["hostname_suffix"] == config.get("workspace_hostname_suffix", "")
    options = {}
    for line in config["config_ssh"]["SSHConfigOptions"] or []:
        key, _, value = line.replace("=", " ", 1).partition(" ")
        options[key.strip()] = value.strip()
    assert ssh["ssh_config_options"] == options


@pytest.mark.parametrize(
    "scenario, expected",
    [
        ("default", b'{"hostname_prefix":"coder.","hostname_suffix":"coder","ssh_config_options":{}}\n'),
        ("minimal", b'{"hostname_prefix":"","hostname_suffix":"","ssh_config_options":{}}\n'),
    ],
)
def test_ssh_exact_bytes(client: FlaskClient, store: Store, scenario: str, expected: bytes) -> None:
    store.switch(scenario)

    response = client.get("/api/v2/deployment/ssh", headers={"Coder-Session-Token": MEMBER_TOKEN})

    assert response.data == expected


def parse_timestamp(text: str) -> tuple[str, int]:
    match = RFC3339_UTC.match(text)
    assert match, text
    return match.group(1), int((match.group(2) or "").ljust(9, "0"))


@pytest.mark.parametrize("scenario", STATS_SCENARIOS)
def test_stats_timestamps_ordered(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)

    stats = get_json(client, "/api/v2/deployment/stats")

    aggregated = parse_timestamp(stats["aggregated_from"])
    collected = parse_timestamp(stats["collected_at"])
    next_update = parse_timestamp(stats["next_update_at"])
    assert aggregated <= collected <= next_update


@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_config_secrets_blanked(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)
    response = client.get("/api/v2/deployment/config", headers={"Coder-Session-Token": OWNER_TOKEN})
    config = json.loads(response.data)["config"]

    for path in sorted(set(SECRET_OPTIONS.values())):
        assert config_value(config, path, "") in ("", []), path
    for secret in SECRET_VALUES:
        assert secret not in response.data


@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_secret_options_keep_source(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)

    options = get_json(client, "/api/v2/deployment/config")["options"]

    secret_options = {option["name"]: option for option in options
                      if option.get("annotations", {}).get("secret") == "true"}
    assert set(secret_options) == set(SECRET_OPTIONS)
    for name, option in secret_options.items():
        assert "value" not in option, name
        if name in SECRETS_SET[scenario]:
            assert option["value_source"] == "env", name
        else:
            assert "value_source" not in option, name


@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_webpush_key_follows_experiment(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)
    enabled = get_json(client, "/api/v2/experiments")

    buildinfo = get_json(client, "/api/v2/buildinfo")

    if "web-push" in enabled:
        key = buildinfo["webpush_public_key"]
        assert re.match(r"^[A-Za-z0-9_-]{87}$", key)
        point = base64.urlsafe_b64decode(key + "=")
        assert len(point) == 65
        assert point[0] == 4
    else:
        assert "webpush_public_key" not in buildinfo


def test_webpush_scenario_enables_key(client: FlaskClient, store: Store) -> None:
    store.switch("experiments")

    buildinfo = get_json(client, "/api/v2/buildinfo")

    assert list(buildinfo) == BUILDINFO_KEYS + ["webpush_public_key"]


@pytest.mark.parametrize("scenario", SERVING_SCENARIOS)
def test_tokenconfig_matches_config(client: FlaskClient, store: Store, scenario: str) -> None:
    store.switch(scenario)
    config = get_json(client, "/api/v2/deployment/config")["config"]

    owner = get_json(client, "/api/v2/users/me/keys/tokens/tokenconfig", OWNER_TOKEN)
    member = get_json(client, "/api/v2/users/me/keys/tokens/tokenconfig", MEMBER_TOKEN)

    assert owner == {"max_token_lifetime": lifetime_for(config, OWNER)}
    assert member == {"max_token_lifetime": lifetime_for(config, MEMBER)}


# --- the API root ---


@pytest.mark.parametrize("path", ["/api/v2/", "/api/v2"])
@pytest.mark.parametrize("token", [None, "abc", OWNER_TOKEN], ids=["no-token", "malformed", "owner"])
def test_root_exact_bytes(client: FlaskClient, path: str, token: str | None) -> None:
    headers = {} if token is None else {"Coder-Session-Token": token}

    response = client.get(path, headers=headers)

    assert response.status_code == 200
    assert response.data == b'{"message":"\xf0\x9f\x91\x8b"}\n'
    assert response.headers["Content-Type"] == JSON_TYPE
