"""The OpenAPI document: valid, complete, true to the schemas, and true to what the server sends.

Response bodies are checked with jsonschema after converting the document's
OpenAPI 3.0 schemas to JSON Schema 2020-12: `nullable` becomes a "null" type
and component references point into `$defs`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask, g, request_finished
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from marshmallow import Schema
from marshmallow import fields as mm_fields
from openapi_spec_validator import validate
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from coder_mock import openapi
from coder_mock.app import create_app
from coder_mock.catalog import Catalog, load_catalog
from coder_mock.cli import main
from coder_mock.schemas import admin as admin_schemas
from coder_mock.schemas import fields
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
from conftest import BUILTIN_SCENARIOS, MEMBER_TOKEN, OWNER_ID, OWNER_TOKEN

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
    ("GET", "/swagger/doc.json"): ("admin-openapi-document", "Admin", PUBLIC),
}
ALIASES = {("GET", "/api/v2"): ("GET", "/api/v2/")}
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
)
"""The schemas the operations name. The components are these and every schema they nest."""

CSP_REPORT = {"csp-report": {"document-uri": "https://coder.example.com/", "violated-directive": "img-src"}}
TOO_LARGE_CSP_REPORT = json.dumps({"csp-report": {"document-uri": "x" * 70000}})

GENERAL_REQUESTS: dict[str, tuple[str, str, str | None]] = {
    "root": ("GET", "/api/v2/", None),
    "root-without-slash": ("GET", "/api/v2", None),
    "buildinfo": ("GET", "/api/v2/buildinfo", None),
    "csp-report": ("POST", "/api/v2/csp/reports", json.dumps(CSP_REPORT)),
    "csp-report-invalid-json": ("POST", "/api/v2/csp/reports", '{"csp-report": '),
    "csp-report-not-object": ("POST", "/api/v2/csp/reports", '{"csp-report": 7}'),
    "csp-report-too-large": ("POST", "/api/v2/csp/reports", TOO_LARGE_CSP_REPORT),
    "deployment-config": ("GET", "/api/v2/deployment/config", None),
    "deployment-ssh": ("GET", "/api/v2/deployment/ssh", None),
    "deployment-stats": ("GET", "/api/v2/deployment/stats", None),
    "experiments": ("GET", "/api/v2/experiments", None),
    "experiments-available": ("GET", "/api/v2/experiments/available", None),
    "updatecheck": ("GET", "/api/v2/updatecheck", None),
    "tokenconfig-me": ("GET", "/api/v2/users/me/keys/tokens/tokenconfig", None),
    "tokenconfig-owner-id": ("GET", f"/api/v2/users/{OWNER_ID}/keys/tokens/tokenconfig", None),
    "tokenconfig-member-name": ("GET", "/api/v2/users/Member/keys/tokens/tokenconfig", None),
    "tokenconfig-unknown-user": ("GET", "/api/v2/users/nobody/keys/tokens/tokenconfig", None),
}
AUTH_HEADERS = {
    "no-token": {},
    "member-token": {"Coder-Session-Token": MEMBER_TOKEN},
    "owner-token": {"Coder-Session-Token": OWNER_TOKEN},
}

# OpenAPI 3.0 keywords that JSON Schema 2020-12 lacks or reads differently.
OPENAPI_ONLY_KEYWORDS = {"nullable", "example", "discriminator", "xml", "externalDocs"}
SCHEMA_LIST_KEYWORDS = {"allOf", "anyOf", "oneOf"}
SCHEMA_KEYWORDS = {"items", "not", "additionalProperties"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build_document()


# --- converting OpenAPI 3.0 schemas to JSON Schema ---------------------------


def unescape_pointer(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref` links within the document until a node without one is reached."""
    while "$ref" in node:
        reference = node["$ref"]
        assert reference.startswith("#/"), f"only local references are expected, got {reference}"
        target: Any = document
        for token in reference[2:].split("/"):
            target = target[unescape_pointer(token)]
        node = target
    return node


