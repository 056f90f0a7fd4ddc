"""A safe YAML loader that remembers how implicit scalars were written.

YAML 1.1 turns unquoted `2.10` into the float 2.1 and `no` into false. A
fixture author who meant the strings needs to see the text they wrote, so
floats and booleans keep their source text, and timestamps stay strings for
the schemas to parse with full nanosecond precision.
"""

from __future__ import annotations

from typing import Any

import yaml


class SourceFloat(float):
    """A float read from YAML, with the text it was written as."""

    source: str

    def __new__(cls, value: float, source: str) -> "SourceFloat":
        number = super().__new__(cls, value)
        number.source = source
        return number


class SourceBool:
    """A boolean read from YAML, with the text it was written as (`no`, `On`)."""

    __slots__ = ("value", "source")

    def __init__(self, value: bool, source: str) -> None:
        self.value = value
        self.source = source

    def __bool__(self) -> bool:
        return self.value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SourceBool):
            return self.value == other.value
        return self.value == other

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return self.source


class SourceLoader(yaml.SafeLoader):
    """SafeLoader that keeps the source text of floats, booleans and timestamps."""


def _construct_float(loader: SourceLoader, node: yaml.ScalarNode) -> SourceFloat:
    return SourceFloat(yaml.SafeLoader.construct_yaml_float(loader, node), node.value)


def _construct_bool(loader: SourceLoader, node: yaml.ScalarNode) -> SourceBool:
    return SourceBool(yaml.SafeLoader.construct_yaml_bool(loader, node), node.value)


def _construct_timestamp(loader: SourceLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


def _construct_mapping(loader: SourceLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # YAML lets a later duplicate key win silently; a fixture author almost
    # never means that, so it is an error here.
    seen = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        if key_node.value in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key_node.value!r}; keep one of them", key_node.start_mark
            )
        seen.add(key_node.value)
    return yaml.SafeLoader.construct_mapping(loader, node)


SourceLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
SourceLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
SourceLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
SourceLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def load(text: str) -> Any:
    """Parse one YAML document with `SourceLoader`."""
    return yaml.load(text, Loader=SourceLoader)  # noqa: S506 - SourceLoader derives from SafeLoader


def plain(value: Any) -> Any:
    """Return `value` with every SourceFloat and SourceBool turned into float and bool."""
    if isinstance(value, SourceBool):
        return value.value
    if isinstance(value, SourceFloat):
        return float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
