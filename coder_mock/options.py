"""Coder's server options, read once from `data/deployment_options.yaml`.

GET /deployment/config lists these options with the values of the
scenario's config. Names, flags, env variables, YAML keys, groups and
defaults are Coder's; descriptions are not served (see the README).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from coder_mock.render_cache import cached_data

OPTIONS_FILE = Path(__file__).parent / "data" / "deployment_options.yaml"


@dataclass(frozen=True)
class ServerOption:
    name: str
    path: str | None
    kind: str
    flag: str = ""
    flag_shorthand: str = ""
    env: str = ""
    yaml: str = ""
    default: str | None = None
    group: tuple[str, ...] = ()
    hidden: bool = False
    secret: bool = False
    required: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    use_instead: tuple[str, ...] = ()


def _parse(text: str) -> Any:
    # libyaml's loader, when PyYAML has it, parsed this 50 KB file about seven
    # times faster than the pure-Python one (15 ms against 100 ms, measured).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _read() -> tuple[list[ServerOption], dict[str, dict[str, Any]]]:
    # Even libyaml takes about 10 ms, a tenth of coder-mock's own imports, so
    # the parsed document is kept in the render cache folder.
    document = cached_data(OPTIONS_FILE, _parse,
                           lambda value: isinstance(value, dict) and {"groups", "options"} <= value.keys())
    groups = {group["name"]: group for group in document["groups"]}
    options = []
    for entry in document["options"]:
        options.append(
            ServerOption(
                name=entry["name"],
                path=entry.get("path"),
                kind=entry["kind"],
                flag=entry.get("flag", ""),
                flag_shorthand=entry.get("flag_shorthand", ""),
                env=entry.get("env", ""),
                yaml=entry.get("yaml", ""),
                default=entry.get("default"),
                group=tuple(entry.get("group", ())),
                hidden=entry.get("hidden", False),
                secret=entry.get("secret", False),
                required=entry.get("required", False),
                annotations=dict(entry.get("annotations", {})),
                use_instead=tuple(entry.get("use_instead", ())),
            )
        )
    return options, groups


OPTIONS, GROUPS = _read()
OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}
SECRET_PATHS = frozenset(option.path for option in OPTIONS if option.secret and option.path)
