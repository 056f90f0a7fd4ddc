"""The `coder-mock` command: `serve`, `scenarios`, `openapi`, `validate` and `show`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from coder_mock import cors, workers
from coder_mock.app import create_app
from coder_mock.catalog import Catalog, load_catalog, open_catalog
from coder_mock.differences import PROFILES
from coder_mock.documents import FileProblem
from coder_mock.journal import DEFAULT_SIZE
from coder_mock.server import ListenError, PortInUse, create_server, listen, serve_until_stopped
from coder_mock.state import STATE_FORMS, BackendUnavailable, InvalidStateSpec, check_spec, open_backend
from coder_mock.state.worker_journal import WorkerJournalStorage
from coder_mock.store import DEFAULT_SESSION_IDLE, Store, UnknownScenario

log = logging.getLogger("coder_mock")

CALLERS = ("owner", "member", "none")
"""Callers that `coder-mock show` can act as: the first owner's token, the first non-owner's token, or no token."""


def add_folder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenarios-dir", action="append", type=Path, default=[], metavar="DIR",
                        help="a folder of your own scenario files, added to the built-ins (repeatable)")
    parser.add_argument("--fixtures-dir", action="append", type=Path, default=[], metavar="DIR",
                        help="a folder of your own fixtures, searched before the built-ins (repeatable)")


def port_number(text: str) -> int:
    """Parse the --port value: a TCP port from 0 to 65535, where 0 picks a free port."""
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}; use a number from 0 to 65535 (0 picks a free port)")
    return int(text)


def journal_size(text: str) -> int:
    """Parse the --journal-size value: how many requests the journal keeps, where 0 turns it off."""
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise argparse.ArgumentTypeError(f"invalid journal size {text!r}; use a number from 0 to 999999999"
                                         " (0 turns the journal off)")
    return int(text)


def state_spec(text: str) -> str:
    """Check the --state value's form; the backend is opened later, by build_store."""
    try:
        return check_spec(text)
    except InvalidStateSpec as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def session_idle(text: str) -> float:
    """Parse the --session-idle value: seconds, a positive number."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"invalid idle time {text!r}; give a positive number of seconds, such as 1800")
    return seconds


class StartFailure(Exception):
    """A serve option that cannot be used; the message names the value and the fix."""


def worker_count(text: str) -> int:
    """Parse the --workers value: how many worker processes serve requests, from 1 to 64."""
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= workers.MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"invalid worker count {text!r}; use a number from 1 to {workers.MAX_WORKERS}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coder-mock", description="A fake Coder server for tests and frontend work.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve Coder's API v2 from a scenario")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=3000,
                       help="port to listen on, from 0 to 65535; 0 picks a free one (default: 3000)")
    serve.add_argument("--scenario", default="default", help="scenario to serve first (default: default)")
    serve.add_argument("--seed", type=int, default=None, help="seed for generated values (default: the scenario's own)")
    serve.add_argument("--profile", choices=PROFILES, default=None,
                       help="wire: what coderd sends; reference: the shapes of Coder's API reference"
                            " (default: the scenario's profile, else wire)")
    serve.add_argument("--quiet", action="store_true", help="do not log a line per request")
    serve.add_argument("--journal-size", type=journal_size, default=DEFAULT_SIZE, metavar="N",
                       help="how many recent requests GET /__admin/requests keeps; 0 turns the journal off"
                            f" (default: {DEFAULT_SIZE})")
    serve.add_argument("--cors", action="append", type=cors.origin_argument, default=[], metavar="ORIGIN",
                       help="let pages from ORIGIN, such as http://localhost:5173, call the server from a browser"
                            " (repeatable; * allows any origin without cookies; default: no CORS headers)")
    serve.add_argument("--state", type=state_spec, default=None, metavar="BACKEND",
                       help=f"where the selections, sessions and journal live: {STATE_FORMS};"
                            " processes on one SQLite file or Redis database share them"
                            " (default: memory, or a new SQLite file shared by --workers processes)")
    serve.add_argument("--session-idle", type=session_idle, default=DEFAULT_SESSION_IDLE, metavar="SECONDS",
                       help="end a session after this many seconds without a request"
                            f" (default: {DEFAULT_SESSION_IDLE:g})")
    serve.add_argument("--watch", action=argparse.BooleanOptionalAction, default=None,
                       help="reload scenario and fixture files when they change"
                            " (default: on when standard output is a terminal)")
    serve.add_argument("--workers", type=worker_count, default=None, metavar="N",
                       help="serve with N worker processes under granian that share one state backend (--state, by"
                            " default a new SQLite file) (default: one process on coder-mock's own Go-like HTTP"
                            " server)")
    add_folder_options(serve)

    scenarios = commands.add_parser("scenarios", help="list the scenarios and any that failed to load")
    add_folder_options(scenarios)

    openapi_command = commands.add_parser("openapi", help="print the OpenAPI 3.0 document of the served API as JSON")
    openapi_command.add_argument("--profile", choices=PROFILES, default="wire",
                                 help="the profile whose response shapes the document describes (default: wire)")

    validate = commands.add_parser(
        "validate", help="check scenario and fixture folders without serving; exit 1 on any problem",
        description="Check the built-ins plus the given folders as serve loads them. A DIR with scenarios/ or"
                    " fixtures/ subfolders is a project, a DIR with a buildinfo/, deployment-config/,"
                    " deployment-ssh/ or deployment-stats/ subfolder is a fixtures folder, and any other DIR"
                    " is a folder of scenario files. Without folders, the built-ins are checked.")
    validate.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="a folder to check (repeatable)")
    add_folder_options(validate)

    show = commands.add_parser("show", help="print the exact response a scenario sends for an operation")
    show.add_argument("scenario", metavar="SCENARIO", help="scenario name")
    show.add_argument("operation", metavar="OPERATION", help="Coder's operation ID, such as build-info")
    show.add_argument("--as", dest="caller", choices=CALLERS, default="owner",
                      help="who calls: the first owner's token, the first non-owner's token, or no token"
                           " (default: owner)")
    show.add_argument("--seed", type=int, default=None, help="seed for generated values (default: the scenario's own)")
    show.add_argument("--user", default=None, help="the {user} of get-token-config (default: me)")
    show.add_argument("--profile", choices=PROFILES, default=None,
                      help="wire or reference (default: the scenario's profile, else wire)")
    add_folder_options(show)
    return parser


def configure_logging(quiet: bool) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if quiet:
        logging.getLogger("coder_mock.access").setLevel(logging.WARNING)


def check_folders(args: argparse.Namespace) -> None:
    for folder in args.scenarios_dir + args.fixtures_dir:
        if folder.exists() and not folder.is_dir():
            raise FileProblem([f"{folder}: is not a folder; check the --scenarios-dir or --fixtures-dir value."])
        if not folder.is_dir():
            raise FileProblem([f"{folder}: folder not found; check the --scenarios-dir or --fixtures-dir value."])


def load(args: argparse.Namespace) -> Catalog:
    check_folders(args)
    return load_catalog(args.scenarios_dir, args.fixtures_dir)


def build_store(args: argparse.Namespace) -> Store:
    """Open the state backend, load the catalog and build the Store that parsed `serve` arguments describe.

    Each server process calls this, so each opens its own connection to the
    state backend. The backend is opened first, so an unreachable one is the
    only line printed. Only the first scenario is loaded here; the others load
    on first use. Raise StartFailure or FileProblem with the line to print.
    """
    from coder_mock.render_cache import open_cache

    check_folders(args)
    try:
        backend = open_backend(args.state or "memory")
    except BackendUnavailable as error:
        raise StartFailure(str(error)) from None
    try:
        catalog = open_catalog(args.scenarios_dir, args.fixtures_dir, open_cache())
        catalog.ensure(args.scenario)
        if args.scenario in catalog.fatal:
            raise FileProblem(catalog.rejected[args.scenario])
        if args.scenario in catalog.rejected:
            raise FileProblem([f"scenario {args.scenario!r} cannot be served: {catalog.rejected[args.scenario][0]}"])
        if args.scenario not in catalog.entries:
            raise FileProblem([f"unknown scenario {args.scenario!r}; choose one of {', '.join(catalog.names())}."])
        journal_storage = open_worker_journal(args)
        try:
            return Store(catalog, args.scenario, args.seed, args.profile, journal_size=args.journal_size,
                         state=backend, session_idle=args.session_idle, journal_storage=journal_storage)
        except BaseException:
            if journal_storage is not None:
                journal_storage.close()
            raise
    except UnknownScenario as error:
        backend.close()
        raise StartFailure(f"the state {args.state!r} serves scenario {error.args[0]!r}, which this process did"
                           " not load; start it with the same --scenarios-dir as the others.") from None
    except BaseException:
        backend.close()
        raise


def open_worker_journal(args: argparse.Namespace) -> WorkerJournalStorage | None:
    """Start this worker's journal ring on a socket in `args.journal_folder`, or return None to use the backend's.

    serve_workers sets `journal_folder` for the workers only when --state was
    not given, so the journal of those workers stays out of the SQLite file.
    """
    folder = getattr(args, "journal_folder", None)
    if folder is None or args.journal_size == 0:
        return None
    return WorkerJournalStorage(args.journal_size, Path(folder))


def state_for_workers(args: argparse.Namespace, folder: Path) -> str:
    """Return the --state value that several worker processes share: the one given, or a new SQLite file.

    The file is `folder`/coder-mock-state.db, which the caller creates empty
    and removes after the workers stop. Raise StartFailure for `memory`,
    which each process would keep to itself.
    """
    if args.state is None:
        return f"sqlite:{folder / 'coder-mock-state.db'}"
    if args.state == "memory":
        raise StartFailure("--state memory cannot be shared by worker processes; leave --state out to share a new"
                           " SQLite file, or give sqlite:PATH or a Redis URL.")
    return args.state


def serve(args: argparse.Namespace) -> int:
    configure_logging(args.quiet)
    # The port is taken before the catalog loads and logs, so a failure to listen is the only line printed.
    try:
        listener = listen(args.host, args.port)
    except ListenError as error:
        print(f"coder-mock: {error}", file=sys.stderr)
        return 1
    if args.workers is not None:
        return workers.serve_workers(args, listener)

    try:
        store = build_store(args)
        server = create_server(create_app(store, quiet=args.quiet, cors_origins=args.cors), listener)
    finally:
        # The server has its own duplicate of the socket.
        listener.close()

    url = f"http://{args.host}:{server.server_port}"
    log.info("coder-mock serving scenario %s at %s with state %s", store.active.name, url, store.state.spec)
    if args.watch or (args.watch is None and sys.stdout.isatty()):
        from coder_mock.watch import Watcher

        Watcher(store).start()

    # Printing happens once signals are handled, so a stop right after the
    # first line still shuts down cleanly.
    try:
        serve_until_stopped(server, lambda: announce(url, store))
    finally:
        store.close()
    return 0


def announce(url: str, store: Store) -> None:
    """Print the base URL and the live scenario's tokens to standard output."""
    print(f"coder-mock listening on {url}", flush=True)
    print(f"  scenario: {store.active.name} (seed {store.active.world.seed})")
    world = store.active.world
    for user in world.users:
        for token, expires in user.tokens.items():
            note = "  (expired)" if expires < world.time else ""
            print(f"  {'/'.join(user.roles):<8} {user.username:<10} Coder-Session-Token: {token}{note}")
    sys.stdout.flush()


