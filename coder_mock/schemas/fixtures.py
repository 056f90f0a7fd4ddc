"""The schema of each fixture kind, which a scenario's `fixtures` names."""

from __future__ import annotations

from marshmallow import Schema

from coder_mock.schemas.deployment_values import DeploymentValues
from coder_mock.schemas.fields import CoderSchema, Nested
from coder_mock.schemas.general import BuildInfoResponse, DeploymentStats, SSHConfigResponse


class DeploymentConfigFixture(CoderSchema):
    """A deployment-config fixture: the config only; coder-mock derives the option list from it."""

    config = Nested(DeploymentValues)


FIXTURE_SCHEMAS: dict[str, type[Schema]] = {
    "buildinfo": BuildInfoResponse,
    "deployment-config": DeploymentConfigFixture,
    "deployment-ssh": SSHConfigResponse,
    "deployment-stats": DeploymentStats,
}
