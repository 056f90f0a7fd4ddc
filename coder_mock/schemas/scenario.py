"""The schema of scenario files (`scenarios/*.yaml`).

A scenario is coder-mock's own format, not a Coder type: it names the
fixture each operation serves, the users and their tokens, deployment facts
and status overrides.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from marshmallow import ValidationError, validates_schema

from coder_mock.schemas.constants import NAME_PATTERN  # noqa: F401 - exported
from coder_mock.schemas.faults import FaultRule
from coder_mock.schemas.fields import (
    Bool,
    CoderField,
    Enum,
    CoderSchema,
    Int,
    Nested,
    NestedList,
    SemVer,
    String,
    StringList,
    Timestamp,
    URL,
    UUID,
    written,
)

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9]{10}-[A-Za-z0-9]{22}$")

FIXTURE_KINDS = ("buildinfo", "deployment-config", "deployment-ssh", "deployment-stats")
"""Operations whose response body comes from a fixture file, by fixture kind."""

OPERATIONS = (
    "api-root-handler",
    "build-info",
    "report-csp-violations",
    "get-deployment-config",
    "ssh-config",
    "get-deployment-stats",
    "get-enabled-experiments",
    "get-safe-experiments",
    "update-check",
    "get-token-config",
)
"""The General operations, by Coder's operation ID."""

ROLES = ("owner", "member", "user-admin", "template-admin", "auditor")


class Token(CoderField):
    type_name = "a session token"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if not isinstance(value, str) or not TOKEN_PATTERN.match(value):
            raise ValidationError(
                f"invalid token {written(value)}: a Coder session token is a 10-character id, a dash"
                " and a 22-character secret, letters and digits only, such as"
                ' "abcde12345-abcdefghijklmnopqrstuv".'
            )
        return value


class FixturePath(String):
    type_name = "a fixture path"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        parts = text.split("/")
        if text.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ValidationError(
                f"invalid fixture path {written(text)}: give a path relative to a fixtures folder,"
                ' such as "buildinfo/release.yaml", without "..".'
            )
        return text


class ApiToken(CoderSchema):
    token = Token(required=True)
    expires_at = Timestamp()


USERNAME_PATTERN = re.compile(r"^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$")


class Username(String):
    type_name = "a Coder username"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not USERNAME_PATTERN.match(text) or len(text) > 32:
            raise ValidationError(
                f"invalid username {written(text)}: Coder usernames are up to 32 letters and digits,"
                ' with single dashes between them, such as "alice-dev".'
            )
        if text == "me":
            raise ValidationError('invalid username "me": {user} "me" always means the caller; pick another name.')
        return text


class User(CoderSchema):
    username = Username(required=True)
    id = UUID()
    roles = StringList(required=True)
    tokens = NestedList(ApiToken, required=True)

    @validates_schema
    def check_roles(self, data: dict[str, Any], **kwargs: Any) -> None:
        unknown = [role for role in data.get("roles", []) if role not in ROLES]
        if unknown:
            allowed = ", ".join(ROLES)
            raise ValidationError(f"unknown role {written(unknown[0])}: expected one of {allowed}.", "roles")


class Release(CoderSchema):
    version = SemVer(required=True)
    url = URL()


class Deployment(CoderSchema):
    """Facts about the deployment that several operations share."""

    update_check = Bool()
    latest_release = Nested(Release)
    experiments = StringList()
    safe_experiments = StringList()
    stats_collected = Bool()


class Override(CoderSchema):
    """A status coderd would send in place of the operation's normal response."""

    status = Int(required=True)
    message = String()
    detail = String()

    @validates_schema
    def check_status(self, data: dict[str, Any], **kwargs: Any) -> None:
        status = data.get("status")
        if status is not None and not 400 <= status <= 599:
            raise ValidationError(
                f"invalid status {status}: an override is an error response, so use a status from 400 to 599.",
                "status",
            )


class Fixtures(CoderSchema):
    buildinfo = FixturePath()
    deployment_config = FixturePath(data_key="deployment-config")
    deployment_ssh = FixturePath(data_key="deployment-ssh")
    deployment_stats = FixturePath(data_key="deployment-stats")


class Scenario(CoderSchema):
    """A scenario file after `extends` is applied."""

    extends = String()
    description = String(required=True)
    seed = Int()
    time = Timestamp()
    profile = Enum("wire", "reference")
    fixtures = Nested(Fixtures)
    users = NestedList(User)
    deployment = Nested(Deployment)
    overrides = Nested(lambda: Overrides())
    # Fault rules, tried in order; see coder_mock.faults.
    faults = NestedList(FaultRule)


class Overrides(CoderSchema):
    """Status overrides by operation ID; `all` applies to every operation."""

    all = Nested(Override)
    api_root_handler = Nested(Override, data_key="api-root-handler")
    build_info = Nested(Override, data_key="build-info")
    report_csp_violations = Nested(Override, data_key="report-csp-violations")
    get_deployment_config = Nested(Override, data_key="get-deployment-config")
    ssh_config = Nested(Override, data_key="ssh-config")
    get_deployment_stats = Nested(Override, data_key="get-deployment-stats")
    get_enabled_experiments = Nested(Override, data_key="get-enabled-experiments")
    get_safe_experiments = Nested(Override, data_key="get-safe-experiments")
    update_check = Nested(Override, data_key="update-check")
    get_token_config = Nested(Override, data_key="get-token-config")
