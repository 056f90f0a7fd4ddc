"""Serve one fixed response from a bare Flask app or a bare WSGI callable, for bench/run.py.

Usage: python bench/baseline_server.py {flask|wsgi|coder-mock} RESPONSE_JSON PATH [--server NAME] [--workers N]

RESPONSE_JSON contains {"status": "200 OK", "headers": [[name, value], ...],
"body_base64": "..."}, the response that coder-mock sent for PATH. Other paths
get a 404 with an empty body. The kind `coder-mock` serves coder-mock's own
app for the `default` scenario instead, so that servers can be compared on it.

--server picks the server, so that only the app differs from coder-mock's run:
  werkzeug  coder_mock.server, as `coder-mock serve` uses (the default)
  granian   granian's WSGI server with --workers processes, as `coder-mock serve --workers` uses
  gthread   gunicorn with gthread workers (gunicorn must be installed)
  gevent    gunicorn with gevent workers (gunicorn and gevent must be installed)
The first line on stdout is "baseline listening on http://127.0.0.1:PORT".
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import Any, Callable, Iterable

from flask import Flask, Response

from coder_mock.server import bind, listen, serve_until_stopped

SERVERS = ("werkzeug", "granian", "gthread", "gevent")
# gthread threads per worker. gunicorn's gthread worker keeps a thread busy per keep-alive connection
# while it reads a request, so the 16 wrk connections get 16 threads.
GTHREAD_THREADS = 16
CONFIG_VARIABLE = "BASELINE_SERVER_CONFIG"


def load_response(path: str) -> tuple[str, list[tuple[str, str]], bytes]:
    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    headers = [(name, value) for name, value in data["headers"]]
    return data["status"], headers, base64.b64decode(data["body_base64"])


def make_flask_app(route: str, status: str, headers: list[tuple[str, str]], body: bytes) -> Flask:
    app = Flask("baseline")
    status_code = int(status.split(" ", 1)[0])

    @app.get(route)
    def fixed() -> Response:
        response = Response(body, status=status_code)
        # Flask sets its own Content-Type, so the copied one replaces it instead of adding a second.
        for name, value in headers:
            response.headers[name] = value
        return response

    return app


def make_wsgi_app(route: str, status: str, headers: list[tuple[str, str]],
                  body: bytes) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    found_headers = headers + [("Content-Length", str(len(body)))]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "GET" and environ["PATH_INFO"] == route:
            start_response(status, found_headers)
            return [body]
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]

    return app


def make_app(kind: str, response_path: str, route: str) -> Any:
    if kind == "coder-mock":
        from coder_mock.app import create_app
        from coder_mock.catalog import load_catalog
        from coder_mock.store import Store

        return create_app(Store(load_catalog(), "default"), quiet=True)
    status, headers, body = load_response(response_path)
    if kind == "flask":
        return make_flask_app(route, status, headers, body)
    return make_wsgi_app(route, status, headers, body)


def load_worker_app() -> Any:
    """Build the app in a granian or gunicorn worker from the configuration the main process left."""
    kind, response_path, route = json.loads(os.environ[CONFIG_VARIABLE])
    return make_app(kind, response_path, route)


def serve_gunicorn(worker_class: str, workers: int, announce: Callable[[str], None]) -> None:
    from gunicorn.app.base import BaseApplication

    listener = listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    # gunicorn takes an inherited socket by descriptor.
    listener.set_inheritable(True)

    class Baseline(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", [f"fd://{listener.fileno()}"])
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", worker_class)
            self.cfg.set("threads", GTHREAD_THREADS)
            self.cfg.set("loglevel", "warning")
            self.cfg.set("when_ready", lambda server: announce(f"http://127.0.0.1:{port}"))

        def load(self) -> Any:
            return load_worker_app()

    Baseline().run()


def serve_granian(workers: int, announce: Callable[[str], None]) -> None:
    from coder_mock.workers import announce_when_listening, make_server, reserve_port

    reservation = reserve_port(listen("127.0.0.1", 0))
    port = reservation.getsockname()[1]
    server = make_server("127.0.0.1", port, workers, target="baseline_server:load_worker_app")
    server.on_startup(lambda: announce_when_listening("127.0.0.1", port,
                                                      lambda: announce(f"http://127.0.0.1:{port}")))
    server.serve()
    reservation.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="Serve one fixed response for bench/run.py.")
    parser.add_argument("kind", choices=("flask", "wsgi", "coder-mock"))
    parser.add_argument("response_json")
    parser.add_argument("path")
    parser.add_argument("--server", choices=SERVERS, default="werkzeug")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for granian and gunicorn")
    args = parser.parse_args()
    os.environ[CONFIG_VARIABLE] = json.dumps([args.kind, args.response_json, args.path])

    def announce(url: str) -> None:
        print(f"baseline listening on {url}", flush=True)

    if args.server == "granian":
        serve_granian(args.workers, announce)
    elif args.server in ("gthread", "gevent"):
        serve_gunicorn(args.server, args.workers, announce)
    else:
        server = bind(load_worker_app(), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.server_port}"
        serve_until_stopped(server, lambda: announce(url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
