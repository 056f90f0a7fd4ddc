"""The wire profile's OpenAPI document: valid, complete, true to the schemas, and true to what the server sends.

tests/openapi_helpers.py converts the document's schemas to JSON Schema and
checks response bodies against them.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from flask import Flask, g, request_finished
from flask.testing import FlaskClient
from marshmallow import Schema
from marshmallow import fields as mm_fields
from openapi_spec_validator import validate
from werkzeug.routing import Rule

from coder_mock import fastpath, openapi
from coder_mock.catalog import Catalog
from coder_mock.differences import PROFILES
from coder_mock.cli import main
from coder_mock.schemas import admin as admin_schemas
from coder_mock.schemas import fields
from coder_mock.schemas import faults as fault_schemas
from coder_mock.schemas.faults import FaultList, FaultRule
from coder_mock.schemas.common import Response as ResponseSchema
from coder_mock.schemas.general import (
    AvailableExperiments,
    BuildInfoResponse,
    CSPViolation,
    DeploymentConfig,
    DeploymentStats,
    SSHConfigResponse,
    TokenConfig,
    UpdateCheckResponse,
)
from coder_mock.schemas.scenario import OPERATIONS as SCENARIO_OPERATION_IDS
from coder_mock.store import Store
from coder_mock.wire import to_wire
from conftest import BUILTIN_SCENARIOS
from openapi_helpers import (
    AUTH_HEADERS,
    CSP_REPORT,
    GENERAL_REQUESTS,
    check_response,
    find_operation,
    override_catalog,
    response_schema,
    schema_errors,
    send,
    sweep_statuses,
    to_json_schema,
)

PUBLIC, TOKEN, OWNER = "public", "token", "owner"
TOKEN_SECURITY = [
    {"CoderSessionToken": []},
    {"CoderSessionCookie": []},
    {"CoderSessionQuery": []},
    {"BearerToken": []},
    {"AccessTokenQuery": []},
]
DOCUMENTED_PREFIXES = ("/api/v2", "/__admin")

EXPECTED_OPERATIONS = {
    ("GET", "/api/v2/"): ("api-root-handler", "General", PUBLIC),
    ("GET", "/api/v2/buildinfo"): ("build-info", "General", PUBLIC),
    ("POST", "/api/v2/csp/reports"): ("report-csp-violations", "General", PUBLIC),
    ("GET", "/api/v2/deployment/config"): ("get-deployment-config", "General", OWNER),
    ("GET", "/api/v2/deployment/ssh"): ("ssh-config", "General", TOKEN),
    ("GET", "/api/v2/deployment/stats"): ("get-deployment-stats", "General", OWNER),
    ("GET", "/api/v2/experiments"): ("get-enabled-experiments", "General", TOKEN),
    ("GET", "/api/v2/experiments/available"): ("get-safe-experiments", "General", TOKEN),
    ("GET", "/api/v2/updatecheck"): ("update-check", "General", PUBLIC),
    ("GET", "/api/v2/users/{user}/keys/tokens/tokenconfig"): ("get-token-config", "General", TOKEN),
    ("GET", "/__admin/health"): ("admin-health", "Admin", PUBLIC),
    ("GET", "/__admin/scenarios"): ("admin-list-scenarios", "Admin", PUBLIC),
    ("GET", "/__admin/scenario"): ("admin-get-scenario", "Admin", PUBLIC),
    ("PUT", "/__admin/scenario"): ("admin-switch-scenario", "Admin", PUBLIC),
    ("POST", "/__admin/reset"): ("admin-reset", "Admin", PUBLIC),
    ("GET", "/__admin/requests"): ("admin-list-requests", "Admin", PUBLIC),
    ("GET", "/__admin/requests/count"): ("admin-count-requests", "Admin", PUBLIC),
    ("DELETE", "/__admin/requests"): ("admin-clear-requests", "Admin", PUBLIC),
    ("GET", "/__admin/faults"): ("admin-list-faults", "Admin", PUBLIC),
    ("PUT", "/__admin/faults"): ("admin-replace-faults", "Admin", PUBLIC),
    ("POST", "/__admin/faults"): ("admin-add-fault", "Admin", PUBLIC),
    ("DELETE", "/__admin/faults"): ("admin-clear-faults", "Admin", PUBLIC),
    ("GET", "/__admin/sessions"): ("admin-list-sessions", "Admin", PUBLIC),
    ("POST", "/__admin/sessions"): ("admin-create-session", "Admin", PUBLIC),
    ("DELETE", "/__admin/sessions/{session_id}"): ("admin-end-session", "Admin", PUBLIC),
    ("GET", "/swagger/doc.json"): ("admin-openapi-document", "Admin", PUBLIC),
    ("GET", "/__admin/"): ("admin-page", "Admin", PUBLIC),
}
ALIASES = {("GET", "/api/v2"): ("GET", "/api/v2/"), ("GET", "/__admin"): ("GET", "/__admin/")}
"""Paths that serve the same operation as another path, and so carry no operation ID."""

ROOT_SCHEMAS: tuple[type[Schema], ...] = (
    ResponseSchema,
    BuildInfoResponse,
    CSPViolation,
    DeploymentConfig,
    SSHConfigResponse,
    DeploymentStats,
    AvailableExperiments,
    UpdateCheckResponse,
    TokenConfig,
    admin_schemas.AdminHealth,
    admin_schemas.AdminScenarioList,
    admin_schemas.AdminScenario,
    admin_schemas.AdminScenarioSwitch,
    admin_schemas.AdminError,
    admin_schemas.AdminJournal,
    admin_schemas.AdminJournalCount,
    admin_schemas.AdminJournalCleared,
    FaultList,
    FaultRule,
    admin_schemas.AdminFaultList,
    admin_schemas.AdminFaultsCleared,
    admin_schemas.AdminSessionList,
    admin_schemas.AdminSession,
    admin_schemas.AdminSessionCreate,
)
"""The schemas the operations name. The components are these and every schema they nest."""

@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build_document()


# --- converting OpenAPI 3.0 schemas to JSON Schema ---------------------------


def test_converter_honours_nullable() -> None:
    assert to_json_schema({"type": "array", "items": {"type": "string"}, "nullable": True}) == {
        "type": ["array", "null"],
        "items": {"type": "string"},
    }
    assert to_json_schema({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    assert to_json_schema({"$ref": "#/components/schemas/Group", "nullable": True}) == {
        "anyOf": [{"$ref": "#/$defs/Group"}, {"type": "null"}],
    }


def test_converter_keeps_properties_named_like_keywords() -> None:
    schema = {"type": "object", "properties": {"nullable": {"type": "boolean"}, "items": {"type": "string"}}}

    assert to_json_schema(schema) == schema


# --- the document itself ---------------------------------------------------


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    assert validate(document) is None
    assert document["openapi"] == "3.0.3"


@pytest.mark.parametrize("profile", PROFILES)
def test_document_is_built_once(profile: str) -> None:
    openapi.build_document(profile)
    misses = openapi.cached_document.cache_info().misses
    first = openapi.build_document(profile)
    first["paths"].clear()

    assert openapi.build_document(profile)["paths"] != {}
    assert openapi.cached_document.cache_info().misses == misses
    assert openapi.wire_document.cache_info().misses == 1


def test_security_schemes(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"] == {
        "CoderSessionToken": {"type": "apiKey", "in": "header", "name": "Coder-Session-Token"},
        "CoderSessionCookie": {"type": "apiKey", "in": "cookie", "name": "coder_session_token"},
        "CoderSessionQuery": {"type": "apiKey", "in": "query", "name": "coder_session_token"},
        "BearerToken": {"type": "http", "scheme": "bearer", "description": "The session token as a bearer token."},
        "AccessTokenQuery": {
            "type": "apiKey",
            "in": "query",
            "name": "access_token",
            "description": "The session token in the query parameter coderd accepts from OAuth2 clients.",
        },
    }


def served_routes(app: Flask) -> dict[tuple[str, str], Rule]:
    """Return every (method, OpenAPI path) the app routes under the documented prefixes."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(DOCUMENTED_PREFIXES) and rule.rule != openapi.DOCUMENT_PATH:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes[(method, openapi.openapi_path(rule.rule))] = rule
    return routes


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def test_every_route_is_documented(app: Flask, document: dict[str, Any]) -> None:
    routes = served_routes(app)

    assert sorted(set(routes) - documented_operations(document)) == []
    assert sorted(documented_operations(document) - set(routes)) == []
    assert set(routes) == set(EXPECTED_OPERATIONS) | set(ALIASES)


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED_OPERATIONS))
def test_operation_id_tag_and_security(document: dict[str, Any], method: str, path: str) -> None:
    operation = document["paths"][path][method.lower()]
    operation_id, tag, access = EXPECTED_OPERATIONS[(method, path)]

    assert operation["operationId"] == operation_id
    assert operation["tags"] == [tag]
    assert operation["security"] == ([] if access == PUBLIC else TOKEN_SECURITY)


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED_OPERATIONS))
def test_error_responses(document: dict[str, Any], method: str, path: str) -> None:
    operation = document["paths"][path][method.lower()]
    operation_id, tag, access = EXPECTED_OPERATIONS[(method, path)]
    expected = {"200", "405"}
    if tag == "General":
        expected |= {"404", "429", "500", "4XX", "5XX"}
    if access != PUBLIC:
        expected.add("401")
    if access == OWNER:
        expected.add("403")
    if operation_id in ("get-deployment-stats", "get-token-config", "admin-switch-scenario", "admin-list-requests",
                        "admin-count-requests", "admin-replace-faults", "admin-add-fault"):
        expected.add("400")
    if operation_id in ("admin-switch-scenario", "admin-list-faults", "admin-replace-faults", "admin-add-fault",
                        "admin-clear-faults"):
        expected.add("404")
    if operation_id == "admin-create-session":
        expected = expected - {"200"} | {"201", "400", "404"}
    if operation_id == "admin-end-session":
        expected = expected - {"200"} | {"204", "404"}
    if operation_id == "report-csp-violations":
        expected |= {"400", "413"}

    assert set(operation["responses"]) == expected