def to_json_schema(schema: Any) -> Any:
    """Convert one OpenAPI 3.0 schema object to JSON Schema 2020-12, with component references into `$defs`."""
    if not isinstance(schema, dict):
        return schema
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in OPENAPI_ONLY_KEYWORDS:
            continue
        if key == "$ref":
            prefix = "#/components/schemas/"
            assert value.startswith(prefix), f"a schema may only reference a schema component, got {value}"
            converted[key] = "#/$defs/" + value[len(prefix):]
        elif key == "properties":
            converted[key] = {name: to_json_schema(item) for name, item in value.items()}
        elif key in SCHEMA_LIST_KEYWORDS:
            converted[key] = [to_json_schema(item) for item in value]
        elif key in SCHEMA_KEYWORDS:
            converted[key] = to_json_schema(value)
        else:
            converted[key] = value

    if not schema.get("nullable"):
        return converted
    if "type" not in converted:
        return {"anyOf": [converted, {"type": "null"}]}
    converted["type"] = [converted["type"], "null"]
    if "enum" in converted:
        converted["enum"] = [*converted["enum"], None]
    return converted


_validators: dict[str, Draft202012Validator] = {}


def validator_for(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """Return a validator for `schema`, built once per distinct schema because the `$defs` are large."""
    key = json.dumps([document["components"]["schemas"], schema], sort_keys=True)
    if key not in _validators:
        root = to_json_schema(schema)
        root["$defs"] = {name: to_json_schema(item) for name, item in document["components"]["schemas"].items()}
        Draft202012Validator.check_schema(root)
        _validators[key] = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return _validators[key]


def schema_errors(document: dict[str, Any], schema: dict[str, Any], body: Any) -> list[str]:
    errors = validator_for(document, schema).iter_errors(body)
    return [f"{error.json_path}: {error.message}" for error in errors]


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


def test_document_is_built_once() -> None:
    first = openapi.build_document()
    first["paths"].clear()

    assert openapi.cached_document.cache_info().misses == 1
    assert openapi.build_document()["paths"] != {}


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
    if operation_id in ("get-deployment-stats", "get-token-config", "admin-switch-scenario"):
        expected.add("400")
    if operation_id == "admin-switch-scenario":
        expected.add("404")
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
def served_operation_ids(app: Flask) -> Iterator[list[str]]:
    """Collect the operation ID each request handler records in `g.operation`."""
    recorded: list[str] = []

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
    # to_wire drops every field that Go's omitempty can drop when given no values.
    always_sent = list(to_wire(COMPONENT_SCHEMAS[name], {}))

    assert document["components"]["schemas"][name].get("required", []) == always_sent


@pytest.mark.parametrize("name", sorted(COMPONENT_SCHEMAS))
def test_component_nullable_fields(document: dict[str, Any], name: str) -> None:
    schema = COMPONENT_SCHEMAS[name]
    properties = document["components"]["schemas"][name]["properties"]
    collections = (fields.StringList, fields.StringMap, fields.AnyMap, mm_fields.List)
    expected = []
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
    fields.AnyValue: {},
}


def expected_property(schema_field: mm_fields.Field) -> dict[str, Any]:
    if isinstance(schema_field, fields.Enum):
        return {"type": "string", "enum": list(schema_field.choices)}
    if isinstance(schema_field, mm_fields.Nested):
        return {"$ref": f"#/components/schemas/{type(schema_field.schema).__name__}"}
    if isinstance(schema_field, mm_fields.List):
        return {"type": "array", "items": expected_property(schema_field.inner)}
    return EXPECTED_PROPERTIES[type(schema_field)]


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


def response_schema(document: dict[str, Any], operation: dict[str, Any], status: int) -> dict[str, Any]:
    """Return the body schema the operation documents for an exact status code, failing when there is none."""
    responses = operation["responses"]
    assert str(status) in responses, f"{operation.get('operationId')} does not document status {status}"
    documented = resolve(document, responses[str(status)])
    return documented["content"]["application/json"]["schema"]


