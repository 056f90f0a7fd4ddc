"""The differences between Coder's published API reference and coderd's wire behaviour.

This table is the one list of every such difference found so far. It drives
the two fidelity profiles. `wire` (the default) serves what coderd sends.
`reference` applies each entry's `to_reference`, so that a client generated
from the reference gets exactly the shapes the reference shows.
docs/differences.md presents the same entries, and a test keeps both in step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from coder_mock.schemas.constants import EXPERIMENTS_KNOWN

PROFILES = ("wire", "reference")

# serpent.URL and serpent.HostPort values of DeploymentValues, by key path.
URL_PATHS = (
    "access_url",
    "docs_url",
    "derp.server.relay_url",
    "oidc.icon_url",
    "telemetry.url",
    "agent_fallback_troubleshooting_url",
    "notifications.webhook.endpoint",
)
HOST_PORT_PATHS = ("address", "prometheus.address", "pprof.address", "tls.address")
REGEXP_PATHS = ("oidc.group_regex_filter",)
STRUCT_PATHS = ("external_auth", "support.links")


@dataclass(frozen=True)
class ReferenceContext:
    """The inputs a reference transform may need beyond the wire body."""

    config: dict[str, Any]
    full_config: Callable[[], dict[str, Any]]
    full_options: Callable[[], list[dict[str, Any]]]


Transform = Callable[[Any, ReferenceContext], Any]
DocumentPatch = Callable[[dict[str, Any]], None]
"""A function that edits coder-mock's OpenAPI document in place, from the wire shape to the reference shape."""


@dataclass(frozen=True)
class Difference:
    """One disagreement: the operation, what coderd sends, and what the reference shows.

    `to_reference` turns a wire body of `operation_id` into the reference's
    shape; `reference_access` is the access level the reference gives it.
    `document` makes the same change to a copy of coder-mock's wire OpenAPI
    document, so that the reference profile's document describes its bodies.
    """

    key: str
    operation: str
    wire: str
    reference: str
    operation_id: str = ""
    to_reference: Transform | None = None
    reference_access: str | None = None
    document: DocumentPatch | None = None


def _walk(data: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, str]:
    """Return the mapping that contains the last key of `path`, and that key."""
    keys = path.split(".")
    for key in keys[:-1]:
        data = data.get(key) if isinstance(data, dict) else None
        if data is None:
            return None, keys[-1]
    return data, keys[-1]


