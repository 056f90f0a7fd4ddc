"""Schemas of the admin API under /__admin/, coder-mock's own endpoints.

These are not Coder types. They describe the bodies that `coder_mock.admin`
reads and writes, so that the OpenAPI document can list them. The admin
handlers build their bodies by hand, and tests/test_openapi.py checks each
response against these schemas.
"""

from __future__ import annotations

from marshmallow import validate

from coder_mock.schemas.fields import (
    AnyMap,
    Bool,
    CoderSchema,
    Enum,
    Int,
    NestedList,
    SemVer,
    String,
    StringList,
    StringMap,
    Timestamp,
    UUID,
)
from coder_mock.schemas.faults import FaultRule
from coder_mock.schemas.scenario import NAME_PATTERN


class AdminSchema(CoderSchema):
    """Base of the admin API schemas.

    Python's json module writes the admin bodies, and the handlers always pass
    lists, so a list field is never null here as a nil Go slice would be.
    """

    sends_null_collections = False


class AdminHealth(AdminSchema):
    """The body of GET /__admin/health."""

    status = String()
    scenario = String()
    instance_id = UUID()


class AdminScenario(AdminSchema):
    """The live scenario, sent by GET and PUT /__admin/scenario and POST /__admin/reset."""

    name = String()
    seed = Int()
    profile = Enum("wire", "reference")
    description = String()
    version = SemVer()


class AdminScenarioEntry(AdminSchema):
    """One loadable scenario in the list of GET /__admin/scenarios."""

    name = String()
    description = String()
    active = Bool()
    builtin = Bool()
    source = String()


class AdminRejectedScenario(AdminSchema):
    """A scenario file that failed to load, with one line per problem."""

    name = String()
    problems = StringList()


class AdminScenarioList(AdminSchema):
    """The body of GET /__admin/scenarios."""

    scenarios = NestedList(AdminScenarioEntry)
    rejected = NestedList(AdminRejectedScenario)


class AdminScenarioSwitch(AdminSchema):
    """The request body of PUT /__admin/scenario.

    Without `seed`, the scenario's own seed is used; without `profile`, the current choice stays.
    """

    name = String(required=True, validate=validate.Regexp(NAME_PATTERN))
    seed = Int(metadata={"omitempty": True})
    profile = Enum("wire", "reference", metadata={"omitempty": True})


class AdminJournalEntry(AdminSchema):
    """One request in the journal, with session tokens and cookie values replaced by [REDACTED]."""

    time = Timestamp()
    method = String()
    path = String()
    # Each query parameter maps to the list of its values.
    query = AnyMap()
    # True when the query parameters exceeded journal.QUERY_LIMIT characters, so later values are cut or missing.
    query_truncated = Bool()
    headers = StringMap()
    # True when the headers exceeded journal.HEADERS_LIMIT characters, so later headers are cut or missing.
    headers_truncated = Bool()
    body = String()
    body_truncated = Bool()
    status = Int()
    operation = String()
    scenario = String()
    # The session the request belonged to, or null for the global scope.
    session = String(allow_none=True)
    # The fault rule applied, such as "delay 250ms, reset", or "".
    fault = String()


class AdminJournal(AdminSchema):
    """The body of GET /__admin/requests: the journal's size and the matching requests, oldest first."""

    size = Int()
    requests = NestedList(AdminJournalEntry)


class AdminJournalCount(AdminSchema):
    """The body of GET /__admin/requests/count."""

    count = Int()


class AdminJournalCleared(AdminSchema):
    """The body of DELETE /__admin/requests: how many entries were removed."""

    cleared = Int()


class AdminError(AdminSchema):
    """An admin API error, in the shape of coderd's {"message", "detail"} envelope.

    `available` lists the scenario names when a switch names a bad one, and
    `endpoints` lists the admin calls when a path matches none.
    """

    message = String()
    detail = String(metadata={"omitempty": True})
    available = StringList(metadata={"omitempty": True})
    endpoints = StringList(metadata={"omitempty": True})


# --- Fault rules (/__admin/faults) ------------------------------------------------------


class AdminFaultState(FaultRule, AdminSchema):
    """A live fault rule: the rule as given, how many requests it applied to, and how many calls it has left."""

    applied = Int()
    remaining = Int(metadata={"omitempty": True})


class AdminFaultList(AdminSchema):
    """The body of GET, PUT and POST /__admin/faults: the seed of the draws and the rules in the order they are tried."""

    seed = Int()
    faults = NestedList(AdminFaultState)


class AdminFaultsCleared(AdminSchema):
    """The body of DELETE /__admin/faults: how many rules were removed."""

    cleared = Int()


# --- Sessions (/__admin/sessions) ------------------------------------------------------


class AdminSessionToken(AdminSchema):
    """A session token issued for one user of the session's scenario."""

    username = String()
    roles = StringList()
    token = String()


class AdminSession(AdminSchema):
    """A session: its id, its live scenario, when it started and was last used, and its tokens."""

    id = String()
    scenario = String(validate=validate.Regexp(NAME_PATTERN))
    seed = Int()
    profile = Enum("wire", "reference")
    created_at = Timestamp()
    last_used_at = Timestamp()
    tokens = NestedList(AdminSessionToken)


class AdminSessionList(AdminSchema):
    """The body of GET /__admin/sessions: every live session, oldest first."""

    sessions = NestedList(AdminSession)


class AdminSessionCreate(AdminSchema):
    """The request body of POST /__admin/sessions, checked as PUT /__admin/scenario checks its body."""

    scenario = String(required=True, validate=validate.Regexp(NAME_PATTERN))
    seed = Int(metadata={"omitempty": True})
    profile = Enum("wire", "reference", metadata={"omitempty": True})
