"""The reference profile's OpenAPI document: built from the differences table and true to what that profile sends.

Bodies are checked with closed object schemas, so a key that the document
does not list fails as surely as a missing required one.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from coder_mock import openapi
from coder_mock.catalog import Catalog
from coder_mock.cli import main
from coder_mock.differences import DIFFERENCES, HOST_PORT_PATHS, STRUCT_PATHS, URL_PATHS, Difference
from coder_mock.store import Store
from conftest import BUILTIN_SCENARIOS
from openapi_helpers import (
    AUTH_HEADERS,
    GENERAL_REQUESTS,
    check_response,
    find_operation,
    override_catalog,
    resolve,
    send,
    sweep_statuses,
)

VALUES_ONLY = {
    "token-config-owner-maximum": "owners get the members' maximum lifetime, a value of the same TokenConfig shape",
}
"""Differences with a `to_reference` transform that changes values but no shape, so they need no document patch."""

TOKEN_SECURITY = [
    {"CoderSessionToken": []},
    {"CoderSessionCookie": []},
    {"CoderSessionQuery": []},
    {"BearerToken": []},
    {"AccessTokenQuery": []},
]
KNOWN_EXPERIMENTS = ["example", "auto-fill-parameters", "notifications", "workspace-usage", "web-push",
                     "dynamic-parameters"]
PATCHED_OPERATIONS = {"api-root-handler", "report-csp-violations", "get-safe-experiments", "get-enabled-experiments"}
"""The operations whose own entries the patches edit; the others change only through components."""

URL_COMPONENT = {
    "type": "object",
    "description": "serpent.URL as the API reference shows it: the fields of Go's url.URL, lower-cased.",
    "properties": {
        "scheme": {"type": "string"},
        "opaque": {"type": "string"},
        "user": {"type": "object"},
        "host": {"type": "string"},
        "path": {"type": "string"},
        "rawPath": {"type": "string"},
        "omitHost": {"type": "boolean"},
        "forceQuery": {"type": "boolean"},
        "rawQuery": {"type": "string"},
        "fragment": {"type": "string"},
        "rawFragment": {"type": "string"},
    },
    "required": ["scheme", "opaque", "user", "host", "path", "rawPath", "omitHost", "forceQuery", "rawQuery",
                 "fragment", "rawFragment"],
}
HOST_PORT_COMPONENT = {
    "type": "object",
    "description": "serpent.HostPort as the API reference shows it.",
    "properties": {"host": {"type": "string"}, "port": {"type": "string"}},
    "required": ["host", "port"],
}
CONFIG_COMPONENTS = [
    "DeploymentValues", "DERP", "DERPServerConfig", "DERPConfig", "PrometheusConfig", "PprofConfig",
    "OAuth2Config", "OAuth2GithubConfig", "OIDCConfig", "TelemetryConfig", "TLSConfig", "TraceConfig",
    "HTTPCookieConfig", "ProvisionerConfig", "RateLimitConfig", "SwaggerConfig", "LoggingConfig",
    "DangerousConfig", "SessionLifetime", "SupportConfig", "LinkConfig", "ExternalAuthConfig", "SSHConfig",
    "UserQuietHoursScheduleConfig", "HealthcheckConfig", "NotificationsConfig", "NotificationsEmailConfig",
    "NotificationsEmailAuthConfig", "NotificationsEmailTLSConfig", "NotificationsWebhookConfig",
    "NotificationsInboxConfig", "URL", "HostPort", "Regexp",
]
"""DeploymentValues and the components it reaches in the reference document."""

WIRE_BODY_ERRORS: dict[str, tuple[str, str, list[str]]] = {
    "root-message": ("default", "root", [
        "$: 'detail' is a required property",
        "$: 'validations' is a required property",
    ]),
    "experiments-available-object": ("experiments", "experiments-available", [
        "$: {'safe': ['web-push', 'dynamic-parameters']} is not of type 'array'",
    ]),
    "experiments-unknown-names": ("experiments", "experiments", [
        f"$[4]: 'quantum-workspaces' is not one of {KNOWN_EXPERIMENTS}",
    ]),
    "latency-keys-upper-case": ("default", "deployment-stats", [
        "$.workspaces.connection_latency_ms: 'p50' is a required property",
        "$.workspaces.connection_latency_ms: 'p95' is a required property",
        "$.workspaces.connection_latency_ms: Additional properties are not allowed ('P50', 'P95' were unexpected)",
    ]),
    "hostname-suffix": ("default", "deployment-ssh", [
        "$: Additional properties are not allowed ('hostname_suffix' was unexpected)",
    ]),
    "webpush-key-omitted": ("default", "buildinfo", [
        "$: 'webpush_public_key' is a required property",
    ]),
}
"""The errors of each wire body against the reference document, where one difference alone shapes the body."""

WIRE_CONFIG_ERRORS: dict[str, list[str]] = {
    "empty-fields-omitted": [
        "$.config: 'verbose' is a required property",
        "$.config.tls.cert_file: None is not of type 'array'",
        "$.config.session_lifetime: 'disable_expiry_refresh' is a required property",
        "$.options[0]: 'description' is a required property",
    ],
    "url-fields-strings": [
        "$.config.access_url: 'https://coder.example.com' is not of type 'object'",
        "$.config.derp.server.relay_url: '' is not of type 'object'",
        "$.config.notifications.webhook.endpoint: '' is not of type 'object'",
    ],
    "host-port-strings": [
        "$.config.prometheus.address: '127.0.0.1:2112' is not of type 'object'",
        "$.config.address: '' is not of type 'object'",
    ],
    "struct-values-unwrapped": [
        "$.config.external_auth: None is not of type 'object'",
        "$.config.support.links: None is not of type 'object'",
    ],
    "ssh-config-go-names": [
        "$.config.config_ssh: 'deploymentName' is a required property",
        "$.config.config_ssh: Additional properties are not allowed ('DeploymentName', 'SSHConfigOptions' were"
        " unexpected)",
    ],
    "max-admin-token-lifetime": [
        "$.config.session_lifetime: Additional properties are not allowed ('max_admin_token_lifetime' was"
        " unexpected)",
    ],
}
"""Some errors of the default scenario's wire deployment config against the reference document, by difference."""


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return openapi.build_document("reference")


