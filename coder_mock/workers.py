"""`coder-mock serve --workers N`: N worker processes under granian's WSGI server.

The main process takes the port, checks the arguments by building a Store
once, prints the URL and tokens, and starts granian. Granian forks N workers
that each listen on the port with SO_REUSEPORT. Each worker builds its own
Store with `cli.build_store(args)` after the fork, on one state backend: the
`--state` given, or by default a new SQLite file in a temporary folder that is
removed when the server stops. So the live scenario, the sessions and the
journal are shared, and a switch through any worker is seen by all of them on
their next request. Without --state, the journal stays out of that file: each
worker keeps a ring that the others read through a unix socket in the same
folder (coder_mock/state/worker_journal.py). Fault rules stay in the worker
that received them.

Granian was chosen by measurement against gunicorn's gthread and gevent
workers (docs/benchmarks.md). Its HTTP/1.1 framing is hyper's, not the Go-like
framing of coder_mock/server.py; the README lists what differs.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import logging
import os
import pickle
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from coder_mock.server import PortInUse

log = logging.getLogger("coder_mock.workers")

MAX_WORKERS = 64
# prctl option from <linux/prctl.h>: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1
# The parsed `serve` arguments travel to the workers in this environment variable, as a base64
# pickle, because granian starts workers with the "spawn" method where "fork" is not available.
ARGUMENTS_VARIABLE = "CODER_MOCK_WORKER_ARGUMENTS"
# Python threads per worker that run the WSGI app. The app keeps the GIL for almost all of a
# request, so more threads mostly add switching cost.
# NOTE: 2 is a choice, not a measured optimum: other counts were not benchmarked.
BLOCKING_THREADS = 2
# A worker that has not stopped this many seconds after SIGTERM is killed. Requests in flight finish
# well within this limit, which bounds a shutdown that a client keeps waiting.
WORKER_KILL_TIMEOUT_SECONDS = 30
# How long the main process waits for a worker to listen before it logs an error, and how often it checks.
START_LIMIT_SECONDS = 60
PROBE_INTERVAL_SECONDS = 0.02
# Granian's own log lines go to standard error at WARNING and above, so standard output carries only
# the URL and tokens that `announce` prints.
GRANIAN_LOGGING: dict[str, Any] = {
    "handlers": {
        "console": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    },
}


def encode_arguments(args: argparse.Namespace) -> str:
    return base64.b64encode(pickle.dumps(args)).decode("ascii")


def decode_arguments(text: str) -> argparse.Namespace:
    # The text comes from the parent process through the environment, never from a client.
    return pickle.loads(base64.b64decode(text))


def load_worker_app() -> Any:
    """Build the WSGI app in a worker process: its own Store from the main process's arguments.

    Granian calls this in each worker after the fork, as the factory of its
    target `coder_mock.workers:load_worker_app`.
    """
    from coder_mock.app import create_app
    from coder_mock.cli import build_store

    # Until granian installs its worker signal handlers, SIGTERM and SIGINT keep the default action.
    # Without this, a worker forked from the main process inherits granian's main-process handler,
    # and a SIGTERM that arrives while the worker loads its Store is lost, so shutdown waits forever.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    receive_stop_signals_in_thread()
    stop_with_parent()
    args = decode_arguments(os.environ[ARGUMENTS_VARIABLE])
    # The main process has logged each scenario it loaded, so a worker logs only warnings and errors of its own load.
    catalog_log = logging.getLogger("coder_mock.catalog")
    level = catalog_log.level
    catalog_log.setLevel(logging.WARNING)
    try:
        store = build_store(args)
    finally:
        catalog_log.setLevel(level)
    log.info("worker %d serving scenario %s", os.getpid(), store.active.name)
    if args.watch:
        from coder_mock.watch import Watcher

        Watcher(store).start()
    return with_body_reader(create_app(store, quiet=args.quiet, cors_origins=args.cors))


def receive_stop_signals_in_thread() -> None:
    """Block SIGINT and SIGTERM in every thread of this worker, and pass them to their handler from one thread.

    Python runs signal handlers only in the main thread, and granian's worker
    main thread sleeps in a futex wait that only a signal delivered to that
    thread interrupts. The kernel delivers a process-directed signal to any
    thread that does not block it, such as a Rust runtime thread, and then the
    handler never runs. That happens when a terminal sends SIGINT to the whole
    process group and the main process's SIGTERM follows at once: the worker
    kept serving until granian killed it. Here the signals are blocked before
    granian starts its threads, which inherit the mask, and a thread of ours
    takes them with sigwait and calls the handler that granian installed for
    SIGTERM.

    SIGINT is dropped. It comes from a terminal's Ctrl-C, which reaches the
    main process too, and the main process then stops each worker with
    SIGTERM. A worker that exits on its own SIGINT before that makes granian
    2.8's main process log "Killing worker-N after it refused to gracefully
    stop", because its watcher thread and its stop loop both wait for the
    same child process.
    """
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)

    def dispatch() -> None:
        while True:
            signum = signal.sigwait(stops)
            if signum == signal.SIGINT:
                continue
            handler = signal.getsignal(signum)
            if callable(handler):
                handler(signum, None)
                continue
            if handler == signal.SIG_IGN:
                continue
            # Granian has not installed its handler yet, so the signal takes its default action.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
            signal.pthread_kill(threading.get_ident(), signum)
            return

    threading.Thread(target=dispatch, name="stop-signals", daemon=True).start()


def stop_with_parent() -> None:
    """Ask Linux to send this worker SIGTERM when the main process dies.

    Granian's workers keep serving when the main process is killed with
    SIGKILL, so without this they would hold the port with no one to stop them.
    NOTE: only Linux has PR_SET_PDEATHSIG, so elsewhere such workers stay.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        log.warning("worker %d will outlive a killed main process: prctl failed with errno %d",
                    os.getpid(), ctypes.get_errno())
        return
    # The main process may have died before the call, so the signal would never come.
    if os.getppid() == 1:
        os.kill(os.getpid(), signal.SIGTERM)


