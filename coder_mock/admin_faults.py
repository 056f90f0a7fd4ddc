"""The admin API for fault rules under /__admin/faults.

GET lists the live rules with their counters, PUT replaces them all, POST
adds one, and DELETE removes them all. A request with a `Coder-Mock-Session`
header acts on that session's rules, any other on the global ones. A rejected
body changes nothing.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, g, request

from coder_mock import faults, gojson
from coder_mock.documents import error_lines
from coder_mock.state.sessions import unknown_session_body
from coder_mock.store import Store

if TYPE_CHECKING:
    from marshmallow import Schema

# The handlers that validate a body import marshmallow and the fault schemas
# on first use, because a start that reads its scenario from the render cache
# does not otherwise import them (about 40 ms).

log = logging.getLogger("coder_mock.admin")

blueprint = Blueprint("admin_faults", __name__, url_prefix="/__admin")

RULE_EXAMPLE = '{"operation": "build-info", "status": 503}'
LIST_EXAMPLE = '{"faults": [{"operation": "all", "delay": "250ms"}]}'


class InvalidBody(Exception):
    """A request body that is not valid JSON or not a valid rule; `message` and `detail` describe the problem."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def install(app: Flask) -> None:
    """Serve /__admin/faults on `app`."""
    app.register_blueprint(blueprint)


def answer(status: int, body: Any) -> Response:
    return Response(gojson.encode(body), status=status, content_type="application/json; charset=utf-8")


def problem(status: int, message: str, detail: str = "") -> Response:
    body = {"message": message}
    if detail:
        body["detail"] = detail
    return answer(status, body)


def current_book() -> faults.FaultBook:
    """Return the book of the session named by the request's Coder-Mock-Session header, else the global one."""
    store: Store = current_app.extensions["coder_mock.store"]
    # The app's before_request resolved the header and responded 404 for an unknown session.
    return faults.book_for(store, g.get("session"))


def listing(book: faults.FaultBook) -> dict[str, Any]:
    return {"seed": book.seed, "faults": book.states()}


def read_body(schema: Schema, example: str) -> dict[str, Any]:
    """Parse the JSON body and load it with `schema`, or raise InvalidBody naming each invalid field and its fix."""
    from marshmallow import ValidationError

    try:
        document = json.loads(request.get_data(cache=False) or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidBody("Request body must be valid JSON.", f"{error}; send a body such as {example}.") from None
    except (RecursionError, ValueError):
        # Python's parser gives up on very deep nesting and on integers of thousands of digits.
        raise InvalidBody("Request body must be a small JSON object.", f"Send a body such as {example}.") from None
    if not isinstance(document, dict):
        raise InvalidBody(f"Request body must be a JSON object such as {example}.")
    try:
        return schema.load(document)
    except ValidationError as error:
        lines = error_lines("request body", error.messages, document)
        # error_lines writes "FILE: KEY.PATH: message"; here the file is always the request body.
        lines = [line.removeprefix("request body: ").removeprefix("(top level): ") for line in lines]
        raise InvalidBody(lines[0], "\n".join(lines[1:])) from None


@blueprint.get("/faults")
def list_faults() -> Response:
    try:
        book = current_book()
    except LookupError:
        return unknown_session()
    return answer(200, listing(book))


@blueprint.put("/faults")
def replace_faults() -> Response:
    from coder_mock.schemas.faults import FaultList

    try:
        book = current_book()
        specs = read_body(FaultList(), LIST_EXAMPLE)["faults"]
    except LookupError:
        return unknown_session()
    except InvalidBody as error:
        log.info("fault rules unchanged, request body rejected: %s", error.message)
        return problem(400, error.message, error.detail)
    book.replace(faults.build_rules(specs))
    log.info("fault rules replaced: %d rules", len(specs))
    return answer(200, listing(book))


@blueprint.post("/faults")
def add_fault() -> Response:
    from coder_mock.schemas.faults import FaultRule

    try:
        book = current_book()
        spec = read_body(FaultRule(), RULE_EXAMPLE)
    except LookupError:
        return unknown_session()
    except InvalidBody as error:
        log.info("fault rules unchanged, request body rejected: %s", error.message)
        return problem(400, error.message, error.detail)
    book.add(faults.build_rule(spec))
    log.info("fault rule added for %s", spec["operation"])
    return answer(200, listing(book))


@blueprint.delete("/faults")
def clear_faults() -> Response:
    try:
        book = current_book()
    except LookupError:
        return unknown_session()
    cleared = book.clear()
    log.info("fault rules cleared: %d removed", cleared)
    return answer(200, {"cleared": cleared})


def unknown_session() -> Response:
    # The session ended between the app's check and this handler.
    return answer(404, unknown_session_body(g.get("session") or ""))
