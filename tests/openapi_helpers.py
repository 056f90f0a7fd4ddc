"""Helpers that check responses against coder-mock's OpenAPI documents, shared by the OpenAPI tests.

Response bodies are checked with jsonschema after converting the document's
OpenAPI 3.0 schemas to JSON Schema 2020-12: `nullable` becomes a "null" type
and component references point into `$defs`. The helpers that check bodies
return the schema errors, so that the test's own assert shows them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse

from coder_mock import openapi
from coder_mock.app import create_app
from coder_mock.catalog import Catalog, load_catalog
from coder_mock.store import Store
from conftest import BUILTIN_SCENARIOS, MEMBER_TOKEN, OWNER_ID, OWNER_TOKEN

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
OVERRIDE_SCENARIOS = {"not-found": 404, "teapot": 418, "unavailable": 503}
"""Scenarios of `override_catalog`, with the status every operation of each responds with."""

# OpenAPI 3.0 keywords that JSON Schema 2020-12 lacks or reads differently.
OPENAPI_ONLY_KEYWORDS = {"nullable", "example", "discriminator", "xml", "externalDocs"}
SCHEMA_LIST_KEYWORDS = {"allOf", "anyOf", "oneOf"}
SCHEMA_KEYWORDS = {"items", "not", "additionalProperties"}


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


def to_json_schema(schema: Any, closed: bool = False) -> Any:
    """Convert one OpenAPI 3.0 schema object to JSON Schema 2020-12, with component references into `$defs`.

    `closed` rejects properties that an object schema does not list, unless it
    sets `additionalProperties` itself.
    """
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
            converted[key] = {name: to_json_schema(item, closed) for name, item in value.items()}
        elif key in SCHEMA_LIST_KEYWORDS:
            converted[key] = [to_json_schema(item, closed) for item in value]
        elif key in SCHEMA_KEYWORDS:
            converted[key] = to_json_schema(value, closed)
        else:
            converted[key] = value
    if closed and "properties" in schema and "additionalProperties" not in schema:
        converted["additionalProperties"] = False

    if not schema.get("nullable"):
        return converted
    if "type" not in converted:
        return {"anyOf": [converted, {"type": "null"}]}
    converted["type"] = [converted["type"], "null"]
    if "enum" in converted:
        converted["enum"] = [*converted["enum"], None]
    return converted


_validators: dict[str, Draft202012Validator] = {}


def validator_for(document: dict[str, Any], schema: dict[str, Any], closed: bool = False) -> Draft202012Validator:
    """Return a validator for `schema`, built once per distinct schema because the `$defs` are large."""
    key = json.dumps([document["components"]["schemas"], schema, closed], sort_keys=True)
    if key not in _validators:
        root = to_json_schema(schema, closed)
        root["$defs"] = {name: to_json_schema(item, closed) for name, item in document["components"]["schemas"].items()}
        Draft202012Validator.check_schema(root)
        _validators[key] = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return _validators[key]


def schema_errors(document: dict[str, Any], schema: dict[str, Any], body: Any, closed: bool = False) -> list[str]:
    errors = validator_for(document, schema, closed).iter_errors(body)
    return [f"{error.json_path}: {error.message}" for error in errors]


# --- responses against a document --------------------------------------------


def response_schema(document: dict[str, Any], operation: dict[str, Any], status: int) -> dict[str, Any]:
    """Return the body schema the operation documents for an exact status code, failing when there is none."""
    responses = operation["responses"]
    assert str(status) in responses, f"{operation.get('operationId')} does not document status {status}"
    documented = resolve(document, responses[str(status)])
    return documented["content"]["application/json"]["schema"]


def documented_operation(app: Flask, document: dict[str, Any], method: str, url: str) -> dict[str, Any]:
    rule, arguments = app.url_map.bind("localhost").match(url.split("?")[0], method, return_rule=True)
    return document["paths"][openapi.openapi_path(rule.rule)][method.lower()]


def check_response(app: Flask, document: dict[str, Any], method: str, url: str, response: TestResponse,
                   closed: bool = False) -> list[str]:
    """Return the schema errors of `response` against the document, after checking its status and media type."""
    operation = documented_operation(app, document, method, url)
    schema = response_schema(document, operation, response.status_code)
    assert response.mimetype == "application/json", f"{method} {url} sent {response.mimetype}"
    return schema_errors(document, schema, json.loads(response.get_data()), closed)


def send(client: FlaskClient, request: str, auth: str) -> TestResponse:
    method, url, body = GENERAL_REQUESTS[request]
    return client.open(url, method=method, data=body, headers=AUTH_HEADERS[auth])


def override_catalog(folder: Path) -> Catalog:
    """Return the built-ins plus the scenarios of OVERRIDE_SCENARIOS, written into `folder`."""
    for name, status in OVERRIDE_SCENARIOS.items():
        (folder / f"{name}.yaml").write_text(
            f"extends: default\ndescription: Every operation responds with {status}.\noverrides:\n  all: {{status: {status}}}\n"
        )
    return load_catalog([folder])


def find_operation(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    return next(item[method] for item in document["paths"].values() for method in item
                if item[method].get("operationId") == operation_id)


def sweep_statuses(catalog: Catalog, document: dict[str, Any], profile: str,
                   closed: bool = False) -> tuple[list[str], dict[str, set[str]]]:
    """Send every General request with every auth state in each built-in and override scenario, in `profile`.

    Return the schema errors, each prefixed with the scenario, auth state and
    request, and the documented status keys each operation was seen to send.
    A status the operation does not list is looked up as its class, such as 4XX.
    """
    store = Store(catalog, "default", profile=profile)
    app = create_app(store, quiet=True)
    client = app.test_client()
    errors: list[str] = []
    seen: dict[str, set[str]] = {}

    for scenario in (*BUILTIN_SCENARIOS, *OVERRIDE_SCENARIOS):
        store.switch(scenario)
        for auth in AUTH_HEADERS:
            for request_name, (method, url, body) in GENERAL_REQUESTS.items():
                response = send(client, request_name, auth)
                operation = documented_operation(app, document, method, url)
                status = str(response.status_code)
                documented_as = status if status in operation["responses"] else status[0] + "XX"
                schema = resolve(document, operation["responses"][documented_as])["content"]["application/json"]["schema"]

                for error in schema_errors(document, schema, response.get_json(), closed):
                    errors.append(f"{scenario} {auth} {request_name}: {error}")
                if "operationId" in operation:
                    seen.setdefault(operation["operationId"], set()).add(documented_as)
    return errors, seen