@pytest.fixture(scope="module")
def wire() -> dict[str, Any]:
    return openapi.build_document("wire")


def schemas_of(document: dict[str, Any]) -> dict[str, Any]:
    return document["components"]["schemas"]


def config_object(document: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """Return the schema of the object containing the last key of `path` in DeploymentValues, and that key."""
    schema = schemas_of(document)["DeploymentValues"]
    keys = path.split(".")
    for key in keys[:-1]:
        schema = resolve(document, schema["properties"][key])
    return schema, keys[-1]


def difference(key: str) -> Difference:
    return next(item for item in DIFFERENCES if item.key == key)


# --- the document and the differences table ----------------------------------


def test_reference_document_is_valid_openapi(reference: dict[str, Any]) -> None:
    assert validate(reference) is None
    assert reference["openapi"] == "3.0.3"
    assert reference["info"]["description"] == (
        "The parts of Coder's REST API v2 that coder-mock serves, as coder-mock serves them in the reference profile"
        " (the shapes of Coder's published API reference), and coder-mock's admin API."
    )


def test_unknown_profile_rejected() -> None:
    with pytest.raises(ValueError, match=r"^unknown profile 'draft'; use one of wire, reference\.$"):
        openapi.build_document("draft")


def test_every_reshaping_difference_has_patch() -> None:
    missing = [
        item.key for item in DIFFERENCES
        if (item.to_reference is not None or item.reference_access is not None)
        and item.document is None and item.key not in VALUES_ONLY
    ]

    assert missing == []


@pytest.mark.parametrize("key", sorted(VALUES_ONLY))
def test_values_only_entry_is_current(key: str) -> None:
    item = difference(key)

    assert item.to_reference is not None
    assert item.document is None


def test_status_only_differences_have_no_patch() -> None:
    patched = [item.key for item in DIFFERENCES
               if item.to_reference is None and item.reference_access is None and item.document is not None]

    assert patched == []


@pytest.mark.parametrize("key", [item.key for item in DIFFERENCES if item.document is not None])
def test_patch_alone_changes_document(wire: dict[str, Any], key: str) -> None:
    document = copy.deepcopy(wire)

    difference(key).document(document)  # type: ignore[misc]

    assert document != wire


def test_wire_document_unchanged_by_reference(reference: dict[str, Any], wire: dict[str, Any]) -> None:
    rebuilt, aliases = openapi.wire_document()

    assert wire == rebuilt
    assert "hostname_suffix" in schemas_of(wire)["SSHConfigResponse"]["properties"]
    assert "URL" not in schemas_of(wire)


def test_components_follow_patches(reference: dict[str, Any], wire: dict[str, Any]) -> None:
    expected = (set(schemas_of(wire)) - {"AvailableExperiments"}) | {"URL", "HostPort", "Regexp"}

    assert sorted(schemas_of(reference)) == sorted(expected)


def test_unpatched_operations_unchanged(reference: dict[str, Any], wire: dict[str, Any]) -> None:
    for path, item in wire["paths"].items():
        for method, operation in item.items():
            if operation.get("operationId") in PATCHED_OPERATIONS or path == "/api/v2":
                continue
            assert reference["paths"][path][method] == operation, f"{method.upper()} {path}"


def test_shared_components_unchanged(reference: dict[str, Any], wire: dict[str, Any]) -> None:
    for section in ("securitySchemes", "headers", "responses"):
        assert reference["components"][section] == wire["components"][section], section
    assert schemas_of(reference)["Response"] == schemas_of(wire)["Response"]
    assert schemas_of(reference)["Group"] == schemas_of(wire)["Group"]


# --- each patch --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v2/", "/api/v2"])
def test_root_body_requires_every_field(reference: dict[str, Any], path: str) -> None:
    response = reference["paths"][path]["get"]["responses"]["200"]

    assert response["content"]["application/json"]["schema"] == {
        "allOf": [{"$ref": "#/components/schemas/Response"}],
        "required": ["message", "detail", "validations"],
    }


def test_root_alias_repeats_target(reference: dict[str, Any]) -> None:
    aliased = dict(reference["paths"]["/api/v2"]["get"])
    original = dict(reference["paths"]["/api/v2/"]["get"])

    assert original.pop("operationId") == "api-root-handler"
    assert aliased.pop("description") == "The same operation as `api-root-handler` at /api/v2/."
    assert aliased == original


def test_csp_report_requires_token(reference: dict[str, Any]) -> None:
    operation = reference["paths"]["/api/v2/csp/reports"]["post"]

    assert operation["security"] == TOKEN_SECURITY
    assert operation["responses"]["401"] == {"$ref": "#/components/responses/SignedOut"}
    assert list(operation["responses"]) == ["200", "400", "401", "404", "405", "413", "429", "4XX", "500", "5XX"]


@pytest.mark.parametrize(("path", "description"), [
    ("/api/v2/experiments", "The enabled experiments, lower-cased, with `*` expanded to the safe ones. Names outside"
                            " the Experiment enum are left out."),
    ("/api/v2/experiments/available", "The experiments `*` turns on. Names outside the Experiment enum are left out."),
])
def test_experiments_are_known_names(reference: dict[str, Any], path: str, description: str) -> None:
    response = reference["paths"][path]["get"]["responses"]["200"]

    assert response["description"] == description
    assert response["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"type": "string", "enum": KNOWN_EXPERIMENTS},
    }


def test_latency_keys_lower_case(reference: dict[str, Any]) -> None:
    assert schemas_of(reference)["WorkspaceConnectionLatencyMS"] == {
        "type": "object",
        "properties": {"p50": {"type": "number"}, "p95": {"type": "number"}},
        "required": ["p50", "p95"],
    }


def config_components(document: dict[str, Any]) -> list[str]:
    """Return DeploymentValues and every component it reaches, by name."""
    names = ["DeploymentValues"]
    for name in names:
        for prop in schemas_of(document)[name]["properties"].values():
            for node in (prop, prop.get("items", {}), prop.get("properties", {}).get("value", {}),
                         prop.get("properties", {}).get("value", {}).get("items", {})):
                reference = node.get("$ref", "").removeprefix("#/components/schemas/")
                if reference and reference not in names:
                    names.append(reference)
    return names


def test_config_components_listed(reference: dict[str, Any]) -> None:
    assert sorted(config_components(reference)) == sorted(CONFIG_COMPONENTS)


@pytest.mark.parametrize("name", ["DeploymentConfig", "Option", *CONFIG_COMPONENTS])
def test_config_component_requires_every_field(reference: dict[str, Any], name: str) -> None:
    component = schemas_of(reference)[name]
    expected = [key for key in component["properties"] if not (name == "Option" and key == "group")]

    assert component.get("required", []) == expected
    assert [key for key, prop in component["properties"].items() if "nullable" in prop] == []


def test_url_fields_are_objects(reference: dict[str, Any]) -> None:
    assert schemas_of(reference)["URL"] == URL_COMPONENT
    for path in URL_PATHS:
        parent, key = config_object(reference, path)
        assert parent["properties"][key] == {"$ref": "#/components/schemas/URL"}, path


def test_host_port_fields_are_objects(reference: dict[str, Any]) -> None:
    assert schemas_of(reference)["HostPort"] == HOST_PORT_COMPONENT
    for path in HOST_PORT_PATHS:
        parent, key = config_object(reference, path)
        assert parent["properties"][key] == {"$ref": "#/components/schemas/HostPort"}, path


@pytest.mark.parametrize(("path", "item"), [("external_auth", "ExternalAuthConfig"), ("support.links", "LinkConfig")])
def test_struct_values_wrapped(reference: dict[str, Any], path: str, item: str) -> None:
    parent, key = config_object(reference, path)

    assert path in STRUCT_PATHS
    assert parent["properties"][key] == {
        "type": "object",
        "properties": {"value": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}},
        "required": ["value"],
    }


