"""`coder-mock validate` and `coder-mock show`: check scenario folders and print responses without serving.

Both load scenarios through the catalog, as `serve` does, so they report the
same problems and send the same bytes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from coder_mock.app import create_app
from coder_mock.cli import CALLERS  # noqa: F401 - exported here as before
from coder_mock.catalog import BUILTIN_ROOT, FIXTURE_SCHEMAS, Catalog, load_catalog
from coder_mock.documents import DOCUMENT_SUFFIXES, FileProblem, display_path, load_with, read_document
from coder_mock.schemas.scenario import OPERATIONS
from coder_mock.store import Store
from coder_mock.world import World

if TYPE_CHECKING:
    # Only `coder-mock show` needs the test client, and flask.testing adds to every start.
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

FIXTURE_KINDS_TEXT = ", ".join(FIXTURE_SCHEMAS)

REQUESTS: dict[str, tuple[str, str]] = {
    "api-root-handler": ("GET", "/api/v2/"),
    "build-info": ("GET", "/api/v2/buildinfo"),
    "report-csp-violations": ("POST", "/api/v2/csp/reports"),
    "get-deployment-config": ("GET", "/api/v2/deployment/config"),
    "ssh-config": ("GET", "/api/v2/deployment/ssh"),
    "get-deployment-stats": ("GET", "/api/v2/deployment/stats"),
    "get-enabled-experiments": ("GET", "/api/v2/experiments"),
    "get-safe-experiments": ("GET", "/api/v2/experiments/available"),
    "update-check": ("GET", "/api/v2/updatecheck"),
    "get-token-config": ("GET", "/api/v2/users/{user}/keys/tokens/tokenconfig"),
}
"""The method and path `show` requests for each operation ID."""

CSP_REPORT = b'{"csp-report":{"document-uri":"https://coder.example.com/","violated-directive":"script-src"}}'


def usage_error(message: str) -> int:
    print(f"coder-mock: {message}", file=sys.stderr)
    return 2


# Folders


@dataclass
class Folders:
    """Scenario and fixture folders to load on top of the built-ins."""

    scenarios: list[Path] = field(default_factory=list)
    fixtures: list[Path] = field(default_factory=list)

    def add(self, other: "Folders") -> None:
        self.scenarios.extend(other.scenarios)
        self.fixtures.extend(other.fixtures)


class FolderNotFound(Exception):
    """A folder named on the command line that does not exist or is a file."""


def require_folder(folder: Path, fix: str) -> None:
    """Raise FolderNotFound with a one-line message unless `folder` is a directory."""
    if not folder.exists():
        raise FolderNotFound(f"{folder}: folder not found; {fix}")
    if not folder.is_dir():
        raise FolderNotFound(f"{folder}: not a folder; {fix}")


def classify(directory: Path) -> Folders:
    """Read a validate DIR as a project, a fixtures folder or a scenarios folder.

    A DIR with a `scenarios/` or `fixtures/` subfolder is a project. A DIR with
    a subfolder named for a fixture kind is a fixtures folder. Any other DIR is
    a folder of scenario files.
    """
    scenarios = directory / "scenarios"
    fixtures = directory / "fixtures"
    if scenarios.is_dir() or fixtures.is_dir():
        return Folders([scenarios] if scenarios.is_dir() else [], [fixtures] if fixtures.is_dir() else [])
    if any((directory / kind).is_dir() for kind in FIXTURE_SCHEMAS):
        return Folders([], [directory])
    return Folders([directory], [])


def gather_folders(dirs: list[Path], scenario_dirs: list[Path], fixture_dirs: list[Path]) -> Folders:
    """Combine DIR arguments with --scenarios-dir and --fixtures-dir; raise FolderNotFound for a bad one."""
    folders = Folders()
    for directory in dirs:
        require_folder(directory, "pass a project folder (with scenarios/ or fixtures/), a fixtures folder"
                                  " or a folder of scenario files.")
        folders.add(classify(directory))
    for folder in scenario_dirs:
        require_folder(folder, "check the --scenarios-dir value.")
    for folder in fixture_dirs:
        require_folder(folder, "check the --fixtures-dir value.")
    folders.add(Folders(list(scenario_dirs), list(fixture_dirs)))
    return folders


# validate


@dataclass
class Report:
    """Problem lines by the file they name, and how many scenarios loaded."""

    lines: dict[str, list[str]] = field(default_factory=dict)
    valid: int = 0
    rejected: list[str] = field(default_factory=list)

    def add(self, file: str, line: str) -> None:
        lines = self.lines.setdefault(file, [])
        # A broken fixture used by several scenarios is reported once.
        if line not in lines:
            lines.append(line)

    def add_lines(self, lines: list[str]) -> None:
        for line in lines:
            # NOTE: a file whose name contains ": " is counted under a shorter name.
            self.add(line.split(": ", 1)[0], line)

    def problem_count(self) -> int:
        return sum(len(lines) for lines in self.lines.values())

    def summary(self) -> str:
        count = self.problem_count()
        files = len(self.lines)
        if count == 0:
            problems = "No problems"
        else:
            problems = f"{count} {plural(count, 'problem')} in {files} {plural(files, 'file')}"
        text = f"{problems}; {self.valid} {plural(self.valid, 'scenario')} valid"
        if self.rejected:
            text += f", {len(self.rejected)} rejected ({', '.join(self.rejected)})"
        return text + "."


def plural(count: int, noun: str) -> str:
    return noun if count == 1 else noun + "s"


def fixture_files(folder: Path) -> list[Path]:
    """Return the YAML and JSON files under `folder`, skipping hidden files and folders."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix in DOCUMENT_SUFFIXES:
            found.append(path)
    return found


