"""The admin API under /__admin/, a prefix coderd never uses.

It reads and switches the live scenario and reads and clears the request
journal. Responses are JSON, and errors use
the same {"message", "detail"} shape as coderd so clients can share a decoder.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from coder_mock import gojson
from coder_mock.differences import PROFILES
from coder_mock.journal import InvalidFilter, parse_filters
from coder_mock.rendering import Rendered
from coder_mock.schemas.fields import INT64_MAX, INT64_MIN
from coder_mock.schemas.scenario import NAME_PATTERN
from coder_mock.store import Store, UnknownScenario

log = logging.getLogger("coder_mock.admin")

blueprint = Blueprint("admin", __name__, url_prefix="/__admin")

ENDPOINTS = (
    "GET /__admin/health",
    "GET /__admin/scenarios",
    "GET /__admin/scenario",
    "PUT /__admin/scenario",
    "POST /__admin/reset",
    "GET /__admin/requests",
    "GET /__admin/requests/count",
    "DELETE /__admin/requests",
    "GET /__admin/faults",
    "PUT /__admin/faults",
    "POST /__admin/faults",
    "DELETE /__admin/faults",
)


def store() -> Store:
    return current_app.extensions["coder_mock.store"]


def answer(status: int, body: Any) -> Response:
    return Response(gojson.encode(body), status=status, content_type="application/json; charset=utf-8")


def problem(status: int, message: str, **extra: Any) -> Response:
    return answer(status, {"message": message, **extra})


def describe(rendered: Rendered) -> dict[str, Any]:
    return {
        "name": rendered.name,
        "seed": rendered.world.seed,
        "profile": rendered.profile,
        "description": rendered.world.description,
        "version": rendered.version,
    }


@blueprint.get("/health")
def health() -> Response:
    state = store()
    return answer(200, {"status": "ok", "scenario": state.active.name, "instance_id": state.instance_id})


@blueprint.get("/scenarios")
def scenarios() -> Response:
    state = store()
    active = state.active.name
    listed = [
        {
            "name": entry.name,
            "description": entry.description,
            "active": entry.name == active,
            "builtin": entry.builtin,
            "source": entry.source,
        }
        for entry in (state.catalog.entries[name] for name in state.catalog.names())
    ]
    rejected = [{"name": name, "problems": lines} for name, lines in sorted(state.catalog.rejected.items())]
    return answer(200, {"scenarios": listed, "rejected": rejected})


@blueprint.get("/scenario")
def active_scenario() -> Response:
    return answer(200, describe(store().active))


@blueprint.put("/scenario")
def switch_scenario() -> Response:
    try:
        body = json.loads(request.get_data(cache=False) or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return problem(400, "Request body must be valid JSON.",
                       detail=f'{error}; send {{"name": "<scenario>", "seed": <optional integer>}}.')
    except (RecursionError, ValueError):
        # Python's parser gives up on very deep nesting and on integers of thousands of digits.
        return problem(400, "Request body must be a small JSON object.",
                       detail='Send {"name": "<scenario>", "seed": <optional integer>}.')
    if not isinstance(body, dict):
        return problem(400, 'Request body must be a JSON object such as {"name": "outdated"}.')

    name = body.get("name")
    seed = body.get("seed")
    state = store()
    if name is None or name == "":
        return problem(400, 'Missing "name": give the scenario to switch to, such as {"name": "outdated"}.',
                       available=state.catalog.names())
    if not isinstance(name, str):
        return problem(400, f'Invalid "name" {json.dumps(name)}: give the scenario name as a string.',
                       available=state.catalog.names())
    if not NAME_PATTERN.match(name):
        return problem(400, f"Invalid scenario name {json.dumps(name)}: use letters, digits, - and _ only.",
                       available=state.catalog.names())
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        return problem(400, f'Invalid "seed" {json.dumps(seed)}: give an integer or leave it out.')
    if seed is not None and not INT64_MIN <= seed <= INT64_MAX:
        return problem(400, f'Invalid "seed" {seed}: outside the range of a 64-bit integer, as in scenario files.')
    profile = body.get("profile")
    if profile is not None and profile not in PROFILES:
        return problem(400, f'Invalid "profile" {json.dumps(profile)}: use "wire" or "reference", or leave it out.')

    try:
        rendered = state.switch(name, seed, profile)
    except UnknownScenario:
        return problem(404, f"Scenario {json.dumps(name)} not found.", available=state.catalog.names())
    # This response already belongs to the new scenario, headers included.
    g.rendered = rendered
    return answer(200, describe(rendered))


@blueprint.post("/reset")
def reset() -> Response:
    rendered = store().reset()
    g.rendered = rendered
    return answer(200, describe(rendered))


@blueprint.get("/requests")
def list_requests() -> Response:
    try:
        filters = parse_filters(request.args.to_dict(flat=False))
    except InvalidFilter as error:
        return problem(400, str(error))
    journal = store().journal
    return answer(200, {"size": journal.size, "requests": journal.query(filters)})


@blueprint.get("/requests/count")
def count_requests() -> Response:
    try:
        filters = parse_filters(request.args.to_dict(flat=False))
    except InvalidFilter as error:
        return problem(400, str(error))
    return answer(200, {"count": store().journal.count(filters)})


@blueprint.delete("/requests")
def clear_requests() -> Response:
    cleared = store().journal.clear()
    log.info("request journal cleared: %d entries removed", cleared)
    return answer(200, {"cleared": cleared})


def admin_not_found() -> Response:
    return problem(404, f"No admin endpoint {request.method} {request.path}.", endpoints=list(ENDPOINTS))
