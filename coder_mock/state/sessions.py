"""Session tokens: issuing them, and the per-session scenario copy that accepts them."""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import replace

from coder_mock.auth import KEY_ID_LENGTH, SECRET_LENGTH
from coder_mock.rendering import Rendered
from coder_mock.gotime import GoTime
from coder_mock.world import UserRecord

SESSION_HEADER = "Coder-Mock-Session"


def unknown_session_body(session_id: str) -> dict[str, str]:
    """Return the error envelope for a session id that names no live session.

    The mock user's mistake, not a Coder error, so the text is coder-mock's own.
    """
    return {
        "message": f"Unknown coder-mock session {json.dumps(session_id)}.",
        "detail": "No session has this id: it was never created, was ended, or sat idle too long. Create one with"
                  f" POST /__admin/sessions and send its id in the {SESSION_HEADER} header, or leave the header out.",
    }
_ALPHABET = string.ascii_letters + string.digits


def new_token(taken_key_ids: set[str]) -> str:
    """Return a random token in Coder's format, a 10-character id, a dash and a 22-character secret.

    The id differs from every id in `taken_key_ids`, which the caller keeps up to date.
    """
    while True:
        key_id = "".join(secrets.choice(_ALPHABET) for _ in range(KEY_ID_LENGTH))
        if key_id not in taken_key_ids:
            taken_key_ids.add(key_id)
            secret = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))
            return f"{key_id}-{secret}"


def issue_tokens(rendered: Rendered, tokens: dict[str, str], taken_key_ids: set[str]) -> dict[str, str]:
    """Return `tokens` (token to username) plus one new token for each user of `rendered` that has none."""
    issued = dict(tokens)
    holders = {username.lower() for username in tokens.values()}
    taken_key_ids |= set(rendered.users_by_key_id)
    for user in rendered.world.users:
        if user.username.lower() not in holders:
            issued[new_token(taken_key_ids)] = user.username
            holders.add(user.username.lower())
    return issued


def token_expiry(rendered: Rendered, user: UserRecord) -> GoTime:
    """Return when a session token of `user` expires: when the user's last scenario token does.

    A user without tokens gets the lifetime a scenario token without `expires_at` gets.
    """
    if user.tokens:
        return max(user.tokens.values())
    lifetimes = rendered.world.config["session_lifetime"]
    maximum = lifetimes["max_admin_token_lifetime"] if user.is_owner else lifetimes["max_token_lifetime"]
    return rendered.world.time.shifted(min(lifetimes["default_token_lifetime"], maximum))


def with_session_tokens(rendered: Rendered, tokens: dict[str, str]) -> Rendered:
    """Return a copy of `rendered` whose users also sign in with the session tokens issued to them.

    A token whose user the scenario lacks (the session switched to a scenario
    without that username) is left out, so it gets coderd's 401 for an unknown key.
    """
    by_username: dict[str, list[str]] = {}
    for token, username in tokens.items():
        by_username.setdefault(username.lower(), []).append(token)
    users_by_key_id = dict(rendered.users_by_key_id)
    users_by_name = dict(rendered.users_by_name)
    users_by_id = dict(rendered.users_by_id)
    for user in rendered.world.users:
        issued = by_username.get(user.username.lower(), [])
        if not issued:
            continue
        expiry = token_expiry(rendered, user)
        extended = replace(user, tokens={**user.tokens, **{token: expiry for token in issued}})
        users_by_name[user.username.lower()] = extended
        users_by_id[user.id] = extended
        for token, secret_and_user in list(users_by_key_id.items()):
            if secret_and_user[1] is user:
                users_by_key_id[token] = (secret_and_user[0], extended)
        for token in issued:
            key_id, secret = token.split("-", 1)
            users_by_key_id[key_id] = (secret, extended)
    return replace(rendered, users_by_key_id=users_by_key_id, users_by_name=users_by_name, users_by_id=users_by_id)


def listed_tokens(rendered: Rendered, tokens: dict[str, str]) -> list[dict[str, object]]:
    """Return {username, roles, token} for each user of the scenario, with the first token issued to them."""
    first: dict[str, str] = {}
    for token, username in tokens.items():
        first.setdefault(username.lower(), token)
    return [
        {"username": user.username, "roles": list(user.roles), "token": first[user.username.lower()]}
        for user in rendered.world.users
        if user.username.lower() in first
    ]