def check_fixture(folder: Path, path: Path) -> list[str]:
    """Validate one fixture file against the schema of its kind, the first subfolder under `folder`."""
    shown = display_path(path)
    parts = path.relative_to(folder).parts
    if len(parts) == 1:
        return [f"{shown}: the file is not in a fixture kind subfolder; move it into one of {FIXTURE_KINDS_TEXT}."]
    kind = parts[0]
    if kind not in FIXTURE_SCHEMAS:
        return [f'{shown}: unknown fixture kind "{kind}" (the subfolder name); move the file into one of'
                f" {FIXTURE_KINDS_TEXT}."]
    try:
        load_with(FIXTURE_SCHEMAS[kind](), read_document(path), path)
    except FileProblem as problem:
        return problem.lines
    return []


def check(folders: Folders) -> Report:
    """Load the built-ins plus `folders` as `serve` does and collect every problem.

    With no folders, the built-ins themselves are checked. Every fixture file is
    checked against its kind's schema, also when no scenario uses it. Facts it
    shares with other files are checked only through a scenario that uses it.
    """
    report = Report()
    checked_builtins = not folders.scenarios and not folders.fixtures
    catalog: Catalog | None = None
    try:
        catalog = load_catalog(folders.scenarios, folders.fixtures)
    except FileProblem as problem:
        # A broken built-in stops loading, so no scenario counts as valid.
        report.add_lines(problem.lines)

    if catalog is not None:
        for name in sorted(catalog.rejected):
            report.add_lines(catalog.rejected[name])
        report.rejected = sorted(catalog.rejected)
        report.valid = sum(1 for entry in catalog.entries.values() if checked_builtins or not entry.builtin)

    fixture_folders = [BUILTIN_ROOT / "fixtures"] if checked_builtins else folders.fixtures
    for folder in fixture_folders:
        for path in fixture_files(folder):
            for line in check_fixture(folder, path):
                report.add(display_path(path), line)
    return report


def validate(dirs: list[Path], scenario_dirs: list[Path], fixture_dirs: list[Path]) -> int:
    """Print every problem of the given folders and a summary; return the exit code 0, 1 or 2."""
    try:
        folders = gather_folders(dirs, scenario_dirs, fixture_dirs)
    except FolderNotFound as error:
        return usage_error(str(error))

    report = check(folders)
    for file in sorted(report.lines):
        for line in report.lines[file]:
            print(line)
    print(report.summary())
    return 1 if report.problem_count() else 0


# show


def session_token(world: World, role: str) -> str | None:
    """Return the first unexpired token of the first owner, or of the first user who is not an owner."""
    for user in world.users:
        if user.is_owner != (role == "owner"):
            continue
        for token, expires in user.tokens.items():
            if not expires < world.time:
                return token
    return None


def send_request(client: FlaskClient, operation: str, token: str | None, user: str) -> TestResponse:
    method, path = REQUESTS[operation]
    path = path.format(user=quote(user, safe=""))
    headers = {"Coder-Session-Token": token} if token else {}
    if operation == "report-csp-violations":
        headers["Content-Type"] = "application/csp-report"
        return client.open(path, method=method, headers=headers, data=CSP_REPORT)
    return client.open(path, method=method, headers=headers)


def format_response(response: TestResponse) -> bytes:
    """Return the status line, the headers sorted by name without Date, a blank line and the body."""
    head = [f"HTTP/1.1 {response.status}"]
    headers = sorted(response.headers.items(), key=lambda item: item[0].lower())
    head.extend(f"{name}: {value}" for name, value in headers if name.lower() != "date")
    return ("\n".join(head) + "\n\n").encode("utf-8") + response.get_data()


def scenario_errors(catalog: Catalog, scenario: str) -> list[str]:
    """Return why `scenario` cannot be shown, one message per line, or an empty list."""
    if scenario in catalog.rejected:
        return [f"scenario {scenario!r} cannot be shown: {line}" for line in catalog.rejected[scenario]]
    if scenario not in catalog.entries:
        return [f"unknown scenario {scenario!r}; choose one of {', '.join(catalog.names())}."]
    return []


def show(scenario: str, operation: str, caller: str = "owner", seed: int | None = None, user: str | None = None,
         scenario_dirs: list[Path] | None = None, fixture_dirs: list[Path] | None = None,
         profile: str | None = None) -> int:
    """Print the response `scenario` sends for `operation`; return the exit code 0 or 2.

    The response comes from the real app through Flask's test client, so it is
    the one `serve` sends. NOTE: the Retry-After and X-Ratelimit-Reset headers
    of a 429 depend on the current time, as they do when serving.
    """
    if operation not in REQUESTS:
        return usage_error(f"unknown operation {operation!r}; choose one of {', '.join(OPERATIONS)}.")
    if user is not None and operation != "get-token-config":
        return usage_error("--user applies to get-token-config only; remove it.")
    try:
        folders = gather_folders([], scenario_dirs or [], fixture_dirs or [])
    except FolderNotFound as error:
        return usage_error(str(error))

    catalog = load_catalog(folders.scenarios, folders.fixtures)
    errors = scenario_errors(catalog, scenario)
    if errors:
        for message in errors:
            usage_error(message)
        return 2

    store = Store(catalog, scenario, seed=seed, profile=profile)
    token = None
    if caller != "none":
        token = session_token(store.active.world, caller)
        if token is None:
            holder = "an owner" if caller == "owner" else "a user without the owner role"
            return usage_error(f"scenario {scenario!r} has no unexpired session token for {holder};"
                               " add one to its users or pick another --as.")

    client = create_app(store, quiet=True).test_client()
    response = send_request(client, operation, token, user or "me")
    sys.stdout.flush()
    sys.stdout.buffer.write(format_response(response))
    sys.stdout.buffer.flush()
    return 0
