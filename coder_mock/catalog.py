"""Find scenarios, and validate and render each one on first use or all at once.

Built-in scenarios and fixtures ship with coder-mock; users add folders of
their own. A broken user scenario is logged and skipped while the others
load. A broken built-in stops `load`, and in a catalog that loads on first
use it stops the start when it is the scenario served first.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coder_mock.documents import DOCUMENT_SUFFIXES, FileProblem, display_path, load_with, read_document
from coder_mock.render_cache import Dependencies, RenderCache, file_digest, still_valid
from coder_mock.rendering import Rendered, render
from coder_mock.schemas.constants import NAME_PATTERN
from coder_mock.world import Inputs, build_world

log = logging.getLogger("coder_mock.catalog")

# Renderings kept per scenario for seeds and profiles other than its own, so
# that switching through many seeds cannot grow memory without bound.
SEEDS_KEPT = 8


def __getattr__(name: str) -> Any:
    # The fixture schemas live in coder_mock.schemas.fixtures, imported on
    # first use, so that a start served from the render cache skips marshmallow.
    if name in ("FIXTURE_SCHEMAS", "DeploymentConfigFixture"):
        from coder_mock.schemas import fixtures

        return getattr(fixtures, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _builtin_root() -> Path:
    """Return the folder holding the built-in `scenarios/` and `fixtures/`."""
    source_tree = Path(__file__).resolve().parent.parent
    if (source_tree / "scenarios").is_dir():
        return source_tree
    return Path(sys.prefix) / "share" / "coder-mock"


BUILTIN_ROOT = _builtin_root()


class Entry:
    """One scenario file, validated and rendered at its own seed on first use, and its renderings by seed.

    `inputs` and `default` load the scenario when they are first read and
    raise FileProblem when it is broken. The description of a scenario not
    loaded yet is read from its file alone.
    """

    def __init__(self, catalog: Catalog, name: str, path: Path, builtin: bool) -> None:
        self.catalog = catalog
        self.name = name
        self.path = path
        self.builtin = builtin
        self.by_seed: dict[tuple[int, str], Rendered] = {}
        self.dependencies: Dependencies | None = None
        self.loaded_inputs: Inputs | None = None
        self.loaded_default: Rendered | None = None
        self._description: str | None = None

    @functools.cached_property
    def source(self) -> str:
        # Computed on first read: resolving a thousand paths at start costs tens of milliseconds.
        return display_path(self.path)

    @property
    def loaded(self) -> bool:
        return self.loaded_default is not None

    @property
    def description(self) -> str:
        if self.loaded_inputs is not None:
            return self.loaded_inputs.scenario["description"]
        if self._description is None:
            self._description = self.catalog.read_description(self)
        return self._description

    @property
    def inputs(self) -> Inputs:
        self.catalog.load_entry(self)
        assert self.loaded_inputs is not None
        return self.loaded_inputs

    @property
    def default(self) -> Rendered:
        self.catalog.load_entry(self)
        assert self.loaded_default is not None
        return self.loaded_default

    def copy_to(self, catalog: Catalog) -> Entry:
        """Return this loaded entry as an entry of `catalog`, sharing its renderings."""
        copy = Entry(catalog, self.name, self.path, self.builtin)
        copy.dependencies = self.dependencies
        copy.loaded_inputs = self.loaded_inputs
        copy.loaded_default = self.loaded_default
        copy.by_seed = dict(self.by_seed)
        return copy


class Entries(Mapping[str, Entry]):
    """The catalog's usable scenarios by name, loading each one on first use.

    Iteration and `len` cover every scenario not known to be broken, without
    loading any. `name in entries` loads the scenario and is false when it is
    broken. Indexing also returns an entry found broken after it was listed,
    so that a listing that races a first use does not fail.
    """

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __getitem__(self, name: str) -> Entry:
        return self._catalog.all_entries[name]

    def __iter__(self) -> Iterator[str]:
        rejected = self._catalog.rejected
        return iter([name for name in self._catalog.all_entries if name not in rejected])

    def __len__(self) -> int:
        rejected = self._catalog.rejected
        return sum(1 for name in self._catalog.all_entries if name not in rejected)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._catalog.ensure(name)


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
    """Every scenario by name, loaded on first use, and the problems of the ones rejected.

    `discover` only lists the folders, so the start costs the same with ten
    scenarios or a thousand. A scenario is read, validated and rendered at its
    own seed when it is first used (`name in catalog.entries`, `ensure`,
    `rendered`), and `load` does that for every scenario at once. With a
    RenderCache, a scenario whose files are unchanged since an earlier
    process is read back from disk.
    """

    def __init__(self, scenario_dirs: list[Path], fixture_dirs: list[Path], builtin_count: int,
                 cache: RenderCache | None = None) -> None:
        self.scenario_dirs = scenario_dirs
        self.fixture_dirs = fixture_dirs
        self.builtin_count = builtin_count
        self.cache = cache
        self.all_entries: dict[str, Entry] = {}
        self.entries = Entries(self)
        self.rejected: dict[str, list[str]] = {}
        # Names whose problems lie in built-in files alone, which no user folder can fix.
        self.fatal: set[str] = set()
        self.shadowed: dict[str, tuple[Path, bool]] = {}
        # The watcher turns these off while it checks a reloaded catalog, and logs its own lines.
        self.log_replacements = True
        self.log_rejections = True
        self._files: dict[str, tuple[Path, bool]] = {}
        # Every file that defines each scenario name, in folder order.
        self.candidates: dict[str, tuple[str, ...]] = {}
        self._fixtures: dict[tuple[str, Path], Any] = {}
        self._touched: list[Path] = []
        self._dependencies = Dependencies()
        self._lock = threading.RLock()

    def is_builtin(self, path: Path) -> bool:
        folders = self.scenario_dirs[: self.builtin_count] + self.fixture_dirs[-1:]
        return any(path.resolve().is_relative_to(folder.resolve()) for folder in folders)

    def names(self) -> list[str]:
        """Return the names of every scenario not known to be broken, without loading any."""
        return sorted(self.entries)

    def files(self) -> dict[str, tuple[Path, bool]]:
        """Return scenario files by name; a user folder's file replaces a built-in of the same name."""
        found: dict[str, tuple[Path, bool]] = {}
        candidates: dict[str, list[str]] = {}
        for index, folder in enumerate(self.scenario_dirs):
            builtin = index < self.builtin_count
            resolved = folder.resolve()
            for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                if path.suffix not in DOCUMENT_SUFFIXES:
                    continue
                candidates.setdefault(path.stem, []).append(str(resolved / path.name))
                if path.stem in found and not builtin:
                    if self.log_replacements:
                        log.warning("scenario %s from %s replaces the one from %s", path.stem,
                                    display_path(path), display_path(found[path.stem][0]))
                    self.shadowed[path.stem] = found[path.stem]
                found[path.stem] = (path, builtin)
        self.candidates = {name: tuple(paths) for name, paths in candidates.items()}
        return found

    def discover(self) -> Catalog:
        """List the scenario folders; read no scenario file yet."""
        self._files = self.files()
        for name, (path, builtin) in self._files.items():
            self.all_entries[name] = Entry(self, name, path, builtin)
            if not NAME_PATTERN.match(name):
                self.reject(self.all_entries[name], [f"{display_path(path)}: the file name {name!r} is not a plain"
                                                     " scenario name; use letters, digits, - and _ only."], [])
        return self

    def load(self) -> Catalog:
        """Load every scenario; raise FileProblem for a broken built-in."""
        self.discover()
        for name in list(self.all_entries):
            self.ensure(name)
            if name in self.fatal:
                raise FileProblem(self.rejected[name])
        return self

    def reopened(self) -> Catalog:
        """Return a new catalog of the same folders and cache, as discovered now."""
        catalog = Catalog(self.scenario_dirs, self.fixture_dirs, self.builtin_count, self.cache)
        catalog.log_replacements = False
        return catalog.discover()

    def ensure(self, name: str) -> bool:
        """Load `name` unless it is loaded already; return whether it can be served.

        A broken scenario is logged once, one line per problem, and kept in `rejected`.
        """
        entry = self.all_entries.get(name)
        if entry is None or name in self.rejected:
            return False
        if entry.loaded:
            return True
        try:
            self.load_entry(entry)
        except FileProblem:
            return False
        return True

    def load_entry(self, entry: Entry) -> None:
        """Validate and render `entry` at its own seed unless done; raise FileProblem when it is broken."""
        if entry.loaded:
            return
        with self._lock:
            if entry.loaded:
                return
            if entry.name in self.rejected:
                raise FileProblem(self.rejected[entry.name])
            if self.load_cached(entry):
                log.info("scenario %s loaded from %s (render cache)", entry.name, entry.source)
                return
            self._touched = []
            self._dependencies = Dependencies()
            try:
                inputs = self.load_inputs(entry.name, self._files)
                rendered = render(build_world(inputs), inputs.scenario.get("profile", "wire"))
            except FileProblem as problem:
                self.reject(entry, problem.lines, self._touched)
                raise
            entry.loaded_inputs = inputs
            entry.dependencies = self._dependencies
            entry.loaded_default = rendered
            if self.cache is not None:
                self.cache.put((entry.dependencies, inputs, rendered), *self.cache_key(entry))
        log.info("scenario %s loaded from %s", entry.name, entry.source)

    def reject(self, entry: Entry, lines: list[str], touched: list[Path]) -> None:
        # A built-in is fatal only when built-in files alone are broken; a user
        # folder can replace the scenario it extends or a fixture it names.
        if entry.builtin and all(self.is_builtin(path) for path in touched):
            self.fatal.add(entry.name)
        self.rejected[entry.name] = lines
        for line in lines if self.log_rejections else []:
            log.warning("scenario %s skipped: %s", entry.name, line)

    def cache_key(self, entry: Entry) -> tuple[object, ...]:
        folders = tuple(str(folder.resolve()) for folder in self.scenario_dirs + self.fixture_dirs)
        return ("scenario", entry.name, folders, self.builtin_count, str(Path.cwd()))

    def load_cached(self, entry: Entry) -> bool:
        """Fill `entry` from the render cache when its files are unchanged; return whether it was."""
        if self.cache is None:
            return False
        cached = self.cache.get(*self.cache_key(entry))
        if not (isinstance(cached, tuple) and len(cached) == 3 and isinstance(cached[0], Dependencies)
                and isinstance(cached[1], Inputs) and isinstance(cached[2], Rendered)):
            return False
        dependencies, inputs, rendered = cached
        if not still_valid(dependencies, self.candidates):
            return False
        entry.loaded_inputs = inputs
        entry.dependencies = dependencies
        entry.loaded_default = rendered
        return True

    def read_description(self, entry: Entry) -> str:
        """Return the description that `entry`'s own file gives, loading the scenario only when that fails.

        A scenario's description never comes from the scenario it extends, so one file is enough.
        Reading the description of a file that cannot be parsed rejects the
        scenario, so a listing reads descriptions before it leaves out the
        rejected names, as GET /__admin/scenarios does.
        """
        try:
            document = read_document(entry.path)
        except FileProblem:
            document = None
        if isinstance(document, dict) and isinstance(document.get("description"), str):
            return document["description"]
        return entry.inputs.scenario["description"] if self.ensure(entry.name) else ""

    def adopt(self, entry: Entry) -> None:
        """Serve `entry`, loaded by an earlier catalog, under its name in this one."""
        with self._lock:
            self.all_entries[entry.name] = entry.copy_to(self)
            self.rejected.pop(entry.name, None)
            self.fatal.discard(entry.name)

    def own_seed(self, name: str) -> int | None:
        """Return the seed `name` names for itself, or None when it is not loaded."""
        entry = self.all_entries.get(name)
        return entry.loaded_default.world.seed if entry is not None and entry.loaded_default is not None else None

    def read_scenario(self, name: str, files: dict[str, tuple[Path, bool]], chain: tuple[str, ...] = ()) -> Merged:
        """Return the raw scenario document with its `extends` chain merged in."""
        path, _ = files[name]
        self._touched.append(path)
        self.record_file(path)
        self._dependencies.names[name] = self.candidates.get(name, ())
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

    def record_file(self, path: Path) -> None:
        # The digest is taken before the file is parsed: a file that changes in
        # between makes the cache entry a miss later, never a stale hit.
        self._dependencies.files[str(path.resolve())] = file_digest(path) or ""

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
                self.record_file(candidate)
                key = (kind, candidate.resolve())
                if key not in self._fixtures:
                    from coder_mock.schemas.fixtures import FIXTURE_SCHEMAS

                    schema = FIXTURE_SCHEMAS[kind]()
                    self._fixtures[key] = load_with(schema, read_document(candidate), candidate)
                return display_path(candidate), self._fixtures[key]
            self._dependencies.absent.add(os.path.abspath(candidate))
        searched = ", ".join(display_path(folder) for folder in self.fixture_dirs)
        raise FileProblem(
            [f"{display_path(scenario_file)}: fixtures.{kind}: fixture {json.dumps(reference)} not found in {searched};"
             " create it or fix the path."]
        )

    def load_inputs(self, name: str, files: dict[str, tuple[Path, bool]]) -> Inputs:
        path, _ = files[name]
        merged = self.read_scenario(name, files)
        from coder_mock.schemas.scenario import Scenario

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

    def rendered(self, name: str, seed: int | None = None, profile: str | None = None) -> Rendered:
        """Return `name` rendered at `seed` in `profile`, each defaulting to the scenario's own.

        Raise KeyError for a name that is unknown or broken. Each combination is rendered once and kept.
        """
        if not self.ensure(name):
            raise KeyError(name)
        entry = self.all_entries[name]
        own = entry.default
        seed = own.world.seed if seed is None else seed
        profile = own.profile if profile is None else profile
        if (seed, profile) == (own.world.seed, own.profile):
            return own
        with self._lock:
            key = (seed, profile)
            if key not in entry.by_seed:
                if len(entry.by_seed) >= SEEDS_KEPT:
                    entry.by_seed.pop(next(iter(entry.by_seed)))
                entry.by_seed[key] = self.render_other(entry, seed, profile)
            return entry.by_seed[key]

    def render_other(self, entry: Entry, seed: int, profile: str) -> Rendered:
        """Render `entry` at a seed or profile other than its own, through the render cache."""
        assert entry.dependencies is not None
        key = ("rendering", entry.name, entry.dependencies.digest(), seed, profile)
        if self.cache is not None:
            cached = self.cache.get(*key)
            if isinstance(cached, Rendered):
                return cached
        rendered = render(build_world(entry.inputs, seed), profile)
        if self.cache is not None:
            self.cache.put(rendered, *key)
        return rendered


def load_catalog(scenario_dirs: list[Path] | None = None, fixture_dirs: list[Path] | None = None) -> Catalog:
    """Load the built-ins plus the user folders given (which take precedence on a name clash)."""
    return new_catalog(scenario_dirs, fixture_dirs).load()


def open_catalog(scenario_dirs: list[Path] | None = None, fixture_dirs: list[Path] | None = None,
                 cache: RenderCache | None = None) -> Catalog:
    """List the built-ins plus the user folders given, loading each scenario on first use."""
    return new_catalog(scenario_dirs, fixture_dirs, cache).discover()


def new_catalog(scenario_dirs: list[Path] | None, fixture_dirs: list[Path] | None,
                cache: RenderCache | None = None) -> Catalog:
    scenarios = [BUILTIN_ROOT / "scenarios"] + list(scenario_dirs or [])
    fixtures = list(fixture_dirs or []) + [BUILTIN_ROOT / "fixtures"]
    return Catalog(scenarios, fixtures, builtin_count=1, cache=cache)