def test_ssh_config_lower_names(reference: dict[str, Any]) -> None:
    assert schemas_of(reference)["SSHConfig"] == {
        "type": "object",
        "properties": {"deploymentName": {"type": "string"}, "sshconfigOptions": {"type": "array",
                                                                                   "items": {"type": "string"}}},
        "required": ["deploymentName", "sshconfigOptions"],
    }


def test_session_lifetime_without_admin_maximum(reference: dict[str, Any]) -> None:
    lifetimes = schemas_of(reference)["SessionLifetime"]

    assert list(lifetimes["properties"]) == [
        "disable_expiry_refresh", "default_duration", "default_token_lifetime", "max_token_lifetime"]
    assert lifetimes["required"] == list(lifetimes["properties"])


def test_ssh_response_without_hostname_suffix(reference: dict[str, Any]) -> None:
    assert schemas_of(reference)["SSHConfigResponse"] == {
        "type": "object",
        "properties": {
            "hostname_prefix": {"type": "string"},
            "ssh_config_options": {"type": "object", "additionalProperties": {"type": "string"}, "nullable": True},
        },
        "required": ["hostname_prefix", "ssh_config_options"],
    }


def test_build_info_requires_webpush_key(reference: dict[str, Any], wire: dict[str, Any]) -> None:
    build_info = schemas_of(reference)["BuildInfoResponse"]

    assert build_info["required"] == list(build_info["properties"])
    assert build_info["required"][-1] == "webpush_public_key"
    assert build_info["properties"] == schemas_of(wire)["BuildInfoResponse"]["properties"]


