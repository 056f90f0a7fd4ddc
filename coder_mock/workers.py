"""`coder-mock serve --workers N`: N worker processes under granian's WSGI server.

The main process opens the listening socket, checks the arguments by building
a Store once, prints the URL and tokens, and hands the socket to granian.
Granian forks N workers that share that socket. Each worker builds its own
Store with `cli.build_store(args)` after the fork, so no lock, thread or
journal is shared between processes. Each worker therefore has its own
scenario state and journal.

Granian was chosen by measurement against gunicorn's gthread and gevent
workers (docs/benchmarks.md). Its HTTP/1.1 framing is hyper's, not the Go-like
framing of coder_mock/server.py; the README lists what differs.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import pickle
import signal
import socket
from typing import Any

log = logging.getLogger("coder_mock.workers")

MAX_WORKERS = 64
# The parsed `serve` arguments travel to the workers in this environment variable, as a base64
# pickle, because granian starts workers with the "spawn" method where "fork" is not available.
ARGUMENTS_VARIABLE = "CODER_MOCK_WORKER_ARGUMENTS"
# Python threads per worker that run the WSGI app. The app holds the GIL for its whole run, so more
# threads add switching cost without adding throughput; granian reads request bodies in Rust, so a
# slow client does not hold one of these threads.
# NOTE: 2 threads was the best of 1, 2 and 4 in a short run on a 2-core machine; see docs/benchmarks.md.
BLOCKING_THREADS = 2
# A worker that has not stopped this many seconds after SIGTERM is killed. In-flight requests finish
# well within it; it bounds a shutdown held up by an idle keep-alive connection.
WORKER_KILL_TIMEOUT_SECONDS = 30
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
    return create_app(store, quiet=args.quiet)


def make_server(listener: socket.socket, workers: int) -> Any:
    """Create granian's multi-process server on the already listening `listener`."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.net import SocketHolder
    from granian.server.mp import MPServer

    class SharedSocketServer(MPServer):
        """Granian's server on a socket that coder-mock opened.

        NOTE: this overrides a private method of granian 2.8. On Linux, granian
        lets each worker bind its own socket with SO_REUSEPORT, so port 0 would
        give each worker a different port. Handing it one open socket keeps one
        port for all workers and keeps coder-mock's own error for a port in use.
        """

        def _init_shared_socket(self) -> None:
            descriptor = os.dup(listener.fileno())
            self._ssp = None
            self._shd = SocketHolder(descriptor, False, listener_backlog)
            self._sfd = self._shd.get_fd()
            shared = socket.socket(fileno=self._sfd)
            shared.set_inheritable(True)
            self._sso = shared

        def signal_handler_interrupt(self, *args: Any, **kwargs: Any) -> None:
            log.info("coder-mock stopping: workers finish the requests in flight, then exit")
            super().signal_handler_interrupt(*args, **kwargs)

    listener_backlog = 128
    host, port = listener.getsockname()[:2]
    return SharedSocketServer(
        target="coder_mock.workers:load_worker_app",
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


def serve_workers(args: argparse.Namespace, listener: socket.socket) -> int:
    """Serve with `args.workers` granian workers on `listener` until SIGINT or SIGTERM; return the exit code.

    The Store is built once here before any worker starts, so that a bad
    scenario or folder fails with one message instead of once per worker.
    """
    from coder_mock.cli import announce, build_store

    try:
        store = build_store(args)
        server = make_server(listener, args.workers)
    except BaseException:
        listener.close()
        raise
    port = listener.getsockname()[1]
    url = f"http://{args.host}:{port}"
    os.environ[ARGUMENTS_VARIABLE] = encode_arguments(args)
    log.info("coder-mock serving scenario %s at %s with %d workers", args.scenario, url, args.workers)

    # The socket listens already, so requests sent after this line wait in its backlog until a worker is up.
    server.on_startup(lambda: announce(url, store))
    try:
        server.serve()
    finally:
        listener.close()
    log.info("coder-mock stopped")
    return 0
