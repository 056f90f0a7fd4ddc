"""General responses against Coder's published OpenAPI document, in both profiles.

Coder's document is Swagger 2.0, whose schema objects are a subset of JSON
Schema draft 4. A schema becomes a draft 4 root by keeping it as is, leaving
out the vendor extensions (`x-...`), and putting swagger's `definitions` beside
it so that every `#/definitions/...` reference resolves. Draft 4 enforces
`required`, `type` and `enum`, and FORMAT_CHECKER below enforces the formats
date-time and uuid. A property that a definition does not list is allowed,
because swagger never sets `additionalProperties: false`.

In the reference profile every body must validate. In the wire profile each
failed validation is mapped to the key of a Difference in
coder_mock.differences. The keys seen per operation, scenario and caller must
equal the expected sets below, so a difference that is not listed fails, and
so does a listed one that stops happening.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Iterator, NamedTuple

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft4Validator, FormatChecker, ValidationError
from werkzeug.test import TestResponse

from coder_mock.app import create_app
from coder_mock.catalog import Catalog
from coder_mock.differences import DIFFERENCES
from coder_mock.schemas.scenario import OPERATIONS
from coder_mock.store import Store
from conftest import BUILTIN_SCENARIOS, MEMBER_TOKEN, OWNER_TOKEN, SWAGGER, UNKNOWN_TOKEN

PUBLIC, MEMBER, OWNER = "public", "member", "owner"

AUTH_TOKENS: dict[str, str | None] = {
    "none": None,
    "malformed": "abc",
    "unknown": UNKNOWN_TOKEN,
    "member": MEMBER_TOKEN,
    "owner": OWNER_TOKEN,
}
SIGNED_IN = {"member": MEMBER, "owner": OWNER}
"""The auth states whose token belongs to a user, with that user's role."""

WIRE_ACCESS = {
    "api-root-handler": PUBLIC,
    "build-info": PUBLIC,
    "report-csp-violations": PUBLIC,
    "get-deployment-config": OWNER,
    "ssh-config": MEMBER,
    "get-deployment-stats": OWNER,
    "get-enabled-experiments": MEMBER,
    "get-safe-experiments": MEMBER,
    "update-check": PUBLIC,
    "get-token-config": MEMBER,
}
"""Who may call each operation in the wire profile, as coderd decides."""

REFERENCE_ACCESS = {**WIRE_ACCESS, "report-csp-violations": MEMBER}
"""Who may call each operation in the reference profile, where CSP reports need a token."""

CSP_REPORT = {"csp-report": {"document-uri": "https://coder.example.com/", "violated-directive": "img-src"}}

# Expected wire differences. An operation's set applies whenever it returns
# 200, the scenario set is added in that scenario, and the anonymous set is
# added when a caller without a valid token gets 200.
EXPECTED = {
    "get-deployment-config": {
        "url-fields-strings", "host-port-strings", "struct-values-unwrapped", "regexp-objects", "empty-fields-omitted",
    },
    "get-safe-experiments": {"experiments-available-object"},
}
EXPECTED_IN_SCENARIO = {
    # Only this scenario enables a name outside the Experiment enum.
    ("experiments", "get-enabled-experiments"): {"experiments-unknown-names"},
}
EXPECTED_ANONYMOUS = {"report-csp-violations": {"csp-report-auth"}}

DIFFERENCE_OF_DEFINITION = {
    "serpent.URL": "url-fields-strings",
    "serpent.HostPort": "host-port-strings",
    "serpent.Struct-array_codersdk_ExternalAuthConfig": "struct-values-unwrapped",
    "serpent.Struct-array_codersdk_LinkConfig": "struct-values-unwrapped",
    "serpent.Regexp": "regexp-objects",
    "codersdk.Experiment": "experiments-unknown-names",
}
"""The difference that explains a failed validation against each definition."""

DIFFERENCE_OF_RESPONSE = {"get-safe-experiments": "experiments-available-object"}
"""The difference that explains a failed validation against an operation's own 200 schema."""

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

