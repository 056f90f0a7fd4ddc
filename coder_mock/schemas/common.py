"""Types every section of Coder's API shares: the error envelope."""

from __future__ import annotations

from coder_mock.schemas.fields import CoderSchema, NestedList, String


class ValidationError(CoderSchema):
    """codersdk.ValidationError: one failed field rule of a request."""

    field = String(required=True)
    detail = String(required=True)


class Response(CoderSchema):
    """codersdk.Response: coderd's envelope for messages and errors.

    `detail` and `validations` are omitempty in Go.
    """

    message = String(required=True)
    detail = String(metadata={"omitempty": True})
    validations = NestedList(ValidationError, metadata={"omitempty": True})
