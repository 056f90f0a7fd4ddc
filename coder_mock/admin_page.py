"""The admin page at /__admin/: one HTML page over the admin API, for people rather than scripts.

The page, its style sheet and its script are package data that are joined into
one document when an app registers the blueprint, so the page costs one
request and needs no build step. Its Content-Security-Policy allows only that inline style
sheet and script, by their SHA-256 hashes, and requests to this server.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

from flask import Blueprint, Response

STYLE_MARKER = "<!-- admin_page.css -->"
SCRIPT_MARKER = "<!-- admin_page.js -->"


class PageError(RuntimeError):
    """The page's package data is missing a part or cannot be inlined safely."""


@dataclass(frozen=True)
class Page:
    """The finished document and the Content-Security-Policy that lets it run."""

    body: bytes
    content_security_policy: str


def source_hash(text: str) -> str:
    """Return the CSP source expression that allows an inline element whose content is `text`."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def build_page(html: str, style: str, script: str) -> Page:
    """Inline `style` and `script` into `html` at their markers and compute the page's policy."""
    for marker in (STYLE_MARKER, SCRIPT_MARKER):
        if html.count(marker) != 1:
            raise PageError(f"admin_page.html must contain {marker} exactly once")
    # An end tag inside the inlined text would end the element early.
    if "</style" in style.lower():
        raise PageError("admin_page.css must not contain </style")
    if "</script" in script.lower():
        raise PageError("admin_page.js must not contain </script")

    document = html.replace(STYLE_MARKER, f"<style>{style}</style>").replace(SCRIPT_MARKER, f"<script>{script}</script>")
    policy = "; ".join((
        "default-src 'none'",
        f"style-src {source_hash(style)}",
        f"script-src {source_hash(script)}",
        # The page's script calls only the admin API of the server that sent the page.
        "connect-src 'self'",
        # The favicon link is an empty data: URL, so the browser requests no /favicon.ico.
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ))
    return Page(document.encode("utf-8"), policy)


def load_page() -> Page:
    """Read the page's three files from the package data and join them."""
    folder = resources.files("coder_mock") / "data"
    return build_page(
        (folder / "admin_page.html").read_text(encoding="utf-8"),
        (folder / "admin_page.css").read_text(encoding="utf-8"),
        (folder / "admin_page.js").read_text(encoding="utf-8"),
    )


@functools.cache
def cached_page() -> Page:
    return load_page()


blueprint = Blueprint("admin_page", __name__)
# The page is read when an app registers the blueprint, so a broken package fails at start-up.
blueprint.record_once(lambda state: cached_page())


def serve_page() -> Response:
    page = cached_page()
    response = Response(page.body, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = page.content_security_policy
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# Both paths serve the page directly, because coder-mock never sends a trailing-slash redirect.
# They share one endpoint, so the OpenAPI document lists /__admin as an alias of /__admin/.
blueprint.add_url_rule("/__admin/", endpoint="page", view_func=serve_page, methods=["GET"],
                       provide_automatic_options=False)
blueprint.add_url_rule("/__admin", endpoint="page", view_func=serve_page, methods=["GET"],
                       provide_automatic_options=False)