def list_scenarios(args: argparse.Namespace) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
    catalog = load(args)
    width = max(len(name) for name in catalog.names())
    for name in catalog.names():
        entry = catalog.entries[name]
        origin = "" if entry.builtin else f"  ({entry.source})"
        print(f"{name:<{width}}  {entry.description}{origin}")
    for name, lines in sorted(catalog.rejected.items()):
        print(f"{name:<{width}}  REJECTED: {lines[0]}")
    return 0


def print_openapi(args: argparse.Namespace) -> int:
    from coder_mock import openapi

    sys.stdout.write(openapi.document_text(args.profile))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "openapi":
            return print_openapi(args)
        # validate and show load every schema, which serve skips when its scenario is in the render cache.
        from coder_mock import tools

        if args.command == "validate":
            logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
            return tools.validate(args.dirs, args.scenarios_dir, args.fixtures_dir)
        if args.command == "show":
            logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
            return tools.show(args.scenario, args.operation, args.caller, args.seed, args.user,
                              args.scenarios_dir, args.fixtures_dir, args.profile)
        return list_scenarios(args)
    except FileProblem as problem:
        for line in problem.lines:
            print(f"coder-mock: {line}", file=sys.stderr)
        return 2
    except PortInUse as error:
        print(f"coder-mock: {error}", file=sys.stderr)
        return 1
    except StartFailure as error:
        print(f"coder-mock: {error}", file=sys.stderr)
        return 2