def _replace_at(paths: tuple[str, ...], change: Callable[[Any], Any]) -> Transform:
    def transform(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
        for path in paths:
            parent, key = _walk(body["config"], path)
            if parent is not None and key in parent:
                parent[key] = change(parent[key])
        return body

    return transform


def url_object(text: str | None) -> dict[str, Any]:
    """Return a URL as the reference shows serpent.URL: Go's url.URL fields, lower-cased."""
    parts = urlsplit(text or "")
    return {
        "scheme": parts.scheme,
        "opaque": "",
        "user": {},
        "host": parts.netloc.rpartition("@")[2],
        "path": parts.path,
        "rawPath": "",
        "omitHost": False,
        "forceQuery": False,
        "rawQuery": parts.query,
        "fragment": parts.fragment,
        "rawFragment": "",
    }


def host_port_object(text: str | None) -> dict[str, str]:
    host, _, port = (text or "").rpartition(":")
    return {"host": host, "port": port}


def _known_experiments(names: list[str]) -> list[str]:
    return [name for name in names if name in EXPERIMENTS_KNOWN]


def _show_every_config_field(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    return {"config": context.full_config(), "options": context.full_options()}


def _ssh_config_lower_names(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    ssh = body["config"]["config_ssh"]
    body["config"]["config_ssh"] = {
        "deploymentName": ssh.get("DeploymentName", ""),
        "sshconfigOptions": ssh.get("SSHConfigOptions") or [],
    }
    return body


def _drop_admin_maximum(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    body["config"]["session_lifetime"].pop("max_admin_token_lifetime", None)
    return body


def _lower_latency_keys(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    latency = body["workspaces"]["connection_latency_ms"]
    body["workspaces"]["connection_latency_ms"] = {"p50": latency["P50"], "p95": latency["P95"]}
    return body


def _member_maximum(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    return {"max_token_lifetime": context.config["session_lifetime"]["max_token_lifetime"]}


def _without(key: str) -> Transform:
    def transform(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
        body.pop(key, None)
        return body

    return transform


def _with_webpush_key(body: dict[str, Any], context: ReferenceContext) -> dict[str, Any]:
    body.setdefault("webpush_public_key", "")
    return body


# The document patches below edit coder-mock's OpenAPI document as the
# transforms above edit bodies. A dotted path such as
# "config.derp.server.relay_url" is walked from the 200 body of an operation
# through the component references, so a patch changes the component that
# describes that part of the body.

SCHEMA_PREFIX = "#/components/schemas/"
_JSON_TYPES = ((bool, "boolean"), (str, "string"), (dict, "object"))


def _schema_ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMA_PREFIX + name}


def _operation(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    for item in document["paths"].values():
        for operation in item.values():
            if operation.get("operationId") == operation_id:
                return operation
    raise KeyError(f"the OpenAPI document has no operation {operation_id!r}")


def _ok_content(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    """Return the JSON media type object of the operation's 200 response."""
    return _operation(document, operation_id)["responses"]["200"]["content"]["application/json"]


def _resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Return the component that `schema` references, or `schema` itself when it is no reference."""
    reference = schema.get("$ref")
    if reference is None:
        return schema
    return document["components"]["schemas"][reference.removeprefix(SCHEMA_PREFIX)]


def _object_at(document: dict[str, Any], operation_id: str, path: str = "") -> dict[str, Any]:
    """Return the schema of the object at dotted `path` in the 200 body of `operation_id`."""
    schema = _resolved(document, _ok_content(document, operation_id)["schema"])
    for key in filter(None, path.split(".")):
        schema = _resolved(document, schema["properties"][key])
    return schema


def _parent_at(document: dict[str, Any], operation_id: str, path: str) -> tuple[dict[str, Any], str]:
    """Return the schema of the object that contains the last key of `path`, and that key."""
    parent_path, _, key = path.rpartition(".")
    return _object_at(document, operation_id, parent_path), key


def _nested_objects(document: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the component `root` references and every component its properties reach, each once."""
    names = [root["$ref"].removeprefix(SCHEMA_PREFIX)]
    schemas = document["components"]["schemas"]
    for name in names:
        for prop in schemas[name]["properties"].values():
            for node in (prop, prop.get("items", {})):
                reference = node.get("$ref", "").removeprefix(SCHEMA_PREFIX)
                if reference and reference not in names:
                    names.append(reference)
    return [schemas[name] for name in names]


def _require(schema: dict[str, Any], keys: Any) -> None:
    """Add `keys` to the required properties of `schema`, keeping the properties' order."""
    required_keys = set(schema.get("required", [])) | set(keys)
    schema["required"] = [key for key in schema["properties"] if key in required_keys]


def _rename_properties(schema: dict[str, Any], names: dict[str, str]) -> None:
    schema["properties"] = {names.get(key, key): value for key, value in schema["properties"].items()}
    if "required" in schema:
        schema["required"] = [names.get(key, key) for key in schema["required"]]


def _remove_property(schema: dict[str, Any], key: str) -> None:
    del schema["properties"][key]
    required = [name for name in schema.get("required", []) if name != key]
    schema.pop("required", None)
    if required:
        schema["required"] = required


def _add_component(document: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    if name in schemas:
        raise ValueError(f"the OpenAPI document already has a schema named {name!r}; give the new one another name.")
    schemas[name] = schema


def _object_schema_of(example: dict[str, Any], description: str) -> dict[str, Any]:
    """Return a schema of objects with `example`'s keys, all required, and the JSON types of its values."""
    properties = {}
    for key, value in example.items():
        json_type = next(name for python_type, name in _JSON_TYPES if isinstance(value, python_type))
        properties[key] = {"type": json_type}
    schema = {"type": "object", "description": description, "properties": properties}
    if properties:
        # OpenAPI 3.0 does not allow an empty `required` list.
        schema["required"] = list(properties)
    return schema


def _document_root_message(document: dict[str, Any]) -> None:
    content = _ok_content(document, "api-root-handler")
    envelope = _resolved(document, content["schema"])
    # The Response component also describes error bodies, which keep detail
    # and validations optional, so only this body gets the stricter schema.
    content["schema"] = {"allOf": [content["schema"]], "required": list(envelope["properties"])}


def _document_token_security(operation_id: str) -> DocumentPatch:
    """Return a patch giving `operation_id` the security and 401 response of the other token operations."""

    def patch(document: dict[str, Any]) -> None:
        operations = [operation for item in document["paths"].values() for operation in item.values()]
        token_operation = next(operation for operation in operations if operation["security"])
        operation = _operation(document, operation_id)
        operation["security"] = copy.deepcopy(token_operation["security"])
        responses = {**operation["responses"], "401": copy.deepcopy(token_operation["responses"]["401"])}
        operation["responses"] = dict(sorted(responses.items()))

    return patch


def _document_known_experiments(operation_id: str, description: str) -> DocumentPatch:
    """Return a patch making the 200 body of `operation_id` an array of known experiment names."""

    def patch(document: dict[str, Any]) -> None:
        response = _operation(document, operation_id)["responses"]["200"]
        response["description"] = description
        names = {"type": "string", "enum": list(EXPERIMENTS_KNOWN)}
        response["content"]["application/json"]["schema"] = {"type": "array", "items": names}

    return patch


def _document_lower_latency_keys(document: dict[str, Any]) -> None:
    latency = _object_at(document, "get-deployment-stats", "workspaces.connection_latency_ms")
    _rename_properties(latency, {"P50": "p50", "P95": "p95"})


def _document_every_config_field(document: dict[str, Any]) -> None:
    config = _object_at(document, "get-deployment-config")
    option = _resolved(document, config["properties"]["options"]["items"])
    for schema in (config, option, *_nested_objects(document, config["properties"]["config"])):
        for prop in schema["properties"].values():
            prop.pop("nullable", None)
        # NOTE: the reference profile leaves out an option's missing group and
        # sends each group as coderd does, so Group keeps its optional fields.
        _require(schema, [key for key in schema["properties"] if not (schema is option and key == "group")])


def _document_objects_at(paths: tuple[str, ...], name: str, example: dict[str, Any], description: str) -> DocumentPatch:
    """Return a patch pointing each config path at a new component `name`, shaped like `example`."""

    def patch(document: dict[str, Any]) -> None:
        _add_component(document, name, _object_schema_of(example, description))
        for path in paths:
            parent, key = _parent_at(document, "get-deployment-config", "config." + path)
            parent["properties"][key] = _schema_ref(name)

    return patch


def _document_struct_wrappers(document: dict[str, Any]) -> None:
    for path in STRUCT_PATHS:
        parent, key = _parent_at(document, "get-deployment-config", "config." + path)
        values = parent["properties"][key]
        values.pop("nullable", None)
        parent["properties"][key] = {"type": "object", "properties": {"value": values}, "required": ["value"]}


def _document_ssh_config_lower_names(document: dict[str, Any]) -> None:
    ssh = _object_at(document, "get-deployment-config", "config.config_ssh")
    _rename_properties(ssh, {"DeploymentName": "deploymentName", "SSHConfigOptions": "sshconfigOptions"})
    ssh["properties"]["sshconfigOptions"].pop("nullable", None)
    _require(ssh, ssh["properties"])


def _document_drop_admin_maximum(document: dict[str, Any]) -> None:
    lifetimes = _object_at(document, "get-deployment-config", "config.session_lifetime")
    _remove_property(lifetimes, "max_admin_token_lifetime")


def _document_without(operation_id: str, key: str) -> DocumentPatch:
    return lambda document: _remove_property(_object_at(document, operation_id), key)


def _document_with_webpush_key(document: dict[str, Any]) -> None:
    _require(_object_at(document, "build-info"), ["webpush_public_key"])


DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        key="root-message",
        operation="GET /api/v2/",
        wire='{"message":"👋"} with the emoji as raw UTF-8 and no other field',
        reference="a codersdk.Response with message, detail and validations",
        operation_id="api-root-handler",
        to_reference=lambda body, context: {"message": body["message"], "detail": "", "validations": []},
        document=_document_root_message,
    ),
    Difference(
        key="csp-report-auth",
        operation="POST /api/v2/csp/reports",
        wire="no session token is read; anyone may post a report",
        reference="requires the CoderSessionToken security scheme",
        operation_id="report-csp-violations",
        reference_access="member",
        document=_document_token_security("report-csp-violations"),
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
        operation_id="get-safe-experiments",
        to_reference=lambda body, context: _known_experiments(body["safe"]),
        document=_document_known_experiments(
            "get-safe-experiments", "The experiments `*` turns on. Names outside the Experiment enum are left out."
        ),
    ),
    Difference(
        key="experiments-unknown-names",
        operation="GET /api/v2/experiments",
        wire="may contain names outside the Experiment enum, lower-cased, with * expanded to the safe list",
        reference="items restricted to the codersdk.Experiment enum",
        operation_id="get-enabled-experiments",
        to_reference=lambda body, context: _known_experiments(body),
        document=_document_known_experiments(
            "get-enabled-experiments",
            "The enabled experiments, lower-cased, with `*` expanded to the safe ones. Names outside the"
            " Experiment enum are left out.",
        ),
    ),
    Difference(
        key="latency-keys-upper-case",
        operation="GET /api/v2/deployment/stats",
        wire="connection_latency_ms keys P50 and P95 (the Go fields have no JSON tags)",
        reference="keys p50 and p95",
        operation_id="get-deployment-stats",
        to_reference=_lower_latency_keys,
        document=_document_lower_latency_keys,
    ),
    Difference(
        key="stats-processing",
        operation="GET /api/v2/deployment/stats",
        wire='400 {"message":"Deployment stats are still processing!"} before the first refresh',
        reference="200 only",
    ),
    # The entries below reshape the deployment config in this order: every
    # field is shown first, then single values change shape.
    Difference(
        key="empty-fields-omitted",
        operation="GET /api/v2/deployment/config",
        wire="omitempty fields of DeploymentValues and every empty serpent.Option field but the value left out,"
        " and lists and maps never set sent as null",
        reference="every field shown, with [] and {} for empty lists and maps",
        operation_id="get-deployment-config",
        to_reference=_show_every_config_field,
        document=_document_every_config_field,
    ),
    Difference(
        key="url-fields-strings",
        operation="GET /api/v2/deployment/config",
        wire='serpent.URL values (access_url, docs_url, ...) as plain strings, "" when unset',
        reference="objects with scheme, host, path and other lower-case keys",
        operation_id="get-deployment-config",
        to_reference=_replace_at(URL_PATHS, url_object),
        document=_document_objects_at(
            URL_PATHS, "URL", url_object(""),
            "serpent.URL as the API reference shows it: the fields of Go's url.URL, lower-cased.",
        ),
    ),
    Difference(
        key="host-port-strings",
        operation="GET /api/v2/deployment/config",
        wire='serpent.HostPort values (address, tls.address, ...) as one "host:port" string',
        reference="objects with host and port",
        operation_id="get-deployment-config",
        to_reference=_replace_at(HOST_PORT_PATHS, host_port_object),
        document=_document_objects_at(
            HOST_PORT_PATHS, "HostPort", host_port_object(""), "serpent.HostPort as the API reference shows it."
        ),
    ),
    Difference(
        key="regexp-objects",
        operation="GET /api/v2/deployment/config",
        wire="serpent.Regexp values (oidc.group_regex_filter) as the pattern string",
        reference="an object with no documented properties",
        operation_id="get-deployment-config",
        to_reference=_replace_at(REGEXP_PATHS, lambda value: {}),
        document=_document_objects_at(REGEXP_PATHS, "Regexp", {}, "serpent.Regexp as the API reference shows it."),
    ),
    Difference(
        key="struct-values-unwrapped",
        operation="GET /api/v2/deployment/config",
        wire="serpent.Struct values (external_auth, support.links) as the bare array, null when never set",
        reference='an object {"value": [...]}',
        operation_id="get-deployment-config",
        to_reference=_replace_at(STRUCT_PATHS, lambda value: {"value": value or []}),
        document=_document_struct_wrappers,
    ),
    Difference(
        key="ssh-config-go-names",
        operation="GET /api/v2/deployment/config",
        wire="config_ssh keys DeploymentName and SSHConfigOptions (the Go fields have no JSON tags)",
        reference="keys deploymentName and sshconfigOptions",
        operation_id="get-deployment-config",
        to_reference=_ssh_config_lower_names,
        document=_document_ssh_config_lower_names,
    ),
    Difference(
        key="max-admin-token-lifetime",
        operation="GET /api/v2/deployment/config",
        wire="session_lifetime.max_admin_token_lifetime on servers from mid-2025",
        reference="no such field",
        operation_id="get-deployment-config",
        to_reference=_drop_admin_maximum,
        document=_document_drop_admin_maximum,
    ),
    Difference(
        key="hostname-suffix",
        operation="GET /api/v2/deployment/ssh",
        wire='hostname_suffix ("coder", no leading dot) on servers from v2.22; older release versions leave it out',
        reference="the field is listed; the reference profile leaves it out, as servers before v2.22 do",
        operation_id="ssh-config",
        to_reference=_without("hostname_suffix"),
        document=_document_without("ssh-config", "hostname_suffix"),
    ),
    Difference(
        key="webpush-key-omitted",
        operation="GET /api/v2/buildinfo",
        wire="webpush_public_key left out when empty (omitempty), as it is unless the web-push experiment is on",
        reference="always shown",
        operation_id="build-info",
        to_reference=_with_webpush_key,
        document=_document_with_webpush_key,
    ),
    Difference(
        key="token-config-owner-maximum",
        operation="GET /api/v2/users/{user}/keys/tokens/tokenconfig",
        wire="owners get the owners' maximum lifetime; an unknown user gets 400, not 404",
        reference="one maximum for everyone; 200 only",
        operation_id="get-token-config",
        to_reference=_member_maximum,
    ),
)


def reference_transforms(operation_id: str) -> list[Transform]:
    """Return the transforms the reference profile applies to `operation_id`, in table order."""
    return [
        item.to_reference
        for item in DIFFERENCES
        if item.operation_id == operation_id and item.to_reference is not None
    ]


def document_patches() -> list[DocumentPatch]:
    """Return the patches that turn the wire OpenAPI document into the reference one, in table order."""
    return [item.document for item in DIFFERENCES if item.document is not None]


def access_in(profile: str, operation_id: str, wire_access: str) -> str:
    """Return who may call `operation_id` in `profile`."""
    if profile == "reference":
        for item in DIFFERENCES:
            if item.operation_id == operation_id and item.reference_access:
                return item.reference_access
    return wire_access
