"""Coder's server options, read once from `data/deployment_options.yaml`.

GET /deployment/config lists these options with the values of the
scenario's config. Names, flags, env variables, YAML keys, groups and
defaults are Coder's; descriptions are not served (see the README).

The package also ships the parsed document as `data/deployment_options.json`,
with the SHA-256 of the YAML it came from. JSON parses in well under a
millisecond, so a start with an empty render cache skips the YAML parser.
After an edit of the YAML, `scripts/update-options-json` rewrites the JSON;
until then the digest differs and the YAML is parsed as before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coder_mock.render_cache import cached_data

OPTIONS_FILE = Path(__file__).parent / "data" / "deployment_options.yaml"
PARSED_FILE = OPTIONS_FILE.with_suffix(".json")


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
    import yaml

    # libyaml's loader, when PyYAML has it, parsed this 50 KB file about seven
    # times faster than the pure-Python one (15 ms against 100 ms, measured).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _is_document(value: Any) -> bool:
    return isinstance(value, dict) and {"groups", "options"} <= value.keys()


def parsed_document(source: bytes) -> dict[str, Any]:
    """Return the content of PARSED_FILE for the YAML bytes `source`."""
    return {"source_sha256": hashlib.sha256(source).hexdigest(), "document": _parse(source.decode("utf-8"))}


def _read_document() -> Any:
    source = OPTIONS_FILE.read_bytes()
    try:
        shipped = json.loads(PARSED_FILE.read_bytes())
    except (OSError, ValueError):
        shipped = None
    if (isinstance(shipped, dict) and shipped.get("source_sha256") == hashlib.sha256(source).hexdigest()
            and _is_document(shipped.get("document"))):
        return shipped["document"]
    # Even libyaml takes about 10 ms, a tenth of coder-mock's own imports, so
    # the parsed document is kept in the render cache folder.
    return cached_data(OPTIONS_FILE, _parse, _is_document)


def _read() -> tuple[list[ServerOption], dict[str, dict[str, Any]]]:
    document = _read_document()
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
