"""The General section of Coder's API v2: ten operations under /api/v2."""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from flask import Blueprint, Response, g, request

from coder_mock import faults, gojson, godecode
from coder_mock.auth import Caller, authenticate
from coder_mock.differences import access_in
from coder_mock.rendering import Rendered, Reply
from coder_mock.server import BodyReadError
from coder_mock.wire import RATE_LIMIT_COUNT, error_body, go_quote

log = logging.getLogger("coder_mock.api")

blueprint = Blueprint("general", __name__, url_prefix="/api/v2")

JSON = "application/json; charset=utf-8"
# coderd wraps the CSP report body in http.MaxBytesReader with this limit.
CSP_REPORT_MAX_BYTES = 65536
RATE_LIMIT_WINDOW_SECONDS = 60

PUBLIC, MEMBER, OWNER = "public", "member", "owner"


@dataclass(frozen=True)
class Operation:
    """One operation: Coder's operation ID and who may call it."""

    id: str
    access: str


def reply(answer: Reply, headers: dict[str, str] | None = None) -> Response:
    return Response(answer.body, status=answer.status, content_type=JSON, headers=headers)


def json_reply(status: int, body: object) -> Response:
    return Response(gojson.encode(body), status=status, content_type=JSON)


def rate_limit_headers() -> dict[str, str]:
    """Return the headers go-chi/httprate sends with a 429, for a window of one minute."""
    now = time.time()
    reset = (math.floor(now / RATE_LIMIT_WINDOW_SECONDS) + 1) * RATE_LIMIT_WINDOW_SECONDS
    return {
        "X-Ratelimit-Limit": str(RATE_LIMIT_COUNT),
        "X-Ratelimit-Remaining": "0",
        "X-Ratelimit-Reset": str(reset),
        "Retry-After": str(max(1, math.ceil(reset - now))),
    }


def serve(operation: Operation, answer: Callable[[Rendered, Caller], Response]) -> Response:
    """Apply overrides, authentication and role checks in coderd's order, then respond."""
    rendered: Rendered = g.rendered
    g.operation = operation.id
    if (faulty := faults.apply(operation.id)) is not None:
        return faulty
    override = rendered.overrides.get(operation.id) or rendered.overrides.get("all")

    # The rate limiter runs before authentication in coderd's middleware chain.
    if override is not None and override.status == 429:
        return reply(override, rate_limit_headers())

    access = access_in(rendered.profile, operation.id, operation.access)
    caller = Caller(None)
    if access != PUBLIC:
        caller = authenticate(request, rendered)
        if caller.error is not None:
            return json_reply(401, caller.error)
        if access == OWNER and not caller.user.is_owner:
            return reply(rendered.replies["forbidden"])

    if override is not None:
        return reply(override)
    return answer(rendered, caller)


def fixed(operation_id: str) -> Callable[[Rendered, Caller], Response]:
    """Return a responder that sends the operation's precomputed reply."""
    return lambda rendered, caller: reply(rendered.replies[operation_id])


# coderd mounts its API router at /api/v2, which routes both /api/v2 and /api/v2/ to its root.
@blueprint.get("", provide_automatic_options=False)
@blueprint.get("/", provide_automatic_options=False)
def api_root() -> Response:
    return serve(Operation("api-root-handler", PUBLIC), fixed("api-root-handler"))


@blueprint.get("/buildinfo", provide_automatic_options=False)
def build_info() -> Response:
    return serve(Operation("build-info", PUBLIC), fixed("build-info"))


@blueprint.post("/csp/reports", provide_automatic_options=False)
def report_csp_violations() -> Response:
    return serve(Operation("report-csp-violations", PUBLIC), read_csp_report)


def read_csp_report(rendered: Rendered, caller: Caller) -> Response:
    """Decode the body as coderd does: JSON whatever the Content-Type, at most 64 KiB.

    A body that cannot be read (a broken chunked encoding) gives Go's read
    error as the detail.
    """
    body, read_error = read_first_value(CSP_REPORT_MAX_BYTES)
    scanned = godecode.scan(body, limit=CSP_REPORT_MAX_BYTES)
    if scanned.error == "too large":
        return json_reply(413, error_body("Request body too large.",
                                          f"Maximum CSP report size is {CSP_REPORT_MAX_BYTES} bytes."))
    if read_error and scanned.error in ("EOF", "unexpected EOF"):
        # Go's decoder reports a read error unless the bytes before it contain a value or a syntax error.
        detail = read_error
    else:
        detail = scanned.error or csp_type_error(scanned)
    if detail:
        log.warning("CSP violation report rejected: %s", detail)
        return json_reply(400, error_body("Failed to read body, invalid json.", detail))

    log.debug("CSP violation reported: %s", body[: scanned.end + 1].decode("utf-8", "replace"))
    return reply(rendered.replies["report-csp-violations"])


