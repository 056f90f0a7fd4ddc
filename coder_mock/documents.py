"""Reading fixture and scenario files, and turning schema errors into sentences.

Every problem is reported as `FILE: KEY.PATH: message`, where the message
names the value as written and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import yaml

from coder_mock import yamlsource

if TYPE_CHECKING:
    from marshmallow import Schema

DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")


class FileProblem(Exception):
    """A fixture or scenario file that cannot be used, with one line per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file with the safe loader, or raise FileProblem."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileProblem([f"{shown}: file not found; create it or fix the path that names it."]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise FileProblem([f"{shown}: cannot be read ({error}); save it as UTF-8 text."]) from None

    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise FileProblem(
                [f"{shown}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}."]
            ) from None

    try:
        return yamlsource.load(text)
    except yaml.constructor.ConstructorError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else "?"
        if (error.problem or "").startswith("duplicate key"):
            raise FileProblem([f"{shown}: line {line}: {error.problem}."]) from None
        tag = (error.problem or "").split("tag '")[-1].rstrip("'")
        raise FileProblem(
            [
                f"{shown}: line {line}: the tag {tag.replace('tag:yaml.org,2002:', '!!')} is not allowed;"
                " coder-mock reads plain YAML without language tags, so remove the tag."
            ]
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        parts = [getattr(error, "context", None), getattr(error, "problem", None)]
        problem = ", ".join(part for part in parts if part) or str(error)
        raise FileProblem([f"{shown}: invalid YAML{where}: {problem}."]) from None


def _value_at(document: Any, path: list[Any]) -> Any:
    value = document
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _key_path(path: list[Any]) -> str:
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += ("." if text else "") + str(key)
    return text or "(top level)"


Locate = Callable[[list[Any]], str]
"""Return the file to name for a key path, when a document merges several files."""


def error_lines(shown: str | Locate, messages: Any, document: Any, path: list[Any] | None = None) -> list[str]:
    """Flatten marshmallow's nested messages into `FILE: KEY.PATH: message` lines."""
    from coder_mock.schemas.fields import written

    path = path or []
    if isinstance(messages, dict):
        lines = []
        for key, nested in messages.items():
            child = path if key == "_schema" else path + [key]
            lines.extend(error_lines(shown, nested, document, child))
        return lines

    lines = []
    file = shown(path) if callable(shown) else shown
    for message in messages:
        if isinstance(message, (dict, list)):
            lines.extend(error_lines(shown, message, document, path))
            continue
        if message.startswith("invalid value: "):
            message = f"invalid value {written(_value_at(document, path))}: " + message.removeprefix("invalid value: ")
        lines.append(f"{file}: {_key_path(path)}: {message}")
    return lines


def load_with(schema: Schema, document: Any, path: Path, partial: bool = True, locate: Locate | None = None) -> Any:
    """Validate `document` with `schema`, or raise FileProblem naming `path` (or what `locate` names)."""
    from marshmallow import ValidationError

    if document is None:
        document = {}
    try:
        return schema.load(document, partial=partial)
    except ValidationError as error:
        raise FileProblem(error_lines(locate or display_path(path), error.messages, document)) from None
