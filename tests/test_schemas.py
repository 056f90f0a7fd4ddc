"""Field sets of coder-mock's schemas against Coder's OpenAPI document.

The tests read the document at run time from the SWAGGER path in conftest.py.
Every property of a definition that the General operations use must be a field
of our schema of the same name. The exceptions are the keys that coderd sends
under other names, which WIRE_RENAMES lists and the tests assert one by one.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Iterator

import pytest
from marshmallow import fields as mm_fields

from coder_mock.schemas import common, deployment_values, general
from coder_mock.schemas.fields import (
    URL,
    AnyMap,
    AnyValue,
    Bool,
    CoderSchema,
    Int,
    Number,
    String,
    StringList,
    StringMap,
    Timestamp,
)
from coder_mock.schemas.scenario import OPERATIONS
from conftest import SWAGGER

CHECKED_DEFINITIONS = (
    "codersdk.Response",
    "codersdk.ValidationError",
    "codersdk.BuildInfoResponse",
    "codersdk.UpdateCheckResponse",
    "codersdk.SSHConfigResponse",
    "codersdk.DeploymentStats",
    "codersdk.WorkspaceDeploymentStats",
    "codersdk.SessionCountDeploymentStats",
    "codersdk.WorkspaceConnectionLatencyMS",
    "codersdk.TokenConfig",
    "codersdk.DeploymentConfig",
    "codersdk.DeploymentValues",
    "codersdk.DERP",
    "codersdk.DERPConfig",
    "codersdk.DERPServerConfig",
    "codersdk.DangerousConfig",
    "codersdk.ExternalAuthConfig",
    "codersdk.HTTPCookieConfig",
    "codersdk.HealthcheckConfig",
    "codersdk.LinkConfig",
    "codersdk.LoggingConfig",
    "codersdk.NotificationsConfig",
    "codersdk.NotificationsEmailAuthConfig",
    "codersdk.NotificationsEmailConfig",
    "codersdk.NotificationsEmailTLSConfig",
    "codersdk.NotificationsInboxConfig",
    "codersdk.NotificationsWebhookConfig",
    "codersdk.OAuth2Config",
    "codersdk.OAuth2GithubConfig",
    "codersdk.OIDCConfig",
    "codersdk.PprofConfig",
    "codersdk.PrometheusConfig",
    "codersdk.ProvisionerConfig",
    "codersdk.RateLimitConfig",
    "codersdk.SSHConfig",
    "codersdk.SessionLifetime",
    "codersdk.SupportConfig",
    "codersdk.SwaggerConfig",
    "codersdk.TLSConfig",
    "codersdk.TelemetryConfig",
    "codersdk.TraceConfig",
    "codersdk.UserQuietHoursScheduleConfig",
    "serpent.Option",
    "serpent.Group",
    "coderd.cspViolation",
)
"""Definitions reachable from the General operations that coderd sends or reads as JSON objects."""

NOT_OBJECTS_ON_WIRE = {
    # serpent.URL, HostPort and Regexp marshal as plain strings, so their object form never appears.
    "serpent.URL": "string",
    "url.Userinfo": "part of serpent.URL",
    "serpent.HostPort": "string",
    "serpent.Regexp": "string",
    # serpent.Struct[T] marshals as T itself, here a bare array.
    "serpent.Struct-array_codersdk_ExternalAuthConfig": "array",
    "serpent.Struct-array_codersdk_LinkConfig": "array",
    # Enumerations and string maps, which have no properties.
    "codersdk.Experiment": "string",
    "serpent.ValueSource": "string",
    "serpent.Annotations": "string map",
}

SCHEMA_NAMES = {"coderd.cspViolation": "CSPViolation"}
"""Our schema names that are not the definition's name after its package prefix."""

WIRE_RENAMES = (
    ("codersdk.WorkspaceConnectionLatencyMS", "p50", "P50"),
    ("codersdk.WorkspaceConnectionLatencyMS", "p95", "P95"),
    ("codersdk.SSHConfig", "deploymentName", "DeploymentName"),
    ("codersdk.SSHConfig", "sshconfigOptions", "SSHConfigOptions"),
)
"""Keys that coderd sends under another name, as (definition, reference key, wire key).

Go fields without JSON tags keep their Go names on the wire.
"""


@pytest.fixture(scope="module")
def swagger() -> dict[str, Any]:
    if not SWAGGER.is_file():
        pytest.skip(f"Coder's OpenAPI document is absent at {SWAGGER}; these tests compare against it")
    return json.loads(SWAGGER.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def definitions(swagger: dict[str, Any]) -> dict[str, Any]:
    return swagger["definitions"]


def our_schemas() -> dict[str, type[CoderSchema]]:
    """Return every CoderSchema class defined in the schema modules, by class name."""
    found: dict[str, type[CoderSchema]] = {}
    for module in (common, general, deployment_values):
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, CoderSchema) and value.__module__ == module.__name__:
                found[name] = value
    return found


def schema_for(definition: str) -> CoderSchema:
    name = SCHEMA_NAMES.get(definition, definition.split(".", 1)[1])
    return our_schemas()[name]()


def wire_keys(schema: CoderSchema) -> dict[str, mm_fields.Field]:
    return {field.data_key or name: field for name, field in schema.fields.items()}


def reference_properties(definitions: dict[str, Any], definition: str) -> dict[str, Any]:
    return definitions[definition].get("properties", {})


def referenced_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value.rsplit("/", 1)[1]
            else:
                yield from referenced_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from referenced_names(item)


def general_operations(swagger: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for methods in swagger["paths"].values()
        for operation in methods.values()
        if "General" in operation.get("tags", [])
    ]


