"""The route that serves coder-mock's OpenAPI document, apart from the code that builds it.

Building the document needs apispec, whose import is a large part of the
server's start-up. The server registers this blueprint and imports
`coder_mock.openapi` on the first request for the document.
"""

from __future__ import annotations

from flask import Blueprint, Response, g

DOCUMENT_PATH = "/swagger/doc.json"
JSON_MEDIA_TYPE = "application/json"

blueprint = Blueprint("openapi", __name__)


@blueprint.get(DOCUMENT_PATH)
def serve_document() -> Response:
    from coder_mock import openapi

    g.operation = openapi.OPERATIONS["openapi.serve_document"].operation_id
    # g.rendered is the live scenario as this request found it.
    return Response(openapi.document_text(g.rendered.profile), content_type=JSON_MEDIA_TYPE)