# --- responses against the document ------------------------------------------


@pytest.mark.parametrize("request_name", sorted(GENERAL_REQUESTS))
@pytest.mark.parametrize("auth", sorted(AUTH_HEADERS))
@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS)
def test_general_response_matches_reference(app: Flask, client: FlaskClient, store: Store, reference: dict[str, Any],
                                            scenario: str, auth: str, request_name: str) -> None:
    store.switch(scenario, profile="reference")
    method, url, body = GENERAL_REQUESTS[request_name]

    response = send(client, request_name, auth)

    assert check_response(app, reference, method, url, response, closed=True) == []


@pytest.fixture(scope="module")
def catalog_with_overrides(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The built-ins plus scenarios whose overrides send a 404, a 418 and a 503."""
    return override_catalog(tmp_path_factory.mktemp("scenarios"))


def test_reference_reaches_every_documented_status(catalog_with_overrides: Catalog,
                                                   reference: dict[str, Any]) -> None:
    errors, seen = sweep_statuses(catalog_with_overrides, reference, "reference", closed=True)

    assert errors == []
    for operation_id, statuses in sorted(seen.items()):
        operation = find_operation(reference, operation_id)
        # 405 needs another method, which test_openapi.py covers for both profiles.
        assert statuses == set(operation["responses"]) - {"405"}, operation_id


@pytest.mark.parametrize("key", sorted(WIRE_BODY_ERRORS))
def test_wire_body_fails_reference(app: Flask, client: FlaskClient, store: Store, reference: dict[str, Any],
                                   key: str) -> None:
    scenario, request_name, expected = WIRE_BODY_ERRORS[key]
    store.switch(scenario, profile="wire")
    method, url, body = GENERAL_REQUESTS[request_name]

    response = send(client, request_name, "owner-token")

    assert response.status_code == 200
    assert check_response(app, reference, method, url, response, closed=True) == expected


@pytest.mark.parametrize("key", sorted(WIRE_CONFIG_ERRORS))
def test_wire_config_fails_reference(app: Flask, client: FlaskClient, reference: dict[str, Any], key: str) -> None:
    method, url, body = GENERAL_REQUESTS["deployment-config"]

    response = send(client, "deployment-config", "owner-token")
    errors = check_response(app, reference, method, url, response, closed=True)

    assert response.status_code == 200
    assert sorted(error for error in errors if error in WIRE_CONFIG_ERRORS[key]) == sorted(WIRE_CONFIG_ERRORS[key])


def test_csp_report_without_token_documented(client: FlaskClient, store: Store, reference: dict[str, Any],
                                             wire: dict[str, Any]) -> None:
    method, url, body = GENERAL_REQUESTS["csp-report"]
    store.switch("default", profile="reference")

    response = client.open(url, method=method, data=body)

    assert response.status_code == 401
    assert "401" in reference["paths"][url]["post"]["responses"]
    assert "401" not in wire["paths"][url]["post"]["responses"]


# --- serving the document ----------------------------------------------------


def switch(client: FlaskClient, body: dict[str, Any]) -> None:
    response = client.put("/__admin/scenario", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_served_document_follows_profile(client: FlaskClient, reference: dict[str, Any],
                                         wire: dict[str, Any]) -> None:
    assert client.get(openapi.DOCUMENT_PATH).get_json() == wire

    switch(client, {"name": "default", "profile": "reference"})
    served = client.get(openapi.DOCUMENT_PATH)
    assert served.status_code == 200
    assert served.mimetype == "application/json"
    assert served.get_json() == reference
    assert served.get_data(as_text=True) == json.dumps(reference, indent=2) + "\n"

    # A switch without a profile keeps the one chosen before.
    switch(client, {"name": "outdated"})
    assert client.get(openapi.DOCUMENT_PATH).get_json() == reference

    switch(client, {"name": "outdated", "profile": "wire"})
    assert client.get(openapi.DOCUMENT_PATH).get_json() == wire


def test_served_document_follows_store(client: FlaskClient, store: Store, reference: dict[str, Any],
                                       wire: dict[str, Any]) -> None:
    store.switch("minimal", profile="reference")
    assert client.get(openapi.DOCUMENT_PATH).get_json() == reference

    store.reset()
    assert client.get(openapi.DOCUMENT_PATH).get_json() == wire


def test_served_documents_built_once(client: FlaskClient, store: Store) -> None:
    for profile in ("wire", "reference"):
        store.switch("default", profile=profile)
        client.get(openapi.DOCUMENT_PATH)
    built = openapi.cached_document.cache_info().misses

    for profile in ("reference", "wire", "reference"):
        store.switch("default", profile=profile)
        assert client.get(openapi.DOCUMENT_PATH).status_code == 200

    assert openapi.cached_document.cache_info().misses == built


def test_cli_prints_reference_document(capsys: pytest.CaptureFixture[str], reference: dict[str, Any]) -> None:
    status = main(["openapi", "--profile", "reference"])
    output = capsys.readouterr()

    assert status == 0
    assert output.out == json.dumps(reference, indent=2) + "\n"
    assert output.err == ""


def test_cli_prints_wire_by_default(capsys: pytest.CaptureFixture[str], wire: dict[str, Any]) -> None:
    status = main(["openapi", "--profile", "wire"])
    explicit = capsys.readouterr()
    default_status = main(["openapi"])
    default = capsys.readouterr()

    assert status == 0
    assert default_status == 0
    assert explicit.out == json.dumps(wire, indent=2) + "\n"
    assert default.out == explicit.out


def test_cli_rejects_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["openapi", "--profile", "draft"])
    output = capsys.readouterr()

    assert exit_info.value.code == 2
    assert output.out == ""
    assert "argument --profile: invalid choice: 'draft'" in output.err
