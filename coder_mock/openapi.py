"""The OpenAPI 3.0.3 document of coder-mock, generated from its schemas and routes.

apispec's MarshmallowPlugin turns the marshmallow schemas into components, so
field names, types and required-ness cannot drift from what the server sends.
`required` follows Go's encoding rules as `coder_mock.wire.to_wire` applies
them: a field is required when it is always on the wire, which is every field
without `omitempty` and every nested struct. Paths come from the Flask URL map.
The table `OPERATIONS` adds what routes cannot show: Coder's operation IDs,
who may call each operation, and its error responses.

That is the document of the wire profile. The reference profile's document is
a copy edited by the `document` patch of each entry in
`coder_mock.differences.DIFFERENCES`, the table whose transforms reshape the
bodies. /swagger/doc.json, where coderd serves its own when its Swagger
endpoint is enabled, serves the document of the live scenario's profile, and
`coder-mock openapi --profile` prints either.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls, resolve_schema_instance
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask import Flask
from marshmallow import Schema
from marshmallow import fields as mm_fields

import coder_mock
from coder_mock import admin, admin_faults, admin_page
from coder_mock.api import general
from coder_mock.api.general import MEMBER, OWNER, PUBLIC
from coder_mock.differences import PROFILES, SCHEMA_PREFIX, document_patches
from coder_mock.openapi_route import DOCUMENT_PATH, JSON_MEDIA_TYPE, blueprint
from coder_mock.schemas import admin as admin_schemas
from coder_mock.schemas import fields
from coder_mock.schemas.common import Response as ResponseSchema
from coder_mock.schemas.faults import FaultList, FaultRule
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
from coder_mock.wire import omits_empty

OPENAPI_VERSION = "3.0.3"
GENERAL, ADMIN = "General", "Admin"
DESCRIPTIONS = {
    "wire": "The parts of Coder's REST API v2 that coder-mock serves, as coder-mock serves them in the wire profile"
            " (what coderd sends), and coder-mock's admin API.",
    "reference": "The parts of Coder's REST API v2 that coder-mock serves, as coder-mock serves them in the reference"
                 " profile (the shapes of Coder's published API reference), and coder-mock's admin API.",
}
"""The document's description in each profile."""

