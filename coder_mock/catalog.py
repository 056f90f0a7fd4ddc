"""Find, validate and render every scenario before the server accepts requests.

Built-in scenarios and fixtures ship with coder-mock; users add folders of
their own. A broken built-in stops the start. A broken user scenario is
logged and skipped while the others load.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import Schema

from coder_mock.documents import DOCUMENT_SUFFIXES, FileProblem, display_path, load_with, read_document
from coder_mock.rendering import Rendered, render
from coder_mock.schemas.fields import CoderSchema, Nested
from coder_mock.schemas.general import BuildInfoResponse, DeploymentStats, SSHConfigResponse
from coder_mock.schemas.deployment_values import DeploymentValues
from coder_mock.schemas.scenario import NAME_PATTERN, Scenario
from coder_mock.world import Inputs, build_world

log = logging.getLogger("coder_mock.catalog")

# Renderings kept per scenario for seeds and profiles other than its own, so
# that switching through many seeds cannot grow memory without bound.
SEEDS_KEPT = 8


class DeploymentConfigFixture(CoderSchema):
    """A deployment-config fixture: the config only; coder-mock derives the option list from it."""

    config = Nested(DeploymentValues)


FIXTURE_SCHEMAS: dict[str, type[Schema]] = {
    "buildinfo": BuildInfoResponse,
    "deployment-config": DeploymentConfigFixture,
    "deployment-ssh": SSHConfigResponse,
    "deployment-stats": DeploymentStats,
}


def _builtin_root() -> Path:
    """Return the folder holding the built-in `scenarios/` and `fixtures/`."""
    source_tree = Path(__file__).resolve().parent.parent
    if (source_tree / "scenarios").is_dir():
        return source_tree
    return Path(sys.prefix) / "share" / "coder-mock"


BUILTIN_ROOT = _builtin_root()


@dataclass
class Entry:
    """One loaded scenario and its renderings by seed."""

    name: str
    description: str
    source: str
    builtin: bool
    inputs: Inputs
    default: Rendered
    by_seed: dict[tuple[int, str], Rendered] = field(default_factory=dict)


@dataclass
class Merged:
    """A scenario document with its `extends` chain applied, and where each value came from."""

    document: dict[str, Any]
    origins: dict[tuple[str, ...], Path]
    chain: list[Path]

    def locate(self, path: list[Any]) -> str:
        """Return the file that gave the value at `path`."""
        for length in (2, 1):
            origin = self.origins.get(tuple(str(key) for key in path[:length]))
            if origin is not None and len(path) >= length:
                return display_path(origin)
        return display_path(self.chain[0])


def merge_scenario(base: Merged, child: dict[str, Any], child_path: Path) -> Merged:
    """Apply `child` over `base`: top-level mappings merge key by key, every other value replaces."""
    document = dict(base.document)
    origins = dict(base.origins)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
            origins.update({(key, str(inner)): child_path for inner in value})
        else:
            document[key] = value
            origins = {origin: file for origin, file in origins.items() if origin[0] != key}
            origins[(key,)] = child_path
    return Merged(document, origins, [child_path] + base.chain)


class Catalog:
    """Every usable scenario by name, and the problems of the ones rejected."""

    def __init__(self, scenario_dirs: list[Path], fixture_dirs: list[Path], builtin_count: int) -> None:
        self.scenario_dirs = scenario_dirs
        self.fixture_dirs = fixture_dirs
        self.builtin_count = builtin_count
        self.entries: dict[str, Entry] = {}
        self.rejected: dict[str, list[str]] = {}
        self._fixtures: dict[tuple[str, Path], Any] = {}
        self._touched: list[Path] = []
        self.shadowed: dict[str, tuple[Path, bool]] = {}
        self._lock = threading.Lock()

    def is_builtin(self, path: Path) -> bool:
        folders = self.scenario_dirs[: self.builtin_count] + self.fixture_dirs[-1:]
        return any(path.resolve().is_relative_to(folder.resolve()) for folder in folders)

    def names(self) -> list[str]:
        return sorted(self.entries)

    def files(self) -> dict[str, tuple[Path, bool]]:
        """Return scenario files by name; a user folder's file replaces a built-in of the same name."""
        found: dict[str, tuple[Path, bool]] = {}
        for index, folder in enumerate(self.scenario_dirs):
            builtin = index < self.builtin_count
            for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                if path.suffix not in DOCUMENT_SUFFIXES:
                    continue
                if path.stem in found and not builtin:
                    log.warning("scenario %s from %s replaces the one from %s", path.stem,
                                display_path(path), display_path(found[path.stem][0]))
                    self.shadowed[path.stem] = found[path.stem]
                found[path.stem] = (path, builtin)
        return found

    def read_scenario(self, name: str, files: dict[str, tuple[Path, bool]], chain: tuple[str, ...] = ()) -> Merged:
        """Return the raw scenario document with its `extends` chain merged in."""
        path, _ = files[name]
        self._touched.append(path)
        document = read_document(path)
        if not isinstance(document, dict):
            raise FileProblem([f"{display_path(path)}: (top level): expected a mapping of scenario keys."])
        parent = document.get("extends")
        if parent is None:
            origins = {(key,): path for key in document}
            return Merged(document, origins, [path])
        if parent == name and name in self.shadowed and files[name] != self.shadowed[name]:
            # A user scenario that replaces a built-in may extend the built-in it replaces.
            base = self.read_scenario(name, {**files, name: self.shadowed[name]}, chain)
            return self.merge_child(base, document, path)
        if not isinstance(parent, str) or parent not in files:
            known = ", ".join(sorted(name for name in files if NAME_PATTERN.match(name)))
            raise FileProblem([f"{display_path(path)}: extends: unknown scenario {json.dumps(parent)}; use one of {known}."])
        if parent in chain + (name,):
            cycle = " -> ".join(chain + (name, parent))
            raise FileProblem([f"{display_path(path)}: extends: scenarios extend each other in a cycle ({cycle}); break it."])
        base = self.read_scenario(parent, files, chain + (name,))
        return self.merge_child(base, document, path)

    @staticmethod
    def merge_child(base: Merged, document: dict[str, Any], path: Path) -> Merged:
        # A scenario's description is its own; it never comes from its parent.
        base.document.pop("description", None)
        base.origins.pop(("description",), None)
        return merge_scenario(base, document, path)

    def load_fixture(self, kind: str, reference: str, scenario_file: Path) -> tuple[str, Any]:
        for folder in self.fixture_dirs:
            candidate = folder / reference
            if candidate.is_file():
                self._touched.append(candidate)
                key = (kind, candidate.resolve())
                if key not in self._fixtures:
                    schema = FIXTURE_SCHEMAS[kind]()
                    self._fixtures[key] = load_with(schema, read_document(candidate), candidate)
                return display_path(candidate), self._fixtures[key]
        searched = ", ".join(display_path(folder) for folder in self.fixture_dirs)
        raise FileProblem(
            [f"{display_path(scenario_file)}: fixtures.{kind}: fixture {json.dumps(reference)} not found in {searched};"
             " create it or fix the path."]
        )

    def load_inputs(self, name: str, files: dict[str, tuple[Path, bool]]) -> Inputs:
        path, _ = files[name]
        merged = self.read_scenario(name, files)
        scenario = load_with(Scenario(), merged.document, path, partial=False, locate=merged.locate)
        scenario["overrides"] = {key.replace("_", "-"): value for key, value in scenario.get("overrides", {}).items()}
        fixtures = {}
        problems: list[str] = []
        for key, reference in scenario.get("fixtures", {}).items():
            kind = key.replace("_", "-")
            try:
                fixtures[kind] = self.load_fixture(kind, reference, path)
            except FileProblem as problem:
                problems.extend(problem.lines)
        if problems:
            raise FileProblem(problems)
        return Inputs(name=name, source=display_path(path), scenario=scenario, fixtures=fixtures)

    def load(self) -> "Catalog":
        """Load every scenario; raise FileProblem for a broken built-in."""
        files = self.files()
        for name, (path, builtin) in files.items():
            self._touched = []
            try:
                if not NAME_PATTERN.match(name):
                    raise FileProblem([f"{display_path(path)}: the file name {name!r} is not a plain scenario"
                                       " name; use letters, digits, - and _ only."])
                inputs = self.load_inputs(name, files)
                rendered = render(build_world(inputs), inputs.scenario.get("profile", "wire"))
            except FileProblem as problem:
                # A built-in is fatal only when built-in files alone are broken; a user
                # folder can replace the scenario it extends or a fixture it names.
                if builtin and all(self.is_builtin(touched) for touched in self._touched):
                    raise
                self.rejected[name] = problem.lines
                for line in problem.lines:
                    log.warning("scenario %s skipped: %s", name, line)
                continue
            self.entries[name] = Entry(name, inputs.scenario["description"], inputs.source, builtin, inputs, rendered)
            log.info("scenario %s loaded from %s", name, inputs.source)
        return self

    def rendered(self, name: str, seed: int | None = None, profile: str | None = None) -> Rendered:
        """Return `name` rendered at `seed` in `profile`, each defaulting to the scenario's own.

        Each combination is rendered once and kept.
        """
        entry = self.entries[name]
        seed = entry.default.world.seed if seed is None else seed
        profile = entry.default.profile if profile is None else profile
        if (seed, profile) == (entry.default.world.seed, entry.default.profile):
            return entry.default
        with self._lock:
            key = (seed, profile)
            if key not in entry.by_seed:
                if len(entry.by_seed) >= SEEDS_KEPT:
                    entry.by_seed.pop(next(iter(entry.by_seed)))
                entry.by_seed[key] = render(build_world(entry.inputs, seed), profile)
            return entry.by_seed[key]


def load_catalog(scenario_dirs: list[Path] | None = None, fixture_dirs: list[Path] | None = None) -> Catalog:
    """Load the built-ins plus the user folders given (which take precedence on a name clash)."""
    scenarios = [BUILTIN_ROOT / "scenarios"] + list(scenario_dirs or [])
    fixtures = list(fixture_dirs or []) + [BUILTIN_ROOT / "fixtures"]
    return Catalog(scenarios, fixtures, builtin_count=1).load()
