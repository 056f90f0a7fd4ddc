"""Serve the app over HTTP with werkzeug's threaded server."""

from __future__ import annotations

import errno
import logging
import signal
from types import FrameType

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


def bind(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """Bind a threaded server to host:port (0 picks a free port); raise PortInUse when taken."""
    try:
        return make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is already in use; stop the process using it"
                " or pick another port with --port (0 picks a free one)."
            ) from None
        raise


def serve_until_stopped(server: BaseWSGIServer) -> None:
    """Serve until SIGINT or SIGTERM, then finish the requests in flight and close."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        log.info("coder-mock stopped")
