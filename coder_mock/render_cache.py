"""An on-disk cache of rendered scenarios, so that a restart skips validation and rendering.

Rendering a scenario needs every schema (marshmallow), the option table and,
for some generated values, Faker. Together they cost more than the rest of
the start-up. A cache entry contains the
validated inputs and the rendering of one scenario at one seed and profile,
and the files it was built from with the SHA-256 of their bytes. An entry is
used only when every one of those files still has the same bytes, every
fixture path searched in vain is still absent, and each scenario name of the
`extends` chain still resolves to the same files.

The folder is `$CODER_MOCK_CACHE_DIR` when that variable is set (an empty
value turns the cache off), else `coder-mock` under `$XDG_CACHE_HOME` or
`~/.cache`. Writers create a temporary file and rename it over the entry, so
concurrent servers never read a partial entry. An entry that cannot be read
or unpickled is ignored and rewritten. The same folder keeps parsed data
files of coder-mock itself (`cached_data`), such as the option table.

NOTE: nothing removes old entries. Each edit of a scenario rendered at other
seeds, and each change of coder-mock's files, leaves entries behind (about
60 KB each), until the user deletes the folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import marshal
import os
import pickle
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import coder_mock

log = logging.getLogger("coder_mock.cache")

CACHE_ENV = "CODER_MOCK_CACHE_DIR"
# Part of every key; raise it when the layout of an entry changes.
FORMAT = 1
# Libraries whose code decides generated values or encoded bytes. Their
# installed files are part of the fingerprint, so an upgrade empties the cache.
LIBRARIES = ("faker", "marshmallow", "yaml")
# The only classes an entry may contain. The unpickler rejects any other, so a planted file cannot run code.
ALLOWED_CLASSES = {
    ("coder_mock.rendering", "Rendered"),
    ("coder_mock.rendering", "Reply"),
    ("coder_mock.faults", "FaultRule"),
    ("coder_mock.gotime", "GoTime"),
    ("coder_mock.world", "Inputs"),
    ("coder_mock.world", "UserRecord"),
    ("coder_mock.world", "World"),
    ("coder_mock.render_cache", "Dependencies"),
    ("datetime", "datetime"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
}


@dataclass
class Dependencies:
    """The files a scenario was built from, and the lookups that decided which files those were."""

    files: dict[str, str] = field(default_factory=dict)
    """SHA-256 of each file read, by absolute path."""
    absent: set[str] = field(default_factory=set)
    """Fixture paths that were searched and did not exist."""
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Every file that defines each scenario name of the `extends` chain, in folder order."""

    def digest(self) -> str:
        text = repr((sorted(self.files.items()), sorted(self.absent), sorted(self.names.items())))
        return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def still_valid(dependencies: Dependencies, candidates: dict[str, tuple[str, ...]]) -> bool:
    """Return whether the files and lookups in `dependencies` give the same result now.

    `candidates` maps each scenario name to the files that define it now.
    """
    for name, paths in dependencies.names.items():
        if candidates.get(name, ()) != paths:
            return False
    if any(os.path.exists(path) for path in dependencies.absent):
        return False
    return all(file_digest(Path(path)) == digest for path, digest in dependencies.files.items())


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_CLASSES:
            raise pickle.UnpicklingError(f"class {module}.{name} is not allowed in a cache entry")
        return super().find_class(module, name)


def _library_stamp(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return f"{name}:absent"
    stat = os.stat(spec.origin)
    return f"{name}:{spec.origin}:{stat.st_size}:{stat.st_mtime_ns}"


def fingerprint() -> str:
    """Return a digest of coder-mock's own files, the libraries in LIBRARIES and Python's version.

    File sizes and modification times stand in for contents, which keeps this
    to a few dozen stat calls.
    """
    package = Path(coder_mock.__file__).parent
    parts = [coder_mock.__version__, sys.version, str(FORMAT)]
    for folder, _, names in sorted(os.walk(package)):
        if "__pycache__" in folder:
            continue
        for name in sorted(names):
            if name.endswith((".py", ".yaml")):
                stat = os.stat(os.path.join(folder, name))
                parts.append(f"{folder}/{name}:{stat.st_size}:{stat.st_mtime_ns}")
    parts.extend(_library_stamp(name) for name in LIBRARIES)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def default_folder() -> Path | None:
    """Return the cache folder that the environment selects, or None when the cache is off."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "coder-mock"


class RenderCache:
    """Cache entries in one folder, each a pickle named by the SHA-256 of its key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fingerprint: str | None = None

    def path_for(self, *key: object) -> Path:
        if self._fingerprint is None:
            self._fingerprint = fingerprint()
        digest = hashlib.sha256(repr((self._fingerprint,) + key).encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest}.pickle"

    def get(self, *key: object) -> Any | None:
        """Return the value stored under `key`, or None when it is absent or unreadable."""
        path = self.path_for(*key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            return _RestrictedUnpickler(io.BytesIO(data)).load()
        except Exception as error:  # noqa: BLE001 - any damage to an entry makes it a miss.
            log.warning("render cache entry %s ignored: cannot be read (%s: %s); it will be rewritten",
                        path, type(error).__name__, error)
            return None

    def put(self, value: Any, *key: object) -> None:
        """Store `value` under `key`; a failure to write is logged and otherwise ignored."""
        write_atomically(self.path_for(*key), pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path` and rename it over `path`; log a failure and go on."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(descriptor, "wb") as output:
                output.write(data)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        log.warning("cache entry %s not written: %s", path, error)


def cached_data(path: Path, parse: Callable[[str], Any], check: Callable[[Any], bool]) -> Any:
    """Return `parse` applied to the text of `path`, read back from the cache folder while the file is unchanged.

    The value must be plain data that `marshal` writes: dicts, lists,
    strings, numbers, booleans and None. A cached value that cannot be read
    or that `check` rejects is parsed again and rewritten.
    """
    folder = default_folder()
    if folder is None:
        return parse(path.read_text(encoding="utf-8"))
    stat = path.stat()
    stamp = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{sys.version}:{FORMAT}"
    entry = folder / "data" / f"{hashlib.sha256(stamp.encode()).hexdigest()}.marshal"
    try:
        value = marshal.loads(entry.read_bytes())
        if check(value):
            return value
    except (OSError, EOFError, ValueError, TypeError):
        pass
    value = parse(path.read_text(encoding="utf-8"))
    write_atomically(entry, marshal.dumps(value))
    return value


def open_cache() -> RenderCache | None:
    """Return the cache in the folder the environment selects, or None when it is off."""
    folder = default_folder()
    return RenderCache(folder) if folder is not None else None