FORMAT_CHECKER = FormatChecker(formats=())
"""Format checker for date-time (RFC 3339) and uuid (hyphenated). Other formats are not checked."""


@FORMAT_CHECKER.checks("date-time")
def is_date_time(value: object) -> bool:
    return not isinstance(value, str) or _RFC3339.match(value) is not None


@FORMAT_CHECKER.checks("uuid", raises=ValueError)
def is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return str(uuid.UUID(value)) == value.lower()


# --- converting swagger 2.0 schemas to JSON Schema ---------------------------


def to_json_schema(schema: Any) -> Any:
    """Return a swagger 2.0 schema object as JSON Schema draft 4, without vendor extensions."""
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {}
    for key, value in schema.items():
        if key.startswith("x-"):
            continue
        if key == "properties":
            converted[key] = {name: to_json_schema(item) for name, item in value.items()}
        else:
            converted[key] = to_json_schema(value)
    return converted


class CoderValidator:
    """Validates bodies against swagger schemas, with every definition converted once."""

    def __init__(self, swagger: dict[str, Any]) -> None:
        self.definitions = {name: to_json_schema(item) for name, item in swagger["definitions"].items()}
        self.definition_names = {id(schema): name for name, schema in self.definitions.items()}
        Draft4Validator.check_schema({"definitions": self.definitions})

    def root(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {**to_json_schema(schema), "definitions": self.definitions}

    def errors(self, root: dict[str, Any], body: Any) -> list[ValidationError]:
        validator = Draft4Validator(root, format_checker=FORMAT_CHECKER)
        return sorted(validator.iter_errors(body), key=lambda error: (error.json_path, error.message))

    def definition_of(self, error: ValidationError) -> str | None:
        """Return the definition whose own keyword failed, or None for a keyword outside definitions."""
        return self.definition_names.get(id(error.schema))


def describe(error: ValidationError) -> str:
    return f"{error.json_path}: {error.message}"


# --- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def swagger() -> dict[str, Any]:
    if not SWAGGER.is_file():
        pytest.skip(f"Coder's OpenAPI document is absent at {SWAGGER}, and these tests validate against it")
    return json.loads(SWAGGER.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def coder(swagger: dict[str, Any]) -> CoderValidator:
    return CoderValidator(swagger)


@pytest.fixture(scope="module")
def module_store(catalog: Catalog) -> Store:
    return Store(catalog, "default")


@pytest.fixture(scope="module")
def module_client(module_store: Store) -> FlaskClient:
    return create_app(module_store, quiet=True).test_client()


class SwaggerOperation(NamedTuple):
    method: str
    path: str
    definition: dict[str, Any]


def general_operation(swagger: dict[str, Any], operation_id: str) -> SwaggerOperation:
    """Find `operation_id` among the General operations of Coder's document."""
    for path, methods in swagger["paths"].items():
        for method, definition in methods.items():
            if definition.get("operationId") == operation_id and "General" in definition.get("tags", []):
                return SwaggerOperation(method.upper(), path, definition)
    raise AssertionError(f"Coder's document has no General operation {operation_id!r}")


def call(client: FlaskClient, swagger: dict[str, Any], operation: SwaggerOperation, auth: str) -> TestResponse:
    """Send `operation` as `auth`, for `me` where it names a user and with a CSP report where it takes a body."""
    url = swagger["basePath"] + operation.path.replace("{user}", "me")
    headers = {}
    if AUTH_TOKENS[auth] is not None:
        headers["Coder-Session-Token"] = AUTH_TOKENS[auth]
    body = json.dumps(CSP_REPORT) if operation.method == "POST" else None
    return client.open(url, method=operation.method, data=body, headers=headers, content_type="application/json")


def expected_status(profile: str, scenario: str, auth: str, operation_id: str) -> int:
    """Return the status coderd's middleware order gives: rate limit, token, role, override, handler."""
    access = (WIRE_ACCESS if profile == "wire" else REFERENCE_ACCESS)[operation_id]
    if scenario == "rate-limited":
        return 429
    if access != PUBLIC and auth not in SIGNED_IN:
        return 401
    if access == OWNER and SIGNED_IN[auth] != OWNER:
        return 403
    if scenario == "server-errors":
        return 500
    if scenario == "stats-processing" and operation_id == "get-deployment-stats":
        return 400
    return 200


def body_schema(operation: dict[str, Any], status: int) -> dict[str, Any]:
    """Return the schema a body of `status` must meet: the 200 schema, else codersdk.Response."""
    if status == 200:
        # Coder documents no body schema for the CSP report's 200, so any JSON is accepted.
        return operation["responses"]["200"].get("schema", {})
    return {"$ref": "#/definitions/codersdk.Response"}


def observed_differences(coder: CoderValidator, operation_id: str, root: dict[str, Any], body: Any) -> Iterator[str]:
    """Yield the Difference key of each failed validation, or a description of the failure when none explains it."""
    for error in coder.errors(root, body):
        definition = coder.definition_of(error)
        if definition in DIFFERENCE_OF_DEFINITION:
            key = DIFFERENCE_OF_DEFINITION[definition]
        elif error.validator == "type" and error.instance is None:
            # A list or map coderd never set goes out as null where the reference shows [] or {}.
            key = "empty-fields-omitted"
        elif definition is not None:
            key = None
        elif error.schema is root:
            key = DIFFERENCE_OF_RESPONSE.get(operation_id)
        else:
            key = None
        if key is None:
            yield f"unlisted: {describe(error)}" + (f" (in {definition})" if definition else "")
        elif not any(item.key == key and item.operation_id == operation_id for item in DIFFERENCES):
            yield f"{key}, which DIFFERENCES does not list for {operation_id}: {describe(error)}"
        else:
            yield key


def expected_differences(scenario: str, auth: str, operation_id: str, status: int) -> set[str]:
    if status != 200:
        return set()
    expected = set(EXPECTED.get(operation_id, set()))
    expected |= EXPECTED_IN_SCENARIO.get((scenario, operation_id), set())
    if auth not in SIGNED_IN:
        expected |= EXPECTED_ANONYMOUS.get(operation_id, set())
    return expected


# --- the tests -------------------------------------------------------------------


@pytest.mark.parametrize("operation_id", OPERATIONS)
@pytest.mark.parametrize("auth", AUTH_TOKENS)
@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS)
def test_reference_profile_conforms(module_client: FlaskClient, module_store: Store, swagger: dict[str, Any],
                                    coder: CoderValidator, scenario: str, auth: str, operation_id: str) -> None:
    module_store.switch(scenario, profile="reference")
    operation = general_operation(swagger, operation_id)

    response = call(module_client, swagger, operation, auth)

    status = expected_status("reference", scenario, auth, operation_id)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    root = coder.root(body_schema(operation.definition, status))
    assert [describe(error) for error in coder.errors(root, response.get_json())] == []


@pytest.mark.parametrize("operation_id", OPERATIONS)
@pytest.mark.parametrize("auth", AUTH_TOKENS)
@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS)
def test_wire_profile_differs_as_listed(module_client: FlaskClient, module_store: Store, swagger: dict[str, Any],
                                        coder: CoderValidator, scenario: str, auth: str, operation_id: str) -> None:
    module_store.switch(scenario, profile="wire")
    operation = general_operation(swagger, operation_id)

    response = call(module_client, swagger, operation, auth)

    status = expected_status("wire", scenario, auth, operation_id)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    root = coder.root(body_schema(operation.definition, status))
    observed = set(observed_differences(coder, operation_id, root, response.get_json()))
    # Swagger's `security` lists who may call, so a 200 for a caller without a valid token is a difference too.
    if operation.definition.get("security") and auth not in SIGNED_IN and status == 200:
        listed = [item.key for item in DIFFERENCES if item.operation_id == operation_id and item.reference_access]
        observed |= set(listed) or {f"unlisted: {operation_id} returns 200 without a token"}
    assert observed == expected_differences(scenario, auth, operation_id, status)


