"""Serve one fixed response from a bare Flask app or a bare WSGI callable, for bench/run.py.

Usage: python bench/baseline_server.py {flask|wsgi} RESPONSE_JSON PATH

RESPONSE_JSON contains {"status": "200 OK", "headers": [[name, value], ...],
"body_base64": "..."}, the response that coder-mock sent for PATH. Both apps
run under the server coder-mock uses (coder_mock.server: werkzeug's threaded
server with coder-mock's request handler), so only the app differs. Other paths
get a 404 with an empty body. The first line on stdout is
"baseline listening on http://127.0.0.1:PORT".
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any, Callable, Iterable

from flask import Flask, Response

from coder_mock.server import bind, serve_until_stopped


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


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in ("flask", "wsgi"):
        print("usage: baseline_server.py {flask|wsgi} RESPONSE_JSON PATH", file=sys.stderr)
        return 2
    kind, response_path, route = sys.argv[1:]
    status, headers, body = load_response(response_path)
    if kind == "flask":
        app: Any = make_flask_app(route, status, headers, body)
    else:
        app = make_wsgi_app(route, status, headers, body)
    server = bind(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_port}"
    serve_until_stopped(server, lambda: print(f"baseline listening on {url}", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
