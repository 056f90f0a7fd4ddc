"""Go's reason phrases for statuses: the status line, fault and override bodies, and `coder-mock validate`.

Codes without a Python `HTTPStatus` member (420, 499, 599) are the cases
that matter, because Go's server writes "status code 420" for them.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from coder_mock.app import create_app
from coder_mock.catalog import load_catalog
from coder_mock.cli import main
from coder_mock.server import bind
from coder_mock.statustext import reason_phrase, status_line
from coder_mock.store import Store

SOCKET_TIMEOUT_SECONDS = 10.0
UPDATECHECK = "/api/v2/updatecheck"

# Status, Go's status line text and the default message of a fault or override with that status.
STATUSES = [
    (418, "I'm a teapot", b'{"message":"I\'m a teapot."}\n'),
    (420, "status code 420", b'{"message":"status code 420."}\n'),
    (499, "status code 499", b'{"message":"status code 499."}\n'),
    (599, "status code 599", b'{"message":"status code 599."}\n'),
]


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (200, "OK"),
        (203, "Non-Authoritative Information"),
        (413, "Request Entity Too Large"),
        (414, "Request URI Too Long"),
        (416, "Requested Range Not Satisfiable"),
        (418, "I'm a teapot"),
        (422, "Unprocessable Entity"),
        (425, "Too Early"),
        (306, "status code 306"),
        (419, "status code 419"),
        (509, "status code 509"),
    ],
)
def test_reason_phrase_follows_go(code: int, text: str) -> None:
    assert reason_phrase(code) == text
    assert status_line(code) == f"{code} {text}"


@pytest.mark.parametrize(("status", "text", "body"), STATUSES)
def test_fault_default_message(client: FlaskClient, status: int, text: str, body: bytes) -> None:
    put = client.put("/__admin/faults", json={"faults": [{"operation": "update-check", "status": status}]})

    response = client.get(UPDATECHECK)

    assert put.status_code == 200
    assert response.status == f"{status} {text}"
    assert response.get_data() == body


def test_fault_given_message_kept(client: FlaskClient) -> None:
    rule = {"operation": "update-check", "status": 420, "message": "Calm down.", "detail": "slow"}
    put = client.put("/__admin/faults", json={"faults": [rule]})

    response = client.get(UPDATECHECK)

    assert put.status_code == 200
    assert response.status == "420 status code 420"
    assert response.get_data() == b'{"message":"Calm down.","detail":"slow"}\n'


def override_client(tmp_path: Path, status: int) -> FlaskClient:
    (tmp_path / "odd.yaml").write_text(
        f"extends: default\ndescription: Update checks fail with {status}.\n"
        f"overrides:\n  update-check: {{status: {status}}}\n"
        f"faults:\n  - {{operation: build-info, status: {status}}}\n"
    )
    return create_app(Store(load_catalog([tmp_path]), "odd"), quiet=True).test_client()


@pytest.mark.parametrize(("status", "text", "body"), STATUSES)
def test_scenario_override_and_fault(tmp_path: Path, status: int, text: str, body: bytes) -> None:
    client = override_client(tmp_path, status)

    overridden = client.get(UPDATECHECK)
    faulted = client.get("/api/v2/buildinfo")

    assert overridden.status == f"{status} {text}"
    assert overridden.get_data() == body
    assert faulted.status == f"{status} {text}"
    assert faulted.get_data() == body


def test_switch_to_odd_status_scenario(tmp_path: Path) -> None:
    (tmp_path / "odd.yaml").write_text(
        "extends: default\ndescription: Update checks fail with 420.\noverrides:\n  update-check: {status: 420}\n"
    )
    client = create_app(Store(load_catalog([tmp_path]), "default"), quiet=True).test_client()

    switched = client.put("/__admin/scenario", json={"name": "odd"})
    response = client.get(UPDATECHECK)

    assert switched.status_code == 200
    assert response.status == "420 status code 420"
    assert response.get_data() == b'{"message":"status code 420."}\n'


# --- Over a socket ----------------------------------------------------------------------------


@pytest.fixture
def port(app: Flask) -> Iterator[int]:
    server = bind(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=SOCKET_TIMEOUT_SECONDS)


def first_line(port: int, method: str, path: str, body: bytes = b"") -> tuple[str, bytes]:
    """Send one request and return the response's status line and its bytes after the headers."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_SECONDS) as sock:
        sock.sendall(head.encode("latin-1") + body)
        while piece := sock.recv(65536):
            data += piece
    headers, _, payload = data.partition(b"\r\n\r\n")
    return headers.split(b"\r\n")[0].decode("latin-1"), payload


@pytest.mark.parametrize(("status", "text", "body"), STATUSES)
def test_status_line_on_socket(port: int, status: int, text: str, body: bytes) -> None:
    rules = f'{{"faults": [{{"operation": "update-check", "status": {status}}}]}}'.encode()
    put_line, _ = first_line(port, "PUT", "/__admin/faults", rules)

    line, payload = first_line(port, "GET", UPDATECHECK)

    assert put_line == "HTTP/1.1 200 OK"
    assert line == f"HTTP/1.1 {status} {text}"
    assert payload == body


# --- coder-mock validate ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [418, 420, 499, 599])
def test_validate_accepts_odd_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str], status: int) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "odd.yaml").write_text(
        f"extends: default\ndescription: Odd statuses.\noverrides:\n  update-check: {{status: {status}}}\n"
        f"faults:\n  - {{operation: build-info, status: {status}}}\n"
    )

    code = main(["validate", "mine"])

    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.splitlines() == ["No problems; 1 scenario valid."]
    assert captured.err == ""