def renamed_keys(definition: str) -> dict[str, str]:
    return {reference: wire for name, reference, wire in WIRE_RENAMES if name == definition}


def test_general_operations_match(swagger: dict[str, Any]) -> None:
    assert sorted(operation["operationId"] for operation in general_operations(swagger)) == sorted(OPERATIONS)


def test_checked_definitions_cover_general(swagger: dict[str, Any], definitions: dict[str, Any]) -> None:
    reachable: set[str] = set()
    pending = [
        name
        for operation in general_operations(swagger)
        for name in referenced_names([operation.get("parameters", []), operation.get("responses", {})])
    ]
    while pending:
        name = pending.pop()
        if name not in reachable:
            reachable.add(name)
            pending.extend(referenced_names(definitions[name]))

    assert reachable == set(CHECKED_DEFINITIONS) | set(NOT_OBJECTS_ON_WIRE)


@pytest.mark.parametrize("definition", CHECKED_DEFINITIONS)
def test_reference_properties_are_fields(definitions: dict[str, Any], definition: str) -> None:
    ours = wire_keys(schema_for(definition))
    renamed = renamed_keys(definition)

    missing = {key for key in reference_properties(definitions, definition) if renamed.get(key, key) not in ours}

    assert missing == set()


@pytest.mark.parametrize(("definition", "reference_key", "wire_key"), WIRE_RENAMES)
def test_wire_renames_listed(definitions: dict[str, Any], definition: str, reference_key: str, wire_key: str) -> None:
    properties = reference_properties(definitions, definition)
    ours = wire_keys(schema_for(definition))

    assert reference_key in properties
    assert wire_key not in properties
    assert wire_key in ours
    assert reference_key not in ours


def test_latency_keys_upper_case(definitions: dict[str, Any]) -> None:
    assert set(reference_properties(definitions, "codersdk.WorkspaceConnectionLatencyMS")) == {"p50", "p95"}
    assert list(wire_keys(schema_for("codersdk.WorkspaceConnectionLatencyMS"))) == ["P50", "P95"]


def test_extra_fields_exactly(definitions: dict[str, Any]) -> None:
    expected = {("codersdk.SessionLifetime", "max_admin_token_lifetime")}
    if "hostname_suffix" not in reference_properties(definitions, "codersdk.SSHConfigResponse"):
        expected.add(("codersdk.SSHConfigResponse", "hostname_suffix"))

    extras = set()
    for definition in CHECKED_DEFINITIONS:
        properties = reference_properties(definitions, definition)
        renamed_to = set(renamed_keys(definition).values())
        for key in wire_keys(schema_for(definition)):
            if key not in properties and key not in renamed_to:
                extras.add((definition, key))

    assert extras == expected


def test_ssh_response_has_suffix() -> None:
    # Servers from v2.22 send hostname_suffix, whatever the reference lists.
    assert list(wire_keys(schema_for("codersdk.SSHConfigResponse"))) == [
        "hostname_prefix",
        "hostname_suffix",
        "ssh_config_options",
    ]


def reference_kind(node: dict[str, Any]) -> str:
    """Describe a property of the reference in the terms `field_kind` uses for our fields."""
    references = [node["$ref"]] if "$ref" in node else [part["$ref"] for part in node.get("allOf", []) if "$ref" in part]
    if references:
        name = references[0].rsplit("/", 1)[1]
        if name == "serpent.URL":
            return "url"
        if name in ("serpent.HostPort", "serpent.Regexp", "serpent.ValueSource"):
            return "string"
        if name == "serpent.Annotations":
            return "string map"
        if name.startswith("serpent.Struct-array_codersdk_"):
            return "array of " + name.removeprefix("serpent.Struct-array_codersdk_")
        return "object " + SCHEMA_NAMES.get(name, name.split(".", 1)[1])

    kind = node.get("type")
    if kind is None:
        return "any"
    if kind == "array":
        items = node["items"]
        item_kind = reference_kind(items)
        return "array of " + item_kind.removeprefix("object ")
    if kind == "object":
        return "string map" if node.get("additionalProperties") == {"type": "string"} else "object"
    if kind == "string" and node.get("format") == "date-time":
        return "date-time"
    return kind


def field_kind(field: mm_fields.Field) -> str:
    """Describe one of our fields by the JSON it accepts."""
    if isinstance(field, mm_fields.Nested):
        return "object " + type(field.schema).__name__
    if isinstance(field, mm_fields.List):
        return "array of " + type(field.inner.schema).__name__
    kinds: list[tuple[type[mm_fields.Field], str]] = [
        (StringList, "array of string"),
        (StringMap, "string map"),
        (AnyMap, "object"),
        (AnyValue, "any"),
        (Timestamp, "date-time"),
        (URL, "url"),
        (String, "string"),
        (Bool, "boolean"),
        (Int, "integer"),
        (Number, "number"),
    ]
    for field_type, kind in kinds:
        if isinstance(field, field_type):
            return kind
    return type(field).__name__


@pytest.mark.parametrize("definition", CHECKED_DEFINITIONS)
def test_property_kinds_match(definitions: dict[str, Any], definition: str) -> None:
    ours = wire_keys(schema_for(definition))
    renamed = renamed_keys(definition)

    mismatches = {}
    for key, node in reference_properties(definitions, definition).items():
        expected = reference_kind(node)
        actual = field_kind(ours[renamed.get(key, key)])
        # A plain string in the reference may be one we check as a URL.
        if actual != expected and not (expected == "string" and actual == "url"):
            mismatches[key] = (expected, actual)

    assert mismatches == {}