def documented_operation(app: Flask, document: dict[str, Any], method: str, url: str) -> dict[str, Any]:
    rule, arguments = app.url_map.bind("localhost").match(url.split("?")[0], method, return_rule=True)
    return document["paths"][openapi.openapi_path(rule.rule)][method.lower()]


def check_response(app: Flask, document: dict[str, Any], method: str, url: str, response: TestResponse) -> list[str]:
    """Return the schema errors of `response` against the document, after checking its status and media type."""
    operation = documented_operation(app, document, method, url)
    schema = response_schema(document, operation, response.status_code)
    assert response.mimetype == "application/json"
    return schema_errors(document, schema, json.loads(response.get_data()))


def send(client: FlaskClient, request: str, auth: str) -> TestResponse:
    method, url, body = GENERAL_REQUESTS[request]
    return client.open(url, method=method, data=body, headers=AUTH_HEADERS[auth])


@pytest.mark.parametrize("request_name", sorted(GENERAL_REQUESTS))
@pytest.mark.parametrize("auth", sorted(AUTH_HEADERS))
@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS)
def test_general_response_matches_document(app: Flask, client: FlaskClient, store: Store, document: dict[str, Any],
                                           scenario: str, auth: str, request_name: str) -> None:
    store.switch(scenario)
    method, url, body = GENERAL_REQUESTS[request_name]

    response = send(client, request_name, auth)

    assert check_response(app, document, method, url, response) == []


@pytest.fixture(scope="module")
def catalog_with_overrides(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The built-ins plus scenarios whose overrides send a 404, a 418 and a 503."""
    folder: Path = tmp_path_factory.mktemp("scenarios")
    for name, status in (("not-found", 404), ("teapot", 418), ("unavailable", 503)):
        (folder / f"{name}.yaml").write_text(
            f"extends: default\ndescription: Every operation responds with {status}.\noverrides:\n  all: {{status: {status}}}\n"
        )
    return load_catalog([folder])


def test_responses_reach_every_documented_status(catalog_with_overrides: Catalog, document: dict[str, Any]) -> None:
    store = Store(catalog_with_overrides, "default")
    app = create_app(store, quiet=True)
    client = app.test_client()
    seen: dict[str, set[str]] = {}

    for scenario in (*BUILTIN_SCENARIOS, "not-found", "teapot", "unavailable"):
        store.switch(scenario)
        for auth in AUTH_HEADERS:
            for request_name, (method, url, body) in GENERAL_REQUESTS.items():
                response = send(client, request_name, auth)
                operation = documented_operation(app, document, method, url)
                status = str(response.status_code)
                documented_as = status if status in operation["responses"] else status[0] + "XX"
                schema = resolve(document, operation["responses"][documented_as])["content"]["application/json"]["schema"]

                assert schema_errors(document, schema, response.get_json()) == [], f"{scenario} {auth} {request_name}"
                if "operationId" in operation:
                    seen.setdefault(operation["operationId"], set()).add(documented_as)

    for operation_id, statuses in sorted(seen.items()):
        operation = next(item[method] for item in document["paths"].values() for method in item
                         if item[method].get("operationId") == operation_id)
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
    assert schema_errors(document, schema, response.get_json()) == []


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
}
ADMIN_STATUSES = {
    "switch-invalid-json": 400,
    "switch-not-object": 400,
    "switch-missing-name": 400,
    "switch-invalid-name": 400,
    "switch-invalid-seed": 400,
    "switch-unknown": 404,
}


@pytest.mark.parametrize("request_name", sorted(ADMIN_REQUESTS))
def test_admin_response_matches_document(app: Flask, client: FlaskClient, document: dict[str, Any],
                                         request_name: str) -> None:
    method, url, body = ADMIN_REQUESTS[request_name]

    response = client.open(url, method=method, data=body)

    assert response.status_code == ADMIN_STATUSES.get(request_name, 200)
    assert check_response(app, document, method, url, response) == []


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