def read_first_value(limit: int) -> tuple[bytes, str]:
    """Read the request body up to one byte past `limit`, stopping early once its first JSON value is complete.

    Go's json.Decoder stops reading there too, so a client that declares a
    longer body than it sends still gets a response. Return the bytes read
    and the error text of a failed read, or "".
    """
    # Reading one byte past the limit is enough to tell a body that is too large.
    read_limit = limit + 1
    body = b""
    # Scanning after every read costs time quadratic in the number of reads, so a body that
    # trickles in is scanned only until this many bytes have been scanned, and then read to its end.
    scan_budget = 16 * read_limit
    while len(body) < read_limit:
        try:
            piece = request.stream.read(read_limit - len(body))
        except BodyReadError as error:
            return body, error.description or "unexpected EOF"
        if not piece:
            break
        body += piece
        if scan_budget <= 0:
            continue
        scan_budget -= len(body)
        scanned = godecode.scan(body, limit=limit)
        if scanned.error not in (None, "EOF", "unexpected EOF"):
            break
        # A scalar ends only at the byte after it, so one that reaches the end of the data may go on.
        if scanned.error is None and (scanned.kind in ("object", "array") or scanned.end < len(body) - 1):
            break
    return body, ""


def csp_type_error(scanned: godecode.Scan) -> str:
    """Return Go's error for a body that is valid JSON but does not fit coderd.cspViolation."""
    if scanned.kind not in ("object", "null"):
        return godecode.unmarshal_error(scanned.kind, "coderd.cspViolation")
    for member in scanned.members:
        # Go matches struct fields to keys case-insensitively.
        if member.key.lower() == "csp-report" and member.kind not in ("object", "null"):
            return godecode.unmarshal_error(member.kind, "map[string]interface {}", "csp-report", "cspViolation")
    return ""


@blueprint.get("/deployment/config", provide_automatic_options=False)
def deployment_config() -> Response:
    return serve(Operation("get-deployment-config", OWNER), fixed("get-deployment-config"))


@blueprint.get("/deployment/ssh", provide_automatic_options=False)
def ssh_config() -> Response:
    return serve(Operation("ssh-config", MEMBER), fixed("ssh-config"))


@blueprint.get("/deployment/stats", provide_automatic_options=False)
def deployment_stats() -> Response:
    return serve(Operation("get-deployment-stats", OWNER), fixed("get-deployment-stats"))


@blueprint.get("/experiments", provide_automatic_options=False)
def enabled_experiments() -> Response:
    return serve(Operation("get-enabled-experiments", MEMBER), fixed("get-enabled-experiments"))


@blueprint.get("/experiments/available", provide_automatic_options=False)
def safe_experiments() -> Response:
    return serve(Operation("get-safe-experiments", MEMBER), fixed("get-safe-experiments"))


@blueprint.get("/updatecheck", provide_automatic_options=False)
def update_check() -> Response:
    return serve(Operation("update-check", PUBLIC), fixed("update-check"))


@blueprint.get("/users/<user>/keys/tokens/tokenconfig", provide_automatic_options=False)
def token_config(user: str) -> Response:
    raw_user = user_segment_bytes(user)
    return serve(Operation("get-token-config", MEMBER),
                 lambda rendered, caller: answer_token_config(rendered, caller, user, raw_user))


def user_segment_bytes(user: str) -> bytes:
    """Return the {user} path segment as the percent-decoded bytes the client sent.

    werkzeug decodes route variables as UTF-8 and replaces invalid bytes with
    U+FFFD, so the bytes are taken from PATH_INFO, which WSGI carries as latin-1.
    """
    prefix = b"/api/v2/users/"
    try:
        path = request.environ.get("PATH_INFO", "").encode("latin-1")
    except UnicodeEncodeError:
        return user.encode("utf-8")
    if not path.startswith(prefix):
        return user.encode("utf-8")
    return path[len(prefix):].split(b"/", 1)[0]


def go_quote_bytes(raw: bytes) -> str:
    """Quote `raw` as Go's %q quotes a string of these bytes: bytes that are not UTF-8 become \\xNN."""
    text = raw.decode("utf-8", "surrogateescape")
    quoted = []
    run_start = 0
    for index, char in enumerate(text):
        # surrogateescape turns each undecodable byte into a lone surrogate from U+DC80 to U+DCFF.
        if 0xDC80 <= ord(char) <= 0xDCFF:
            quoted.append(go_quote(text[run_start:index])[1:-1])
            quoted.append(f"\\x{ord(char) - 0xDC00:02x}")
            run_start = index + 1
    quoted.append(go_quote(text[run_start:])[1:-1])
    return '"' + "".join(quoted) + '"'


_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_CANONICAL = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def parse_go_uuid(text: str) -> str | None:
    """Parse the four forms github.com/google/uuid accepts, or return None."""
    if len(text) == 45 and text[:9].lower() == "urn:uuid:":
        text = text[9:]
    elif len(text) == 38 and text[0] == "{" and text[-1] == "}":
        text = text[1:-1]
    if _CANONICAL.match(text):
        return text.lower()
    if _HEX32.match(text):
        return str(uuid.UUID(text))
    return None


def answer_token_config(rendered: Rendered, caller: Caller, user: str, raw_user: bytes | None = None) -> Response:
    """Resolve {user} as coderd does: `me`, then a UUID, then a username.

    `raw_user` is the segment's bytes as sent, which the 400 detail quotes as
    Go does. Without it, `user` is quoted.
    """
    if user == "me":
        target = caller.user
    else:
        user_id = parse_go_uuid(user)
        if user_id is not None:
            target = rendered.users_by_id.get(user_id)
        else:
            target = rendered.users_by_name.get(user.lower())
    if target is None:
        queried = go_quote(user) if raw_user is None else go_quote_bytes(raw_user)
        return json_reply(400, error_body('"user" must be an existing uuid or username.', f"queried user={queried}"))
    return reply(rendered.token_configs[target.id])
