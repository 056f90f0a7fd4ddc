"""Property-based runs of schemathesis against a live `coder-mock serve` process.

Two runs, each with positive and negative generation:

- coder-mock's own OpenAPI document, every operation, against a server in
  the wire profile;
- the General operations of Coder's swagger.json against a server in the
  reference profile, which serves the shapes that document shows.

Each server is a subprocess on 127.0.0.1 with a port the system picks, started
once per module and stopped at its end. Every request carries the owner's
session token. The checks are strict. Where Coder's swagger.json itself is
wrong, SPEC_DEFECTS replaces one check of each operation concerned with a
narrower assertion whose message names the defect.

The schemas are loaded when the module is imported, because schemathesis
builds one test per operation at collection time. The fixture that starts the
wire server checks that it serves the document the tests were built from.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
import schemathesis
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from coder_mock import openapi
from conftest import OWNER_TOKEN, SWAGGER

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]
MAX_EXAMPLES = 50
"""Fuzzed cases per operation. schemathesis' coverage phase adds its own boundary cases on top."""
SEED = 20250417
"""Fixed, with deterministic generation, so that every run sends the same requests."""

SERVER_START_SECONDS = 30
SERVER_STOP_SECONDS = 10
REQUEST_SECONDS = 10


@schemathesis.serializer("application/csp-report")
def serialize_csp_report(context: schemathesis.SerializationContext, value: Any) -> bytes:
    """Encode a CSP report as browsers send it: JSON under its own media type."""
    return json.dumps(value).encode("utf-8")


def run_config() -> schemathesis.Config:
    """Return the settings both runs share: seed, owner token, and positive and negative generation."""
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "headers": {"Coder-Session-Token": OWNER_TOKEN},
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            # Every request carries the token as a fixed header, because
            # tests/test_general_api.py covers authentication failures.
            "with-security-parameters": False,
        },
    })


# --- the live servers ----------------------------------------------------------


def read_base_url(process: subprocess.Popen[str], log: Path) -> str:
    """Return the URL from the server's first line of output, waiting at most SERVER_START_SECONDS."""
    assert process.stdout is not None
    deadline = time.monotonic() + SERVER_START_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                continue
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("coder-mock listening on "):
                return line.split()[-1]
    errors = log.read_text(encoding="utf-8", errors="replace")
    raise RuntimeError(f"coder-mock serve did not print its URL within {SERVER_START_SECONDS} s. Its stderr:\n{errors}")


def stop(process: subprocess.Popen[str]) -> None:
    """Stop the server with SIGTERM, then SIGKILL if it has not exited within SERVER_STOP_SECONDS."""
    process.terminate()
    try:
        process.wait(timeout=SERVER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SERVER_STOP_SECONDS)


@contextlib.contextmanager
def running_server(profile: str, log: Path) -> Iterator[str]:
    """Run `coder-mock serve` in `profile` with its standard error in `log`, and yield its base URL."""
    command = [sys.executable, "-m", "coder_mock", "serve", "--host", "127.0.0.1", "--port", "0", "--quiet",
               "--profile", profile]
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            yield read_base_url(process, log)
        finally:
            stop(process)
            assert process.stdout is not None
            process.stdout.close()


@pytest.fixture(scope="module")
def wire_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server("wire", tmp_path_factory.mktemp("wire") / "stderr.log") as url:
        served = requests.get(url + openapi.DOCUMENT_PATH, timeout=REQUEST_SECONDS)
        if served.json() != OWN_DOCUMENT:
            pytest.fail(f"the server at {url} serves another document than openapi.build_document(\"wire\"),"
                        " which test_own_document was generated from")
        yield url


@pytest.fixture(scope="module")
def reference_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server("reference", tmp_path_factory.mktemp("reference") / "stderr.log") as url:
        yield url


# --- coder-mock's own document, wire profile ------------------------------------

OWN_DOCUMENT = openapi.build_document("wire")
OWN_SCHEMA = schemathesis.openapi.from_dict(OWN_DOCUMENT, config=run_config())


# NOTE: generated scenario names and {user} values are random strings, so PUT
# /__admin/scenario and get-token-config almost never return 200 in either run.
# tests/test_openapi.py and tests/test_conformance.py check those 200 bodies.
@OWN_SCHEMA.parametrize()
def test_own_document(case: Case, wire_server: str) -> None:
    # PUT /__admin/scenario may switch to a scenario such as server-errors,
    # whose 500s are intended, so every case starts from the server's first scenario.
    reset = requests.post(wire_server + "/__admin/reset", timeout=REQUEST_SECONDS)
    assert reset.status_code == 200

    case.call_and_validate(base_url=wire_server, checks=CHECKS, timeout=REQUEST_SECONDS)


# --- Coder's swagger.json, General section, reference profile --------------------


@dataclass(frozen=True)
class SpecDefect:
    """A check that Coder's document makes fail, and the statuses coderd sends in its place."""

    check: Callable[..., Any]
    statuses: frozenset[int]
    reason: str


SPEC_DEFECTS = {
    "report-csp-violations": SpecDefect(
        status_code_conformance,
        frozenset({200, 400, 413}),
        "swagger.json documents only 200 for POST /csp/reports, but coderd returns 400 when the body is not"
        " JSON or csp-report is not an object, and 413 when the body exceeds 65536 bytes",
    ),
    "get-token-config": SpecDefect(
        status_code_conformance,
        frozenset({200, 400}),
        "swagger.json documents only 200 for GET /users/{user}/keys/tokens/tokenconfig, but coderd returns"
        " 400 when {user} is neither `me` nor an existing user's UUID or username",
    ),
}
"""Operations whose swagger.json responses are incomplete, by operation ID."""


def coder_general_schema() -> tuple[Any, str]:
    """Load the General operations of Coder's swagger.json, and return them with the document's base path."""
    swagger = json.loads(SWAGGER.read_text(encoding="utf-8"))
    return schemathesis.openapi.from_dict(swagger, config=run_config()).include(tag="General"), swagger["basePath"]


if SWAGGER.is_file():
    CODER_SCHEMA, CODER_BASE_PATH = coder_general_schema()

    @CODER_SCHEMA.parametrize()
    def test_coder_general_operations(case: Case, reference_server: str) -> None:
        defect = SPEC_DEFECTS.get(case.operation.definition.raw["operationId"])
        checks = [check for check in CHECKS if defect is None or check is not defect.check]

        response = case.call_and_validate(base_url=reference_server + CODER_BASE_PATH, checks=checks,
                                          timeout=REQUEST_SECONDS)

        if case.method.upper() != case.operation.method.upper():
            # schemathesis' checks skip its probes with a method the path does not serve.
            assert response.status_code == 405, (
                f"{case.method} {case.operation.path} must get 405 as from coderd, a status that swagger.json"
                " documents for no operation"
            )
        elif defect is not None:
            assert response.status_code in defect.statuses, defect.reason

else:

    def test_coder_general_operations() -> None:
        pytest.skip(f"Coder's OpenAPI document is absent at {SWAGGER}, and this run generates requests from it")