def test_general_operation_ids_match_scenario_overrides(document: dict[str, Any]) -> None:
    general_ids = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if operation["tags"] == ["General"] and "operationId" in operation
    }

    assert general_ids == set(SCENARIO_OPERATION_IDS)


@pytest.mark.parametrize(("alias", "target"), sorted(ALIASES.items()))
def test_alias_repeats_its_target(document: dict[str, Any], alias: tuple[str, str], target: tuple[str, str]) -> None:
    aliased = dict(document["paths"][alias[1]][alias[0].lower()])
    original = dict(document["paths"][target[1]][target[0].lower()])
    operation_id = original.pop("operationId")

    assert aliased.pop("description") == f"The same operation as `{operation_id}` at {target[1]}."
    original.pop("description", None)
    assert aliased == original


def test_token_config_user_parameter(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/v2/users/{user}/keys/tokens/tokenconfig"]["get"]

    assert [parameter["name"] for parameter in operation["parameters"]] == ["user"]
    assert operation["parameters"][0]["in"] == "path"
    assert operation["parameters"][0]["required"] is True
    assert operation["parameters"][0]["schema"] == {"type": "string"}


def test_csp_report_request_and_response_bodies(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/v2/csp/reports"]["post"]
    content = operation["requestBody"]["content"]

    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/CSPViolation"}
    assert content["application/csp-report"]["schema"] == {"$ref": "#/components/schemas/CSPViolation"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {"type": "string", "enum": ["ok"]}


def test_experiment_response_bodies(document: dict[str, Any]) -> None:
    enabled = document["paths"]["/api/v2/experiments"]["get"]["responses"]["200"]
    available = document["paths"]["/api/v2/experiments/available"]["get"]["responses"]["200"]

    assert enabled["content"]["application/json"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert available["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AvailableExperiments"}


@pytest.fixture
def served_operation_ids(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Collect the operation ID each request handler records in `g.operation`."""
    recorded: list[str] = []
    # Flask sends request_finished only for requests it dispatches, so the fast path is turned off.
    monkeypatch.setattr(fastpath, "fast_path_applies", lambda store, environ: False)

    def record(sender: Flask, response: Any, **extra: Any) -> None:
        recorded.append(g.get("operation", "-"))

    request_finished.connect(record, app)
    yield recorded
    request_finished.disconnect(record, app)


@pytest.mark.parametrize(("method", "path"), [key for key in sorted(EXPECTED_OPERATIONS) if key[1].startswith("/api/v2")])
def test_documented_access_matches_server(client: FlaskClient, served_operation_ids: list[str], document: dict[str, Any],
                                          method: str, path: str) -> None:
    operation = document["paths"][path][method.lower()]
    url = path.replace("{user}", "me")
    body = json.dumps(CSP_REPORT) if method == "POST" else None

    anonymous = client.open(url, method=method, data=body)
    member = client.open(url, method=method, data=body, headers=AUTH_HEADERS["member-token"])

    assert served_operation_ids == [operation["operationId"]] * 2
    assert (anonymous.status_code == 401) == (operation["security"] != [])
    assert (member.status_code == 403) == ("403" in operation["responses"])


# --- components against the marshmallow schemas -----------------------------


def nested_schema(schema_field: mm_fields.Field) -> Schema | None:
    if isinstance(schema_field, mm_fields.List):
        schema_field = schema_field.inner
    if isinstance(schema_field, mm_fields.Nested):
        return schema_field.schema
    return None


def component_schemas() -> dict[str, Schema]:
    """Return every schema the operations reach, by class name."""
    found: dict[str, Schema] = {}
    pending = [root() for root in ROOT_SCHEMAS]
    while pending:
        schema = pending.pop()
        name = type(schema).__name__
        if name in found:
            assert type(found[name]) is type(schema), f"two schema classes are named {name}"
            continue
        found[name] = schema
        pending.extend(nested for nested in map(nested_schema, schema.fields.values()) if nested is not None)
    return found


COMPONENT_SCHEMAS = component_schemas()


def test_components_are_the_reachable_schemas(document: dict[str, Any]) -> None:
    assert sorted(document["components"]["schemas"]) == sorted(COMPONENT_SCHEMAS)


def test_components_use_coder_type_names(document: dict[str, Any]) -> None:
    names = set(document["components"]["schemas"])

    assert {
        "BuildInfoResponse", "DeploymentConfig", "DeploymentValues", "SSHConfigResponse", "DeploymentStats",
        "UpdateCheckResponse", "TokenConfig", "Response", "ValidationError", "AvailableExperiments", "Option",
        "Group", "CSPViolation",
    } <= names


@pytest.mark.parametrize("name", sorted(COMPONENT_SCHEMAS))
def test_component_fields_match_schema(document: dict[str, Any], name: str) -> None:
    schema = COMPONENT_SCHEMAS[name]
    component = document["components"]["schemas"][name]

    assert list(component["properties"]) == [field.data_key or key for key, field in schema.fields.items()]
    assert "additionalProperties" not in component


@pytest.mark.parametrize("name", sorted(COMPONENT_SCHEMAS))
def test_component_required_is_always_on_wire(document: dict[str, Any], name: str) -> None:
    # to_wire drops every field that Go's omitempty can drop when given no values,
    # and fields that only newer servers send are never required.
    schema = COMPONENT_SCHEMAS[name]
    always_sent = [key for key in to_wire(schema, {}) if not schema.fields.get(key, None) or not schema.fields[key].metadata.get("since")]

    assert document["components"]["schemas"][name].get("required", []) == always_sent


@pytest.mark.parametrize("name", sorted(COMPONENT_SCHEMAS))
def test_component_nullable_fields(document: dict[str, Any], name: str) -> None:
    schema = COMPONENT_SCHEMAS[name]
    properties = document["components"]["schemas"][name]["properties"]
    collections = (fields.StringList, fields.StringMap, fields.AnyMap, mm_fields.List)
    # Admin bodies send null only where a field allows it, such as a journal entry's session.
    expected = [key for key, field in schema.fields.items() if field.allow_none]
    if not isinstance(schema, admin_schemas.AdminSchema):
        # A nil slice or map that omitempty keeps is sent as null.
        wire = to_wire(schema, {})
        expected = [key for key, field in schema.fields.items()
                    if isinstance(field, collections) and (field.data_key or key) in wire]

    nullable = [key for key, field in schema.fields.items() if properties[field.data_key or key].get("nullable")]
    assert nullable == expected


SEMVER_PATTERN = fields._SEMVER.pattern
EXPECTED_PROPERTIES: dict[type[mm_fields.Field], Any] = {
    fields.String: {"type": "string"},
    fields.Regexp: {"type": "string"},
    fields.URL: {"type": "string"},
    fields.Bool: {"type": "boolean"},
    fields.Int: {"type": "integer", "format": "int64"},
    fields.Duration: {"type": "integer", "format": "int64"},
    fields.Number: {"type": "number"},
    fields.SemVer: {"type": "string", "pattern": SEMVER_PATTERN},
    fields.Timestamp: {"type": "string", "format": "date-time"},
    fields.UUID: {"type": "string", "format": "uuid"},
    fields.StringList: {"type": "array", "items": {"type": "string"}},
    fields.StringMap: {"type": "object", "additionalProperties": {"type": "string"}},
    fields.AnyMap: {"type": "object"},
    fault_schemas.GoDuration: {"type": "string"},
    fault_schemas.Operation: {"type": "string"},
    fault_schemas.Probability: {"type": "number"},
    fault_schemas.Delay: {},
    fields.AnyValue: {},
}


def expected_property(schema_field: mm_fields.Field) -> dict[str, Any]:
    if isinstance(schema_field, fields.Enum):
        return {"type": "string", "enum": list(schema_field.choices)}
    if isinstance(schema_field, mm_fields.Nested):
        return {"$ref": f"#/components/schemas/{type(schema_field.schema).__name__}"}
    if isinstance(schema_field, mm_fields.List):
        return {"type": "array", "items": expected_property(schema_field.inner)}
    expected = dict(EXPECTED_PROPERTIES[type(schema_field)])
    for validator in schema_field.validators:
        # A field's regular expression becomes the property's pattern.
        expected["pattern"] = validator.regex.pattern
    return expected


@pytest.mark.parametrize("name", sorted(COMPONENT_SCHEMAS))
def test_component_property_types(document: dict[str, Any], name: str) -> None:
    properties = document["components"]["schemas"][name]["properties"]

    for key, schema_field in COMPONENT_SCHEMAS[name].fields.items():
        documented = dict(properties[schema_field.data_key or key])
        documented.pop("nullable", None)
        assert documented == expected_property(schema_field), f"{name}.{key}"


# --- serving the document ----------------------------------------------------


def test_cli_prints_document(capsys: pytest.CaptureFixture[str], document: dict[str, Any]) -> None:
    status = main(["openapi"])
    output = capsys.readouterr()

    assert status == 0
    assert json.loads(output.out) == document
    assert output.out == json.dumps(document, indent=2) + "\n"
    assert output.err == ""


def test_document_is_served(client: FlaskClient, document: dict[str, Any]) -> None:
    response = client.get(openapi.DOCUMENT_PATH)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == document


# --- responses against the document ------------------------------------------


@pytest.mark.parametrize("request_name", sorted(GENERAL_REQUESTS))
@pytest.mark.parametrize("auth", sorted(AUTH_HEADERS))
@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS)
def test_general_response_matches_document(app: Flask, client: FlaskClient, store: Store, document: dict[str, Any],
                                           scenario: str, auth: str, request_name: str) -> None:
    store.switch(scenario)
    method, url, body = GENERAL_REQUESTS[request_name]

    response = send(client, request_name, auth)

    assert check_response(app, document, method, url, response, closed=True) == []


@pytest.fixture(scope="module")
def catalog_with_overrides(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The built-ins plus scenarios whose overrides send a 404, a 418 and a 503."""
    return override_catalog(tmp_path_factory.mktemp("scenarios"))


def test_responses_reach_every_documented_status(catalog_with_overrides: Catalog, document: dict[str, Any]) -> None:
    errors, seen = sweep_statuses(catalog_with_overrides, document, "wire", closed=True)

    assert errors == []
    for operation_id, statuses in sorted(seen.items()):
        operation = find_operation(document, operation_id)
        # 405 needs another method, so test_wrong_method_matches_document covers it.
        assert statuses == set(operation["responses"]) - {"405"}, operation_id


@pytest.mark.parametrize("path", sorted({path for method, path in EXPECTED_OPERATIONS} | {"/api/v2"}))
def test_wrong_method_matches_document(app: Flask, client: FlaskClient, document: dict[str, Any], path: str) -> None:
    url = path.replace("{user}", "me")
    methods = set(document["paths"][path])
    wrong = "DELETE" if "delete" not in methods else "PATCH"

    response = client.open(url, method=wrong)

    assert response.status_code == 405
    # Flask adds OPTIONS to the admin routes, which the document leaves out.
    allowed = set(response.headers["Allow"].split(", ")) - {"OPTIONS"}
    assert allowed == {method.upper() for method in methods}
    any_operation = next(iter(document["paths"][path].values()))
    schema = response_schema(document, any_operation, 405)
    assert schema_errors(document, schema, response.get_json(), closed=True) == []


ADMIN_REQUESTS: dict[str, tuple[str, str, str | None]] = {
    "health": ("GET", "/__admin/health", None),
    "scenarios": ("GET", "/__admin/scenarios", None),
    "scenario": ("GET", "/__admin/scenario", None),
    "switch": ("PUT", "/__admin/scenario", '{"name": "outdated", "seed": 3}'),
    "switch-without-seed": ("PUT", "/__admin/scenario", '{"name": "minimal"}'),
    "switch-invalid-json": ("PUT", "/__admin/scenario", "{"),
    "switch-not-object": ("PUT", "/__admin/scenario", "[]"),
    "switch-missing-name": ("PUT", "/__admin/scenario", "{}"),
    "switch-invalid-name": ("PUT", "/__admin/scenario", '{"name": "../etc"}'),
    "switch-invalid-seed": ("PUT", "/__admin/scenario", '{"name": "outdated", "seed": "3"}'),
    "switch-unknown": ("PUT", "/__admin/scenario", '{"name": "no-such-scenario"}'),
    "reset": ("POST", "/__admin/reset", None),
    "requests": ("GET", "/__admin/requests", None),
    "requests-filtered": ("GET", "/__admin/requests?method=get&limit=1", None),
    "requests-invalid-filter": ("GET", "/__admin/requests?status=ok", None),
    "requests-count": ("GET", "/__admin/requests/count", None),
    "requests-clear": ("DELETE", "/__admin/requests", None),
    "sessions": ("GET", "/__admin/sessions", None),
    "session-create": ("POST", "/__admin/sessions", '{"scenario": "outdated", "seed": 3}'),
    "session-create-unknown": ("POST", "/__admin/sessions", '{"scenario": "no-such-scenario"}'),
    "session-create-invalid": ("POST", "/__admin/sessions", '{"scenario": 7}'),
    "session-end-unknown": ("DELETE", "/__admin/sessions/no-such-session", None),
}
ADMIN_STATUSES = {
    "switch-invalid-json": 400,
    "switch-not-object": 400,
    "switch-missing-name": 400,
    "switch-invalid-name": 400,
    "switch-invalid-seed": 400,
    "switch-unknown": 404,
    "requests-invalid-filter": 400,
    "session-create": 201,
    "session-create-unknown": 404,
    "session-create-invalid": 400,
    "session-end-unknown": 404,
}


@pytest.mark.parametrize("request_name", sorted(ADMIN_REQUESTS))
def test_admin_response_matches_document(app: Flask, client: FlaskClient, document: dict[str, Any],
                                         request_name: str) -> None:
    method, url, body = ADMIN_REQUESTS[request_name]

    response = client.open(url, method=method, data=body)

    assert response.status_code == ADMIN_STATUSES.get(request_name, 200)
    assert check_response(app, document, method, url, response, closed=True) == []


@pytest.mark.parametrize("request_name", ["switch", "switch-without-seed"])
def test_admin_request_body_matches_document(document: dict[str, Any], request_name: str) -> None:
    method, url, body = ADMIN_REQUESTS[request_name]
    schema = document["paths"][url][method.lower()]["requestBody"]["content"]["application/json"]["schema"]

    assert schema_errors(document, schema, json.loads(body or "null")) == []


def test_csp_request_body_matches_document(document: dict[str, Any]) -> None:
    schema = document["paths"]["/api/v2/csp/reports"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    # Browsers send numbers as well as strings inside the report.
    report = {"csp-report": {"document-uri": "https://coder.example.com/", "line-number": 12, "status-code": 200}}

    assert schema_errors(document, schema, CSP_REPORT) == []
    assert schema_errors(document, schema, report) == []