@pytest.mark.parametrize(("profile", "status"), [("wire", 200), ("reference", 401)])
def test_csp_report_without_token(module_client: FlaskClient, module_store: Store, swagger: dict[str, Any],
                                  profile: str, status: int) -> None:
    module_store.switch("default", profile=profile)

    response = call(module_client, swagger, general_operation(swagger, "report-csp-violations"), "none")

    assert response.status_code == status


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_reference_access_follows_security(swagger: dict[str, Any], operation_id: str) -> None:
    operation = general_operation(swagger, operation_id)

    assert (REFERENCE_ACCESS[operation_id] != PUBLIC) == bool(operation.definition.get("security"))


def test_expected_keys_are_listed() -> None:
    listed = {(item.operation_id, item.key) for item in DIFFERENCES}
    expected = {(operation, key) for operation, keys in EXPECTED.items() for key in keys}
    expected |= {(operation, key) for (_, operation), keys in EXPECTED_IN_SCENARIO.items() for key in keys}
    expected |= {(operation, key) for operation, keys in EXPECTED_ANONYMOUS.items() for key in keys}
    mapped = set(DIFFERENCE_OF_DEFINITION.values()) | set(DIFFERENCE_OF_RESPONSE.values())

    assert expected - listed == set()
    assert mapped - {key for _, key in listed} == set()


