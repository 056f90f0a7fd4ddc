"""Drift between Coder's published definitions and coder-mock's schemas: types and enums.

tests/test_schemas.py checks that every property of a definition is a field
of our schema. The tests here check what each field holds: the field class
must fit the property's swagger type, and enum values must match. Where
coderd sends another shape than the reference shows (serpent.URL, HostPort
and Struct values), the field must have the wire shape and the path must be
one that coder_mock.differences lists. Each failure names the definition and
the property.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from marshmallow import fields as mm_fields

from coder_mock import differences
from coder_mock.catalog import Catalog
from coder_mock.differences import DIFFERENCES, PROFILES
from coder_mock.schemas.deployment_values import LinkConfig
from coder_mock.schemas.fields import (
    URL,
    UUID,
    AnyMap,
    AnyValue,
    Bool,
    Duration,
    Enum,
    Int,
    Number,
    Regexp,
    SemVer,
    String,
    StringList,
    StringMap,
    Timestamp,
)
from coder_mock.schemas.general import EXPERIMENTS_KNOWN
from conftest import SWAGGER
from test_schemas import CHECKED_DEFINITIONS, reference_properties, renamed_keys, schema_for, wire_keys

SCALAR_FIELDS: dict[tuple[str, str | None], tuple[type[mm_fields.Field], ...]] = {
    ("string", None): (String, SemVer, URL, UUID, Enum),
    ("string", "date-time"): (Timestamp,),
    ("string", "uuid"): (UUID,),
    # Go's time.Duration is an integer number of nanoseconds.
    ("integer", None): (Int, Duration),
    ("number", None): (Number,),
    ("boolean", None): (Bool,),
}
"""The field classes that fit each swagger (type, format)."""

WIRE_SHAPE_DIFFERENCES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "url-fields-strings": (("serpent.URL",), differences.URL_PATHS),
    "host-port-strings": (("serpent.HostPort",), differences.HOST_PORT_PATHS),
    "struct-values-unwrapped": (
        ("serpent.Struct-array_codersdk_ExternalAuthConfig", "serpent.Struct-array_codersdk_LinkConfig"),
        differences.STRUCT_PATHS,
    ),
    "regexp-objects": (("serpent.Regexp",), differences.REGEXP_PATHS),
}
"""Differences where coderd sends a definition in another shape: the definitions and the config paths listed."""

WIRE_SHAPES = {name for names, _ in WIRE_SHAPE_DIFFERENCES.values() for name in names}

REFERENCE_LINK_ICONS = ["bug", "chat", "docs"]
"""The icons the reference allows for a support link, as the NOTE on LinkConfig.icon states them."""

ENUMS_CHECKED_APART = {
    ("codersdk.LinkConfig", "icon"): "test_link_icons_as_noted",
    ("serpent.Option", "value_source"): "test_value_sources_in_reference",
}
"""Enum properties whose coder-mock field is a plain String, each with the test that covers it."""


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    if not SWAGGER.is_file():
        pytest.skip(f"Coder's OpenAPI document is absent at {SWAGGER}, and these tests compare against it")
    return json.loads(SWAGGER.read_text(encoding="utf-8"))["definitions"]


def referenced(node: dict[str, Any]) -> str | None:
    """Return the definition a property names through `$ref` or a one-item `allOf`, or None."""
    references = [node] if "$ref" in node else [part for part in node.get("allOf", []) if "$ref" in part]
    if not references:
        return None
    return references[0]["$ref"].rsplit("/", 1)[1]


def field_name(field: mm_fields.Field) -> str:
    if isinstance(field, mm_fields.List):
        return f"List({field_name(field.inner)})"
    if isinstance(field, mm_fields.Nested):
        return f"Nested({type(field.schema).__name__})"
    return type(field).__name__


def nested_name(definition: str) -> str:
    return f"Nested({type(schema_for(definition)).__name__})"


def expected_fields(definitions: dict[str, Any], node: dict[str, Any]) -> tuple[str, ...]:
    """Return the names of the field classes that fit a reference property, as field_name writes them."""
    name = referenced(node)
    if name in WIRE_SHAPES:
        # The wire shape: URL, HostPort and Regexp values are strings, a Struct value is the bare array.
        if name == "serpent.URL":
            return (URL.__name__,)
        if name == "serpent.HostPort":
            return (String.__name__,)
        if name == "serpent.Regexp":
            return (Regexp.__name__,)
        return (f"List({nested_name(referenced(definitions[name]['properties']['value']['items']))})",)
    if name is not None:
        target = definitions[name]
        if "properties" in target:
            return (nested_name(name),)
        node = target

    kind = node.get("type")
    if kind is None:
        return (AnyValue.__name__,)
    if kind == "array":
        item = referenced(node["items"])
        if item is not None:
            return (f"List({nested_name(item)})",)
        return (StringList.__name__,) if node["items"].get("type") == "string" else ()
    if kind == "object":
        extra = node.get("additionalProperties")
        if extra == {"type": "string"}:
            return (StringMap.__name__,)
        if extra is True:
            return (AnyMap.__name__,)
        # An object that lists no properties may contain anything.
        return (AnyMap.__name__, StringMap.__name__)
    return tuple(field.__name__ for field in SCALAR_FIELDS.get((kind, node.get("format")), ()))


def describe_property(node: dict[str, Any]) -> str:
    name = referenced(node)
    if name is not None:
        return name
    return " ".join(str(node[key]) for key in ("type", "format") if key in node) or "any JSON value"


@pytest.mark.parametrize("definition", CHECKED_DEFINITIONS)
def test_field_types_match(definitions: dict[str, Any], definition: str) -> None:
    ours = wire_keys(schema_for(definition))
    renamed = renamed_keys(definition)

    mismatches = []
    for key, node in reference_properties(definitions, definition).items():
        field = ours.get(renamed.get(key, key))
        if field is None:
            # tests/test_schemas.py reports the missing field itself.
            continue
        expected = expected_fields(definitions, node)
        if field_name(field) not in expected:
            mismatches.append(
                f"{definition}.{key}: the reference types it as {describe_property(node)}, which fits"
                f" {' or '.join(expected) or 'no coder-mock field class'}, but our field is {field_name(field)}"
            )

    assert mismatches == [], "\n".join(mismatches)


def config_paths_to(definitions: dict[str, Any], targets: tuple[str, ...]) -> Iterator[str]:
    """Yield the dotted path of each DeploymentValues property that references one of `targets`."""
    pending = [("codersdk.DeploymentValues", "")]
    while pending:
        name, prefix = pending.pop()
        for key, node in definitions[name].get("properties", {}).items():
            reference = referenced(node)
            if reference in targets:
                yield prefix + key
            elif reference is not None and "properties" in definitions[reference] and reference not in WIRE_SHAPES:
                pending.append((reference, f"{prefix}{key}."))


@pytest.mark.parametrize("key", sorted(WIRE_SHAPE_DIFFERENCES))
def test_wire_shape_paths_listed(definitions: dict[str, Any], key: str) -> None:
    targets, listed = WIRE_SHAPE_DIFFERENCES[key]
    typed = set(config_paths_to(definitions, targets))

    assert [item.operation_id for item in DIFFERENCES if item.key == key] == ["get-deployment-config"]
    assert typed - set(listed) == set(), f"{key}: config paths the reference types as {' or '.join(targets)}, not listed"
    assert set(listed) - typed == set(), f"{key}: listed config paths the reference does not type as {' or '.join(targets)}"


def enum_values(definitions: dict[str, Any], node: dict[str, Any]) -> list[str] | None:
    name = referenced(node)
    if name is not None:
        node = definitions[name]
    return node.get("enum")


@pytest.mark.parametrize("definition", CHECKED_DEFINITIONS)
def test_enum_values_match(definitions: dict[str, Any], definition: str) -> None:
    ours = wire_keys(schema_for(definition))
    renamed = renamed_keys(definition)

    mismatches = []
    for key, node in reference_properties(definitions, definition).items():
        values = enum_values(definitions, node)
        field = ours.get(renamed.get(key, key))
        if values is None or field is None or (definition, key) in ENUMS_CHECKED_APART:
            continue
        if not isinstance(field, Enum):
            mismatches.append(f"{definition}.{key}: the reference allows only {values}, but our field is"
                              f" {field_name(field)}, which accepts any value")
        elif list(field.choices) != values:
            mismatches.append(f"{definition}.{key}: the reference allows {values}, our Enum {list(field.choices)}")

    assert mismatches == [], "\n".join(mismatches)


def test_enums_checked_apart_exist(definitions: dict[str, Any]) -> None:
    for definition, key in ENUMS_CHECKED_APART:
        assert enum_values(definitions, reference_properties(definitions, definition)[key]) is not None, (
            f"{definition}.{key} is no longer an enum in the reference, so drop it from ENUMS_CHECKED_APART"
        )


def test_experiment_names_known(definitions: dict[str, Any]) -> None:
    assert definitions["codersdk.Experiment"]["enum"] == list(EXPERIMENTS_KNOWN), (
        "codersdk.Experiment: the reference's names differ from EXPERIMENTS_KNOWN in coder_mock.schemas.general"
    )


def served_value_sources(options: list[dict[str, Any]]) -> Iterator[str]:
    for option in options:
        if "value_source" in option:
            yield option["value_source"]
        yield from served_value_sources(option.get("use_instead", []))


@pytest.mark.parametrize("profile", PROFILES)
def test_value_sources_in_reference(definitions: dict[str, Any], catalog: Catalog, profile: str) -> None:
    allowed = definitions["serpent.ValueSource"]["enum"]
    served = set()
    for name in catalog.names():
        reply = catalog.rendered(name, profile=profile).replies["get-deployment-config"]
        served |= set(served_value_sources(json.loads(reply.body)["options"]))

    assert served - set(allowed) == set(), f"serpent.Option.value_source: values outside serpent.ValueSource {allowed}"


def test_link_icons_as_noted(definitions: dict[str, Any]) -> None:
    icons = reference_properties(definitions, "codersdk.LinkConfig")["icon"]["enum"]

    assert icons == REFERENCE_LINK_ICONS, (
        "codersdk.LinkConfig.icon: the reference's icons changed, so revisit the NOTE on LinkConfig.icon"
    )
    for icon in [*icons, "star"]:
        assert LinkConfig().validate({"icon": icon}) == {}, f"codersdk.LinkConfig.icon: {icon!r} is rejected"
