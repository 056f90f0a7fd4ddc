"""Serve the app over HTTP with werkzeug's threaded server."""

from __future__ import annotations

import errno
import logging
import signal
import socket
from types import FrameType
from typing import Callable

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

log = logging.getLogger("coder_mock.server")


class PortInUse(Exception):
    """The address the server should listen on is taken."""


class QuietRequestHandler(WSGIRequestHandler):
    """A request handler that sends no Server header, as Go's net/http does not, and leaves logging to the app."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "server":
            return
        super().send_header(keyword, value)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def listen(host: str, port: int) -> socket.socket:
    """Open a listening socket on host:port; raise PortInUse when the port is taken."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is already in use; stop the process using it"
                " or pick another port with --port (0 picks a free one)."
            ) from None
        raise
    listener.listen(128)
    return listener


def bind(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """Bind a threaded server to host:port (0 picks a free port); raise PortInUse when taken.

    The socket is opened here because werkzeug exits the process on a busy
    port instead of raising.
    """
    listener = listen(host, port)
    try:
        server = make_server(host, listener.getsockname()[1], app, threaded=True,
                             request_handler=QuietRequestHandler, fd=listener.fileno())
    finally:
        # werkzeug duplicates the descriptor, so this copy can go.
        listener.close()
    # socketserver sets server_port only when it binds the socket itself.
    server.server_port = server.server_address[1]
    return server


def stop_on_sigterm() -> None:
    """Make SIGTERM stop the server the way Ctrl-C (SIGINT) does."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def serve_until_stopped(server: BaseWSGIServer, announce: Callable[[], None] = lambda: None) -> None:
    """Call `announce`, then serve until SIGINT or SIGTERM, and close."""
    stop_on_sigterm()
    try:
        announce()
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        log.info("coder-mock stopped")