# --- the validator itself ----------------------------------------------------------


def test_validator_enforces_required(coder: CoderValidator) -> None:
    root = coder.root({"$ref": "#/definitions/codersdk.Response"})
    errors = coder.errors(root, {"message": "m", "validations": [{"field": "f"}]})

    assert [describe(error) for error in errors] == ["$.validations[0]: 'detail' is a required property"]


def test_validator_enforces_types_and_enums(coder: CoderValidator) -> None:
    root = coder.root({"type": "array", "items": {"$ref": "#/definitions/codersdk.Experiment"}})
    errors = coder.errors(root, ["example", "no-such-experiment", 7])

    assert [coder.definition_of(error) for error in errors] == ["codersdk.Experiment"] * 3
    assert [(error.json_path, error.validator) for error in errors] == [("$[1]", "enum"), ("$[2]", "type"), ("$[2]", "enum")]


def test_validator_enforces_date_time(coder: CoderValidator) -> None:
    root = coder.root({"$ref": "#/definitions/codersdk.DeploymentStats"})
    body = {"aggregated_from": "2025-04-17T12:00:00Z", "collected_at": "2025-04-17 12:00", "next_update_at": "x"}

    errors = coder.errors(root, body)

    assert [describe(error) for error in errors] == [
        "$.collected_at: '2025-04-17 12:00' is not a 'date-time'",
        "$.next_update_at: 'x' is not a 'date-time'",
    ]


def test_validator_enforces_uuid(coder: CoderValidator) -> None:
    root = coder.root({"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}}})

    assert coder.errors(root, {"id": "0b6a3f2e-5c1d-4d7e-9a8b-1f2e3d4c5b6a"}) == []
    assert [describe(error) for error in coder.errors(root, {"id": "0b6a3f2e"})] == ["$.id: '0b6a3f2e' is not a 'uuid'"]


def test_validator_allows_unlisted_properties(coder: CoderValidator) -> None:
    root = coder.root({"$ref": "#/definitions/codersdk.TokenConfig"})

    assert coder.errors(root, {"max_token_lifetime": 1, "extra": True}) == []


def test_unexplained_failure_is_reported(coder: CoderValidator) -> None:
    root = coder.root({"$ref": "#/definitions/codersdk.BuildInfoResponse"})

    observed = list(observed_differences(coder, "build-info", root, {"telemetry": "yes"}))

    assert observed == ["unlisted: $.telemetry: 'yes' is not of type 'boolean'"]