class BodyReader:
    """Granian's wsgi.input, made to accept the sizes -1 and None that Python streams use for "read to the end".

    Granian 2.8's body object raises OverflowError for a negative size, and
    werkzeug's get_data and the journal's BodyCopy pass -1.
    """

    def __init__(self, body: Any) -> None:
        self.body = body

    def read(self, size: int | None = -1) -> bytes:
        return self.body.read() if size is None or size < 0 else self.body.read(size)

    def readline(self, size: int | None = -1) -> bytes:
        return self.body.readline() if size is None or size < 0 else self.body.readline(size)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return self.body.readlines() if hint is None or hint < 0 else self.body.readlines(hint)

    def __iter__(self) -> Iterator[bytes]:
        line = self.readline()
        while line:
            yield line
            line = self.readline()


def with_body_reader(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Wrap the WSGI `app` so that it reads the request body through BodyReader."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["wsgi.input"] = BodyReader(environ["wsgi.input"])
        return app(environ, start_response)

    return serve


def reserve_port(listener: socket.socket) -> socket.socket:
    """Replace the listening socket with a bound, not listening socket on the same address, and return it.

    Granian's workers each bind the address with SO_REUSEPORT, so that the
    kernel spreads connections evenly over them. The returned socket has
    SO_REUSEPORT too and keeps the port (also a port picked for port 0) for
    this process while granian runs. It gets no connections, as it does not
    listen.
    """
    host, port = listener.getsockname()[:2]
    family = listener.family
    listener.close()
    reservation = socket.socket(family, socket.SOCK_STREAM)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        reservation.bind((host, port))
    except OSError:
        reservation.close()
        # NOTE: another process took the port in the moment between the close and this bind.
        raise PortInUse(f"port {port} on {host} was taken while the workers started; start again,"
                        " or pick another port with --port (0 picks a free one).") from None
    return reservation


def make_server(host: str, port: int, workers: int, target: str = "coder_mock.workers:load_worker_app") -> Any:
    """Create granian's multi-process WSGI server for host:port.

    `target` names the factory of the WSGI app that each worker calls, as "module:function".
    """
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.mp import MPServer

    server = MPServer(
        target=target,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=BLOCKING_THREADS,
        websockets=False,
        log_level=LogLevels.warning,
        log_dictconfig=GRANIAN_LOGGING,
        workers_kill_timeout=WORKER_KILL_TIMEOUT_SECONDS,
    )
    stopping = server.signal_handler_interrupt

    def log_and_stop(*args: Any, **kwargs: Any) -> None:
        log.info("coder-mock stopping: workers finish the requests in flight, then exit")
        stopping(*args, **kwargs)

    # Granian installs this handler for SIGINT and SIGTERM when it starts.
    server.signal_handler_interrupt = log_and_stop
    return server


def announce_when_listening(host: str, port: int, announce: Callable[[], None]) -> None:
    """Call `announce` from a thread once a worker accepts connections on host:port.

    A worker listens only after it has built its Store, so a client that
    reads the printed URL finds the port open.
    """
    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)

    def wait_then_announce() -> None:
        deadline = time.monotonic() + START_LIMIT_SECONDS
        while time.monotonic() < deadline:
            try:
                socket.create_connection((probe_host, port), timeout=1.0).close()
            except OSError:
                time.sleep(PROBE_INTERVAL_SECONDS)
                continue
            announce()
            return
        log.error("no worker listened on port %d within %d seconds; see the errors above", port,
                  START_LIMIT_SECONDS)

    threading.Thread(target=wait_then_announce, name="announce", daemon=True).start()


def serve_workers(args: argparse.Namespace, listener: socket.socket) -> int:
    """Serve with `args.workers` granian workers on the address of `listener` until SIGINT or SIGTERM.

    Return the exit code. `listener` is closed here.

    The Store is built once here before any worker starts, so that a bad
    scenario or folder fails with one message instead of once per worker.
    """
    from coder_mock.cli import announce, build_store, state_for_workers

    host, port = listener.getsockname()[:2]
    folder = Path(tempfile.mkdtemp(prefix="coder-mock-"))
    try:
        try:
            given_state = args.state
            args.state = state_for_workers(args, folder)
            # Workers have no terminal, so the choice is made here.
            args.watch = bool(args.watch or (args.watch is None and sys.stdout.isatty()))
            store = build_store(args)
        except BaseException:
            listener.close()
            raise
        try:
            reservation = reserve_port(listener)
            url = f"http://{args.host}:{port}"
            if given_state is None:
                # The workers keep their journal in rings served on sockets in the folder. The Store of this
                # process serves no requests, so its journal stays in the SQLite file, unused.
                args.journal_folder = str(folder)
            os.environ[ARGUMENTS_VARIABLE] = encode_arguments(args)
            log.info("coder-mock serving scenario %s at %s with %d workers and state %s", store.active.name, url,
                     args.workers, store.state.spec)

            server = make_server(host, port, args.workers)
            server.on_startup(lambda: announce_when_listening(host, port, lambda: announce(url, store)))
            try:
                server.serve()
            finally:
                reservation.close()
        finally:
            store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    log.info("coder-mock stopped")
    return 0