# Each entry is an alternative, because a request may carry the token in any of these places.
TOKEN_SECURITY = [
    {"CoderSessionToken": []},
    {"CoderSessionCookie": []},
    {"CoderSessionQuery": []},
    {"BearerToken": []},
    {"AccessTokenQuery": []},
]
SECURITY_SCHEMES = {
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

# Rule variables such as <user> or <int:id>, written as OpenAPI's {user}.
_RULE_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def header_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def json_body(schema: Any) -> dict[str, Any]:
    return {JSON_MEDIA_TYPE: {"schema": schema}}


def json_response(description: str, schema: Any = ResponseSchema, extra_headers: tuple[str, ...] = ()) -> dict[str, Any]:
    """Describe a JSON response with the X-Coder-Build-Version header, which every response carries."""
    headers = {name: header_ref(name) for name in ("X-Coder-Build-Version", *extra_headers)}
    return {"description": description, "headers": headers, "content": json_body(schema)}


HEADERS = {
    "X-Coder-Build-Version": {
        "description": "The server's version, the same as `version` in GET /api/v2/buildinfo.",
        "schema": {"type": "string"},
    },
    "Allow": {"description": "The methods the path accepts, comma-separated.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds until the rate limit window resets.", "schema": {"type": "integer"}},
    "X-Ratelimit-Limit": {"description": "Requests allowed per one-minute window.", "schema": {"type": "integer"}},
    "X-Ratelimit-Remaining": {"description": "Requests left in the current window.", "schema": {"type": "integer"}},
    "X-Ratelimit-Reset": {"description": "Unix time in seconds when the window resets.", "schema": {"type": "integer"}},
}

SHARED_RESPONSES = {
    "SignedOut": json_response(
        "The session token is missing, malformed, unknown, has a wrong secret or has expired. `detail` says which."
    ),
    "Forbidden": json_response("The caller is signed in but is not an owner."),
    "NotFound": json_response("Sent only when a scenario override sets 404."),
    "MethodNotAllowed": json_response(
        "The path exists but does not accept this method. coderd itself sends an empty body.",
        extra_headers=("Allow",),
    ),
    "RateLimited": json_response(
        "Sent when a scenario override sets 429, as coderd's rate limiter does, before authentication.",
        extra_headers=("X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "Retry-After"),
    ),
    "InternalError": json_response("Sent when a scenario override sets 500, as coderd does when its database fails."),
    "OverrideError": json_response("Sent when a scenario override sets another error status from 400 to 599."),
}


def shared(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


@dataclass(frozen=True)
class OperationDoc:
    """The documentation of one route that its path and method do not give."""

    operation_id: str
    tag: str
    summary: str
    ok: dict[str, Any]
    access: str = PUBLIC
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    request_body: dict[str, Any] | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    ok_status: str = "200"


def general_operation(operation_id: str, summary: str, ok: dict[str, Any], access: str = PUBLIC,
                      errors: dict[str, dict[str, Any]] | None = None, **extra: Any) -> OperationDoc:
    """Describe a General operation with the error responses that every General operation may send."""
    responses: dict[str, dict[str, Any]] = dict(errors or {})
    if access != PUBLIC:
        responses["401"] = shared("SignedOut")
    if access == OWNER:
        responses["403"] = shared("Forbidden")
    responses.setdefault("404", shared("NotFound"))
    responses["405"] = shared("MethodNotAllowed")
    responses["429"] = shared("RateLimited")
    responses["500"] = shared("InternalError")
    responses["4XX"] = shared("OverrideError")
    responses["5XX"] = shared("OverrideError")
    return OperationDoc(operation_id, GENERAL, summary, ok, access, dict(sorted(responses.items())), **extra)


def admin_operation(operation_id: str, summary: str, ok: dict[str, Any],
                    errors: dict[str, dict[str, Any]] | None = None, **extra: Any) -> OperationDoc:
    responses = {**(errors or {}), "405": shared("MethodNotAllowed")}
    return OperationDoc(operation_id, ADMIN, summary, ok, PUBLIC, dict(sorted(responses.items())), **extra)


USER_PARAMETER = {
    "name": "user",
    "in": "path",
    "required": True,
    "description": "`me` for the caller, a user's UUID, or a username (case-insensitive).",
    "schema": {"type": "string"},
}

CSP_REPORT_BODY = {
    "required": True,
    "description": "A browser's CSP violation report. The server decodes it as JSON whatever the Content-Type.",
    "content": {"application/csp-report": {"schema": CSPViolation}, JSON_MEDIA_TYPE: {"schema": CSPViolation}},
}

def query_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


JOURNAL_FILTERS = (
    query_parameter("method", "Only requests with this method, such as GET (case-insensitive).", {"type": "string"}),
    query_parameter("path", "Only requests to exactly this path.", {"type": "string"}),
    query_parameter("path_prefix", "Only requests whose path starts with this.", {"type": "string"}),
    query_parameter("status", "Only requests answered with this status code.",
                    {"type": "integer", "minimum": 100, "maximum": 599}),
    query_parameter("operation", "Only requests to this operation: Coder's operation ID, `unmatched`, `admin` or"
                    " `site`.", {"type": "string"}),
    query_parameter("unmatched", "`true`: only /api/v2 requests that matched no operation. `false`: only the others.",
                    {"type": "boolean"}),
    query_parameter("since", "Only requests received at or after this RFC 3339 time.",
                    {"type": "string", "format": "date-time"}),
    query_parameter("limit", "At most this many requests, the newest ones.", {"type": "integer", "minimum": 1}),
)

OPERATIONS: dict[str, OperationDoc] = {
    "general.api_root": general_operation(
        "api-root-handler", "Greet API clients", json_response("A fixed greeting.", ResponseSchema)),
    "general.build_info": general_operation(
        "build-info", "Get build information", json_response("The server's version and URLs.", BuildInfoResponse)),
    "general.report_csp_violations": general_operation(
        "report-csp-violations", "Report CSP violations",
        json_response("The report was read.", {"type": "string", "enum": ["ok"]}),
        errors={
            "400": json_response("The body is not JSON, or `csp-report` is not an object."),
            "413": json_response(f"The body is larger than {general.CSP_REPORT_MAX_BYTES} bytes."),
        },
        request_body=CSP_REPORT_BODY,
    ),
    "general.deployment_config": general_operation(
        "get-deployment-config", "Get deployment config",
        json_response("Every server setting with secrets blanked, and the option list.", DeploymentConfig),
        access=OWNER),
    "general.ssh_config": general_operation(
        "ssh-config", "Get SSH config", json_response("Settings for `coder config-ssh`.", SSHConfigResponse),
        access=MEMBER),
    "general.deployment_stats": general_operation(
        "get-deployment-stats", "Get deployment stats",
        json_response("Workspace and session counts of the last collection.", DeploymentStats),
        access=OWNER,
        errors={"400": json_response("The stats have not been collected yet.")},
    ),
    "general.enabled_experiments": general_operation(
        "get-enabled-experiments", "Get enabled experiments",
        json_response("Experiment names, lower-cased, with `*` expanded to the safe ones. Names need not be known"
                      " to the server.", {"type": "array", "items": {"type": "string"}}),
        access=MEMBER),
    "general.safe_experiments": general_operation(
        "get-safe-experiments", "Get safe experiments",
        json_response("The experiments `*` turns on.", AvailableExperiments), access=MEMBER),
    "general.update_check": general_operation(
        "update-check", "Check for updates",
        json_response("Whether the server runs the latest release.", UpdateCheckResponse)),
    "general.token_config": general_operation(
        "get-token-config", "Get token config",
        json_response("The longest lifetime a new token of this user may have.", TokenConfig),
        access=MEMBER,
        errors={"400": json_response("No user has this UUID or username.")},
        parameters=(USER_PARAMETER,),
    ),
    "admin.health": admin_operation(
        "admin-health", "Check that the server runs",
        json_response("The live scenario and this process's instance ID.", admin_schemas.AdminHealth)),
    "admin.scenarios": admin_operation(
        "admin-list-scenarios", "List scenarios",
        json_response("Every loaded scenario, and the files that failed to load.", admin_schemas.AdminScenarioList)),
    "admin.active_scenario": admin_operation(
        "admin-get-scenario", "Get the live scenario",
        json_response("The live scenario.", admin_schemas.AdminScenario)),
    "admin.switch_scenario": admin_operation(
        "admin-switch-scenario", "Switch the live scenario",
        json_response("The new live scenario. It is live when this response is sent.", admin_schemas.AdminScenario),
        errors={
            "400": json_response("The body is not a JSON object, or `name` or `seed` is invalid.",
                                 admin_schemas.AdminError),
            "404": json_response("No scenario has this name. `available` lists the names.", admin_schemas.AdminError),
        },
        request_body={"required": True, "content": json_body(admin_schemas.AdminScenarioSwitch)},
    ),
    "admin.reset": admin_operation(
        "admin-reset", "Go back to the starting scenario",
        json_response("The scenario and seed the server started with, live again.", admin_schemas.AdminScenario)),
    "admin.list_requests": admin_operation(
        "admin-list-requests", "List recorded requests",
        json_response("The journal's size and the recorded requests that match every filter, oldest first."
                      " Requests to /__admin/requests are not recorded.", admin_schemas.AdminJournal),
        errors={"400": json_response("A filter is unknown, repeated or invalid. `message` names it and the fix.",
                                     admin_schemas.AdminError)},
        parameters=JOURNAL_FILTERS,
    ),
    "admin.count_requests": admin_operation(
        "admin-count-requests", "Count recorded requests",
        json_response("How many recorded requests match every filter.", admin_schemas.AdminJournalCount),
        errors={"400": json_response("A filter is unknown, repeated or invalid. `message` names it and the fix.",
                                     admin_schemas.AdminError)},
        parameters=JOURNAL_FILTERS,
    ),
    "admin.clear_requests": admin_operation(
        "admin-clear-requests", "Clear the request journal",
        json_response("How many recorded requests were removed.", admin_schemas.AdminJournalCleared)),
    # --- Fault rules (coder_mock.admin_faults) ---
    "admin_faults.list_faults": admin_operation(
        "admin-list-faults", "List fault rules",
        json_response("The live fault rules in the order they are tried, with their counters.",
                      admin_schemas.AdminFaultList),
        errors={"404": json_response("The Coder-Mock-Session header names no session.", admin_schemas.AdminError)}),
    "admin_faults.replace_faults": admin_operation(
        "admin-replace-faults", "Replace every fault rule",
        json_response("The new rules, live when this response is sent.", admin_schemas.AdminFaultList),
        errors={
            "400": json_response("The body is not JSON, or a rule is invalid. `message` names the field and the fix.",
                                 admin_schemas.AdminError),
            "404": json_response("The Coder-Mock-Session header names no session.", admin_schemas.AdminError),
        },
        request_body={"required": True, "content": json_body(FaultList)},
    ),
    "admin_faults.add_fault": admin_operation(
        "admin-add-fault", "Add a fault rule",
        json_response("Every rule, the new one last.", admin_schemas.AdminFaultList),
        errors={
            "400": json_response("The body is not JSON, or the rule is invalid. `message` names the field and the fix.",
                                 admin_schemas.AdminError),
            "404": json_response("The Coder-Mock-Session header names no session.", admin_schemas.AdminError),
        },
        request_body={"required": True, "content": json_body(FaultRule)},
    ),
    "admin_faults.clear_faults": admin_operation(
        "admin-clear-faults", "Remove every fault rule",
        json_response("How many rules were removed.", admin_schemas.AdminFaultsCleared),
        errors={"404": json_response("The Coder-Mock-Session header names no session.", admin_schemas.AdminError)}),
    "admin_page.page": admin_operation(
        "admin-page", "Open the admin page",
        {"description": "One HTML page that shows the scenarios, sessions and latest requests and switches the"
                        " live scenario.",
         "headers": {"X-Coder-Build-Version": header_ref("X-Coder-Build-Version")},
         "content": {"text/html": {"schema": {"type": "string"}}}}),
    "admin.list_sessions": admin_operation(
        "admin-list-sessions", "List sessions",
        json_response("Every live session, oldest first.", admin_schemas.AdminSessionList)),
    "admin.create_session": admin_operation(
        "admin-create-session", "Start a session",
        json_response("The new session. Requests with its id in the Coder-Mock-Session header, or with one of"
                      " its tokens, see its scenario and journal.", admin_schemas.AdminSession),
        errors={
            "400": json_response("The body is not a JSON object, or `scenario`, `seed` or `profile` is invalid.",
                                 admin_schemas.AdminError),
            "404": json_response("No scenario has this name. `available` lists the names.", admin_schemas.AdminError),
        },
        request_body={"required": True, "content": json_body(admin_schemas.AdminSessionCreate)},
        ok_status="201",
    ),
    "admin.end_session": admin_operation(
        "admin-end-session", "End a session",
        {"description": "The session ended. Its tokens and its id no longer work.",
         "headers": {"X-Coder-Build-Version": header_ref("X-Coder-Build-Version")}},
        errors={"404": json_response("No live session has this id.", admin_schemas.AdminError)},
        parameters=({"name": "session_id", "in": "path", "required": True,
                     "description": "The session's id, from POST or GET /__admin/sessions.",
                     "schema": {"type": "string"}},),
        ok_status="204",
    ),
    "openapi.serve_document": admin_operation(
        "admin-openapi-document", "Get this OpenAPI document",
        json_response("The document of the live scenario's profile, wire or reference.", {"type": "object"})),
}
"""Documentation of every route, by Flask endpoint name."""


def always_sent(schema: Schema, schema_field: mm_fields.Field) -> bool:
    """Return whether `to_wire` writes the field whatever its value and server version."""
    if schema_field.metadata.get("since"):
        return False
    if isinstance(schema_field, fields.Nested) and not getattr(schema, "omit_empty", False):
        return True
    return not omits_empty(schema, schema_field)


def may_be_null(schema: Schema, schema_field: mm_fields.Field) -> bool:
    """Return whether the field may be null on the wire.

    Go sends a nil slice or map as null unless omitempty drops it. Schemas
    whose bodies Python writes, such as the admin ones, set
    `sends_null_collections = False`.
    """
    if not getattr(schema, "sends_null_collections", True):
        return False
    collection = (fields.StringList, fields.StringMap, fields.AnyMap, mm_fields.List)
    return isinstance(schema_field, collection) and not omits_empty(schema, schema_field)


class WireConverter(OpenAPIConverter):
    """Converts schemas with `required` and `nullable` set by Go's encoding rules.

    apispec reads `required` from marshmallow's `required=True`, which here
    means a fixture must give the field. The wire needs the other meaning.
    """

    def schema2jsonschema(self, schema: Any) -> dict[str, Any]:
        jsonschema = super().schema2jsonschema(schema)
        instance = resolve_schema_instance(schema)
        properties = jsonschema["properties"]
        required = []
        for name, schema_field in instance.fields.items():
            key = schema_field.data_key or name
            if always_sent(instance, schema_field):
                required.append(key)
            if may_be_null(instance, schema_field):
                properties[key]["nullable"] = True
        jsonschema.pop("required", None)
        if required:
            jsonschema["required"] = required
        return jsonschema


class WirePlugin(MarshmallowPlugin):
    Converter = WireConverter


def schema_name(schema: Any) -> str:
    """Name a component after its schema class, which is named after Coder's Go type."""
    return resolve_schema_cls(schema).__name__


def string_items(self: OpenAPIConverter, schema_field: mm_fields.Field, **kwargs: Any) -> dict[str, Any]:
    if isinstance(schema_field, fields.StringList):
        return {"items": {"type": "string"}}
    return {}


def string_values(self: OpenAPIConverter, schema_field: mm_fields.Field, **kwargs: Any) -> dict[str, Any]:
    if isinstance(schema_field, fields.StringMap):
        return {"additionalProperties": {"type": "string"}}
    return {}


def semver_pattern(self: OpenAPIConverter, schema_field: mm_fields.Field, **kwargs: Any) -> dict[str, Any]:
    if isinstance(schema_field, fields.SemVer):
        return {"pattern": fields._SEMVER.pattern}
    return {}


def enum_choices(self: OpenAPIConverter, schema_field: mm_fields.Field, **kwargs: Any) -> dict[str, Any]:
    if isinstance(schema_field, fields.Enum):
        return {"enum": list(schema_field.choices)}
    return {}


def any_value(self: OpenAPIConverter, schema_field: mm_fields.Field, ret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    # AnyValue allows None, so apispec adds `nullable`. An empty schema already
    # accepts every JSON value, null included, so the key is dropped.
    if isinstance(schema_field, fields.AnyValue):
        ret.pop("nullable", None)
    return {}


FIELD_TYPES: dict[type[mm_fields.Field], tuple[str | None, str | None]] = {
    fields.String: ("string", None),
    fields.Bool: ("boolean", None),
    fields.Int: ("integer", "int64"),
    fields.Number: ("number", None),
    fields.Duration: ("integer", "int64"),
    fields.SemVer: ("string", None),
    fields.Timestamp: ("string", "date-time"),
    fields.UUID: ("string", "uuid"),
    fields.URL: ("string", None),
    fields.Regexp: ("string", None),
    fields.Enum: ("string", None),
    fields.StringList: ("array", None),
    fields.StringMap: ("object", None),
    fields.AnyMap: ("object", None),
    fields.AnyValue: (None, None),
}
"""OpenAPI type and format of each coder-mock field class. A URL may be "", so it has no format."""


def new_spec() -> APISpec:
    plugin = WirePlugin(schema_name_resolver=schema_name)
    spec = APISpec(
        title="coder-mock",
        version=coder_mock.__version__,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={"description": DESCRIPTIONS["wire"]},
        tags=[
            {"name": GENERAL, "description": "The General section of Coder's API v2, under /api/v2."},
            {"name": ADMIN, "description": "coder-mock's own endpoints for switching scenarios and reading"
                                        " the request journal. Coder has no such API."},
        ],
    )
    for field_class, (openapi_type, openapi_format) in FIELD_TYPES.items():
        plugin.map_to_openapi_type(field_class, openapi_type, openapi_format)
    for function in (string_items, string_values, semver_pattern, enum_choices, any_value):
        plugin.converter.add_attribute_function(function)
    return spec


def routed_app() -> Flask:
    """Return an app with the blueprints `create_app` registers, for reading the URL map.

    tests/test_openapi.py fails when `create_app` serves a route that this app lacks.
    """
    app = Flask("coder_mock.openapi", static_folder=None)
    app.url_map.merge_slashes = False
    app.register_blueprint(general.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(admin_faults.blueprint)
    app.register_blueprint(admin_page.blueprint)
    app.register_blueprint(blueprint)
    return app


def openapi_path(rule: str) -> str:
    return _RULE_VARIABLE.sub(r"{\1}", rule)


def alias_description(operation_id: str, target_path: str) -> str:
    return f"The same operation as `{operation_id}` at {target_path}."


def describe_operation(doc: OperationDoc, alias_of: str | None = None) -> dict[str, Any]:
    """Describe one operation. An alias path gets no operation ID, because an ID may appear only once."""
    operation: dict[str, Any] = {}
    if alias_of is None:
        operation["operationId"] = doc.operation_id
    operation["tags"] = [doc.tag]
    operation["summary"] = doc.summary
    if alias_of is not None:
        operation["description"] = alias_description(doc.operation_id, alias_of)
    elif doc.access == OWNER:
        operation["description"] = "Only owners may call this operation. Other roles get 403."
    operation["security"] = [] if doc.access == PUBLIC else copy.deepcopy(TOKEN_SECURITY)
    if doc.parameters:
        operation["parameters"] = copy.deepcopy(list(doc.parameters))
    if doc.request_body is not None:
        operation["requestBody"] = copy.deepcopy(doc.request_body)
    # Copies, because apispec replaces schema classes with references in place.
    operation["responses"] = {doc.ok_status: copy.deepcopy(doc.ok), **copy.deepcopy(doc.errors)}
    return operation


def add_paths(spec: APISpec, app: Flask) -> dict[str, str]:
    """Add every route that OPERATIONS documents to `spec`, and return each alias path with its target path.

    When several rules serve one endpoint, such as /api/v2 beside /api/v2/,
    the first rule's path carries the operation and the others are aliases.
    """
    documented: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for rule in app.url_map.iter_rules():
        doc = OPERATIONS.get(rule.endpoint)
        if doc is None:
            continue
        declared = {parameter["name"] for parameter in doc.parameters if parameter["in"] == "path"}
        if declared != set(rule.arguments):
            raise ValueError(f"route {rule.rule} has variables {sorted(rule.arguments)} but its documentation"
                             f" declares {sorted(declared)}; make OPERATIONS[{rule.endpoint!r}] match the route.")

        path = openapi_path(rule.rule)
        alias_of = documented.get(rule.endpoint)
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        spec.path(path=path, operations={method.lower(): describe_operation(doc, alias_of) for method in methods})
        documented.setdefault(rule.endpoint, path)
        if alias_of is not None:
            aliases[path] = alias_of

    missing = sorted(set(OPERATIONS) - set(documented))
    if missing:
        raise ValueError(f"OPERATIONS documents endpoints that no route serves: {', '.join(missing)}.")
    return aliases


@functools.cache
def wire_document() -> tuple[dict[str, Any], dict[str, str]]:
    """Build the wire profile's document, and return it with each alias path and its target path."""
    spec = new_spec()
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, copy.deepcopy(scheme))
    for name, header in HEADERS.items():
        spec.components.header(name, copy.deepcopy(header))
    for name, response in SHARED_RESPONSES.items():
        spec.components.response(name, copy.deepcopy(response))

    # Two schemas with one class name would be renamed Name1 with a warning; fail instead.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        aliases = add_paths(spec, routed_app())
    return spec.to_dict(), aliases


def alias_operation(operation: dict[str, Any], target_path: str) -> dict[str, Any]:
    """Return a copy of `operation` as `describe_operation` describes it at an alias path."""
    alias: dict[str, Any] = {}
    for key, value in operation.items():
        if key in ("operationId", "description"):
            continue
        alias[key] = copy.deepcopy(value)
        if key == "summary":
            alias["description"] = alias_description(operation["operationId"], target_path)
    return alias


def schema_references(node: Any) -> Iterator[str]:
    """Yield the name of every schema component that `node` or its children reference."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_PREFIX):
                yield value.removeprefix(SCHEMA_PREFIX)
            else:
                yield from schema_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from schema_references(item)


def drop_unused_schemas(document: dict[str, Any]) -> None:
    """Remove the schema components that no path, response, header or used schema references."""
    schemas = document["components"]["schemas"]
    roots = [value for key, value in document.items() if key != "components"]
    roots += [value for key, value in document["components"].items() if key != "schemas"]
    used = set(schema_references(roots))
    pending = list(used)
    while pending:
        for name in schema_references(schemas[pending.pop()]):
            if name not in used:
                used.add(name)
                pending.append(name)
    document["components"]["schemas"] = {name: schema for name, schema in schemas.items() if name in used}


def reference_document(wire: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """Return a copy of the wire document edited into the reference profile's document.

    The patches edit only the path that carries an operation, so each alias
    path is copied again from its target afterwards.
    """
    document = copy.deepcopy(wire)
    document["info"]["description"] = DESCRIPTIONS["reference"]
    for patch in document_patches():
        patch(document)
    for alias_path, target_path in aliases.items():
        target = document["paths"][target_path]
        document["paths"][alias_path] = {method: alias_operation(operation, target_path)
                                         for method, operation in target.items()}
    drop_unused_schemas(document)
    return document


@functools.cache
def cached_document(profile: str = "wire") -> dict[str, Any]:
    """Return the document of `profile`, built on the first call; callers must not change it."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}.")
    wire, aliases = wire_document()
    if profile == "wire":
        return wire
    return reference_document(wire, aliases)


def build_document(profile: str = "wire") -> dict[str, Any]:
    """Return a copy of the OpenAPI document of `profile`, which is built once."""
    return copy.deepcopy(cached_document(profile))


@functools.cache
def document_text(profile: str = "wire") -> str:
    """Return the document of `profile` as JSON indented by two spaces, with a trailing newline."""
    return json.dumps(cached_document(profile), indent=2) + "\n"

