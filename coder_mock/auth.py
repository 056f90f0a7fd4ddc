"""Session tokens as coderd's ExtractAPIKey middleware reads and checks them."""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.wrappers import Request

from coder_mock.rendering import Rendered
from coder_mock.wire import NO_TOKEN_DETAIL, SIGNED_OUT, error_body
from coder_mock.world import UserRecord

SESSION_COOKIE = "coder_session_token"
SESSION_HEADER = "Coder-Session-Token"
KEY_ID_LENGTH = 10
SECRET_LENGTH = 22


@dataclass(frozen=True)
class Caller:
    """The outcome of authentication: a user, or the 401 body to send."""

    user: UserRecord | None
    error: dict[str, str] | None = None


def first_header_value(request: Request, name: str) -> str:
    """Return the first value of header `name` as Go's Header.Get does, trimmed of spaces and tabs.

    werkzeug joins repeated headers with commas. Tokens contain no comma, so
    the part before the first comma is the first header's value.
    """
    return request.headers.get(name, "").split(",", 1)[0].strip(" \t")


def session_token(request: Request) -> str:
    """Return the token from the first source that has one, in coderd's order."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if cookie:
        return cookie
    query = request.args.get(SESSION_COOKIE, "")
    if query:
        return query
    header = first_header_value(request, SESSION_HEADER)
    if header:
        return header
    authorization = first_header_value(request, "Authorization")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return request.args.get("access_token", "").strip()


def split_token(token: str) -> tuple[str, str] | str:
    """Split `<id>-<secret>`, or return Go's error text for a malformed token."""
    parts = token.split("-")
    if len(parts) != 2:
        return f"incorrect amount of API key parts, expected 2 got {len(parts)}"
    key_id, secret = parts
    if len(key_id) != KEY_ID_LENGTH:
        return f"invalid API key ID length, expected {KEY_ID_LENGTH} got {len(key_id)}"
    if len(secret) != SECRET_LENGTH:
        return f"invalid API key secret length, expected {SECRET_LENGTH} got {len(secret)}"
    return key_id, secret


def authenticate(request: Request, rendered: Rendered) -> Caller:
    """Identify the caller, or build the 401 body coderd would send."""
    token = session_token(request)
    if not token:
        return Caller(None, error_body(SIGNED_OUT, NO_TOKEN_DETAIL))

    parts = split_token(token)
    if isinstance(parts, str):
        return Caller(None, error_body(SIGNED_OUT, "Invalid API key format: " + parts))
    key_id, secret = parts

    found = rendered.users_by_key_id.get(key_id)
    if found is None:
        return Caller(None, error_body(SIGNED_OUT, "API key is invalid."))
    expected_secret, user = found
    if secret != expected_secret:
        return Caller(None, error_body(SIGNED_OUT, "API key secret is invalid."))

    # Expiry is judged at the scenario's time, so a scenario responds the same on any day.
    expires = user.tokens[token]
    if expires < rendered.world.time:
        return Caller(None, error_body(SIGNED_OUT, f'API key expired at "{expires.go_string()}".'))
    return Caller(user)
