"""The admin API under /__admin/, a prefix coderd never uses.

It reads and switches the live scenario, starts and ends sessions, and reads
and clears the request journal. The scenario, reset and journal endpoints act
on the session that a Coder-Mock-Session header on the admin request names,
else on the global scope. Responses are JSON, and errors use the same
{"message", "detail"} shape as coderd so clients can share a decoder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from coder_mock import gojson
from coder_mock.differences import PROFILES
from coder_mock.journal import Filters, InvalidFilter, parse_filters
from coder_mock.rendering import Rendered
from coder_mock.schemas.constants import INT64_MAX, INT64_MIN, NAME_PATTERN
from coder_mock.state.sessions import SESSION_HEADER
from coder_mock.store import Store, UnknownScenario, UnknownSession

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
    "GET /__admin/sessions",
    "POST /__admin/sessions",
    "DELETE /__admin/sessions/<id>",
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
    return answer(200, {"status": "ok", "scenario": g.rendered.name, "instance_id": state.instance_id})


@blueprint.get("/scenarios")
def scenarios() -> Response:
    state = store()
    active = g.rendered.name
    catalog = state.catalog
    # Reading a description loads a scenario whose file cannot be parsed, which rejects it,
    # so the descriptions are read before the rejected names are left out.
    entries = [catalog.entries[name] for name in catalog.names()]
    descriptions = {entry.name: entry.description for entry in entries}
    listed = [
        {
            "name": entry.name,
            "description": descriptions[entry.name],
            "active": entry.name == active,
            "builtin": entry.builtin,
            "source": entry.source,
        }
        for entry in entries
        if entry.name not in catalog.rejected
    ]
    rejected = [{"name": name, "problems": lines} for name, lines in sorted(catalog.rejected.items())]
    return answer(200, {"scenarios": listed, "rejected": rejected})


@blueprint.get("/scenario")
def active_scenario() -> Response:
    return answer(200, describe(g.rendered))


def read_selection(key: str) -> tuple[str, int | None, str | None] | Response:
    """Read and check the scenario, seed and profile of a request body, or return the 400 or 404 response.

    `key` is the member that names the scenario: "name" for PUT /__admin/scenario,
    "scenario" for POST /__admin/sessions. The messages are the same for both.
    """
    try:
        body = json.loads(request.get_data(cache=False) or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return problem(400, "Request body must be valid JSON.",
                       detail=f'{error}; send {{"{key}": "<scenario>", "seed": <optional integer>}}.')
    except (RecursionError, ValueError):
        # Python's parser gives up on very deep nesting and on integers of thousands of digits.
        return problem(400, "Request body must be a small JSON object.",
                       detail=f'Send {{"{key}": "<scenario>", "seed": <optional integer>}}.')
    if not isinstance(body, dict):
        return problem(400, f'Request body must be a JSON object such as {{"{key}": "outdated"}}.')
    allowed = (key, "seed", "profile")
    unknown = [member for member in body if member not in allowed]
    if unknown:
        # The same wording as PUT /__admin/faults, which rejects unknown keys through its schema.
        return problem(400, f"{unknown[0]}: unknown key {json.dumps(unknown[0])}: remove it;"
                            f" the keys allowed here are {', '.join(allowed)}.")

    name = body.get(key)
    seed = body.get("seed")
    names = store().catalog.names()
    if name is None or name == "":
        return problem(400, f'Missing "{key}": give the scenario to switch to, such as {{"{key}": "outdated"}}.',
                       available=names)
    if not isinstance(name, str):
        return problem(400, f'Invalid "{key}" {json.dumps(name)}: give the scenario name as a string.',
                       available=names)
    if not NAME_PATTERN.match(name):
        return problem(400, f"Invalid scenario name {json.dumps(name)}: use letters, digits, - and _ only.",
                       available=names)
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        return problem(400, f'Invalid "seed" {json.dumps(seed)}: give an integer or leave it out.')
    if seed is not None and not INT64_MIN <= seed <= INT64_MAX:
        return problem(400, f'Invalid "seed" {seed}: outside the range of a 64-bit integer, as in scenario files.')
    profile = body.get("profile")
    if profile is not None and profile not in PROFILES:
        return problem(400, f'Invalid "profile" {json.dumps(profile)}: use "wire" or "reference", or leave it out.')
    if name not in store().catalog.entries:
        return scenario_not_found(name)
    return name, seed, profile


def scenario_not_found(name: str) -> Response:
    """Return the 404 for a scenario that cannot be served: unknown, or rejected with the first problem of its file."""
    problems = store().catalog.rejected.get(name)
    if problems:
        return problem(404, f"Scenario {json.dumps(name)} was rejected because its files have problems; fix them"
                            " (GET /__admin/scenarios and coder-mock validate list them all).", detail=problems[0])
    return problem(404, f"Scenario {json.dumps(name)} not found.", available=store().catalog.names())


def session_ended(error: UnknownSession) -> Response:
    return problem(404, f"Session {json.dumps(error.session_id)} not found: it was ended or sat idle too long.",
                   detail="Create one with POST /__admin/sessions.")


@blueprint.put("/scenario")
def switch_scenario() -> Response:
    selection = read_selection("name")
    if isinstance(selection, Response):
        return selection
    name, seed, profile = selection
    try:
        rendered = store().switch(name, seed, profile, session=g.session)
    except UnknownScenario:
        return scenario_not_found(name)
    except UnknownSession as error:
        return session_ended(error)
    # This response already belongs to the new scenario, headers included.
    g.rendered = rendered
    return answer(200, describe(rendered))


@blueprint.post("/reset")
def reset() -> Response:
    try:
        rendered = store().reset(session=g.session)
    except UnknownSession as error:
        return session_ended(error)
    g.rendered = rendered
    return answer(200, describe(rendered))


def scoped_filters() -> Filters | Response:
    """Parse the journal filters, limited to the session that the Coder-Mock-Session header names."""
    try:
        filters = parse_filters(request.args.to_dict(flat=False))
    except InvalidFilter as error:
        return problem(400, str(error))
    if g.session is None:
        return filters
    if filters.session not in (None, g.session):
        return problem(400, f'Query parameter "session" {json.dumps(filters.session)} names another session than'
                            f" the {SESSION_HEADER} header: leave one of them out.")
    return replace(filters, session=g.session)


@blueprint.get("/requests")
def list_requests() -> Response:
    filters = scoped_filters()
    if isinstance(filters, Response):
        return filters
    journal = store().journal
    return answer(200, {"size": journal.size, "requests": journal.query(filters)})


@blueprint.get("/requests/count")
def count_requests() -> Response:
    filters = scoped_filters()
    if isinstance(filters, Response):
        return filters
    return answer(200, {"count": store().journal.count(filters)})


@blueprint.delete("/requests")
def clear_requests() -> Response:
    cleared = store().journal.clear(g.session)
    if g.session is None:
        log.info("request journal cleared: %d entries removed", cleared)
    else:
        log.info("request journal of session %s cleared: %d entries removed", g.session, cleared)
    return answer(200, {"cleared": cleared})


@blueprint.get("/sessions")
def list_sessions() -> Response:
    return answer(200, {"sessions": store().list_sessions()})


@blueprint.post("/sessions")
def create_session() -> Response:
    selection = read_selection("scenario")
    if isinstance(selection, Response):
        return selection
    name, seed, profile = selection
    try:
        created = store().create_session(name, seed, profile)
    except UnknownScenario:
        return scenario_not_found(name)
    return answer(201, created)


@blueprint.delete("/sessions/<session_id>")
def end_session(session_id: str) -> Response:
    if not store().end_session(session_id):
        return problem(404, f"Session {json.dumps(session_id)} not found.",
                       detail="GET /__admin/sessions lists the live sessions.")
    return Response(status=204)


def admin_not_found() -> Response:
    return problem(404, f"No admin endpoint {request.method} {request.path}.", endpoints=list(ENDPOINTS))
