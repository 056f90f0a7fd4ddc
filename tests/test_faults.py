"""Fault rules through Flask's test client: scenario files, the admin API, matching, counts, draws and the journal.

Connection faults need a real socket; tests/test_faults_socket.py covers them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from coder_mock import openapi
from coder_mock.app import create_app
from coder_mock.catalog import Catalog, load_catalog
from coder_mock.faults import FaultBook, build_rule, format_duration
from coder_mock.store import Store

from conftest import OWNER_TOKEN
from openapi_helpers import check_response

JSON = "application/json; charset=utf-8"
FAULTS = "/__admin/faults"
BUILDINFO = "/api/v2/buildinfo"
UPDATECHECK = "/api/v2/updatecheck"
DEFAULT_VERSION = "v2.22.1+f724638"
DEFAULT_BUILDINFO_STATUS = 200


def put_faults(client: FlaskClient, rules: list[dict[str, Any]]) -> Any:
    return client.put(FAULTS, json={"faults": rules})


def journal_faults(client: FlaskClient) -> list[tuple[str, int, str]]:
    entries = client.get("/__admin/requests?path_prefix=/api/v2").get_json()["requests"]
    return [(entry["path"], entry["status"], entry["fault"]) for entry in entries]


def statuses(client: FlaskClient, path: str, times: int) -> list[int]:
    return [client.get(path).status_code for _ in range(times)]


# --- Durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"),
        (999, "999ns"),
        (1_500, "1.5µs"),
        (250_000_000, "250ms"),
        (1_500_000_000, "1.5s"),
        (2_000_000_000, "2s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (153_046_112, "153.046112ms"),
    ],
)
def test_format_duration_as_go(nanoseconds: int, text: str) -> None:
    assert format_duration(nanoseconds) == text


# --- Admin API: reading and changing rules ------------------------------------------------


def test_admin_lists_no_rules_by_default(client: FlaskClient) -> None:
    response = client.get(FAULTS)

    assert response.status_code == 200
    assert response.content_type == JSON
    assert response.get_json() == {"seed": 1, "faults": []}


def test_admin_put_replaces_rules(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "ssh-config", "delay": "1ms"}])

    response = put_faults(client, [
        {"operation": "build-info", "status": 503, "message": "Down.", "detail": "maintenance", "count": 2},
        {"operation": "all", "delay": {"min": "100ms", "max": "1.5s"}, "probability": 0.25},
        {"operation": "update-check", "connection": "truncate", "truncate_at": 5},
        {"operation": "ssh-config", "connection": "drip", "drip_bytes": 8, "drip_interval": "10ms"},
    ])

    assert response.status_code == 200
    assert response.get_json() == {"seed": 1, "faults": [
        {"operation": "build-info", "status": 503, "message": "Down.", "detail": "maintenance", "probability": 1,
         "count": 2, "applied": 0, "remaining": 2},
        {"operation": "all", "delay": {"min": "100ms", "max": "1.5s"}, "probability": 0.25, "applied": 0},
        {"operation": "update-check", "connection": "truncate", "truncate_at": 5, "probability": 1, "applied": 0},
        {"operation": "ssh-config", "connection": "drip", "drip_bytes": 8, "drip_interval": "10ms",
         "probability": 1, "applied": 0},
    ]}
    assert client.get(FAULTS).get_json() == response.get_json()


def test_admin_post_appends_rule(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "build-info", "delay": "2s"}])

    response = client.post(FAULTS, json={"operation": "all", "connection": "reset", "count": 1})

    assert response.status_code == 200
    assert response.get_json()["faults"] == [
        {"operation": "build-info", "delay": "2s", "probability": 1, "applied": 0},
        {"operation": "all", "connection": "reset", "probability": 1, "count": 1, "applied": 0, "remaining": 1},
    ]


def test_admin_delete_clears_rules(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "build-info", "status": 500}, {"operation": "all", "delay": "1ms"}])

    response = client.delete(FAULTS)

    assert response.status_code == 200
    assert response.get_json() == {"cleared": 2}
    assert client.get(FAULTS).get_json()["faults"] == []
    assert client.get(BUILDINFO).status_code == 200


INVALID_PUT_BODIES = [
    ("{", "Request body must be valid JSON.",
     'Expecting property name enclosed in double quotes: line 1 column 2 (char 1); send a body such as'
     ' {"faults": [{"operation": "all", "delay": "250ms"}]}.'),
    ("[]", 'Request body must be a JSON object such as {"faults": [{"operation": "all", "delay": "250ms"}]}.', None),
    ("{}", 'faults: missing: add "faults" with the list of rules, such as [{"operation": "all", "delay": "250ms"}],'
           " or [] for none.", None),
    ('{"faults": {}}', "faults: invalid value {}: expected a list.", None),
    ('{"faults": [{"delay": "1s"}]}', "faults[0].operation: missing: add this key with an operation ID.", None),
    ('{"faults": [{"operation": "buildinfo", "delay": "1s"}]}',
     'faults[0].operation: unknown operation "buildinfo": use Coder\'s operation ID, one of api-root-handler,'
     " build-info, report-csp-violations, get-deployment-config, ssh-config, get-deployment-stats,"
     ' get-enabled-experiments, get-safe-experiments, update-check, get-token-config, or "all" for every operation.',
     None),
    ('{"faults": [{"operation": "all", "delay": "fast"}]}',
     'faults[0].delay: invalid duration "fast": write a number and a unit (ns, us, ms, s, m or h), such as "250ms",'
     ' "2s" or "1m30s".', None),
    ('{"faults": [{"operation": "all", "delay": 250}]}',
     'faults[0].delay: invalid value 250: a duration needs a unit; write "250ms" for milliseconds or "250s" for'
     " seconds.", None),
    ('{"faults": [{"operation": "all", "delay": "-1s"}]}',
     'faults[0].delay: invalid duration "-1s": a delay cannot be negative; give 0s or more.', None),
    ('{"faults": [{"operation": "all", "delay": "2h"}]}',
     'faults[0].delay: invalid duration "2h": the maximum is 1h; give a shorter duration.', None),
    ('{"faults": [{"operation": "all", "delay": {"min": "2s", "max": "1s"}}]}',
     "faults[0].delay.max: invalid range: min is longer than max; swap them or make them equal.", None),
    ('{"faults": [{"operation": "all", "delay": {"min": "2s"}}]}',
     'faults[0].delay.max: missing: add this key with a duration with a unit, such as "250ms" or "2s".', None),
    ('{"faults": [{"operation": "all", "status": 200}]}',
     "faults[0].status: invalid status 200: a fault sends an error response, so use a status from 400 to 599.", None),
    ('{"faults": [{"operation": "all", "status": 503, "connection": "reset"}]}',
     'faults[0].connection: a rule sends either a "status" or a broken "connection", not both; split it into two'
     " rules.", None),
    ('{"faults": [{"operation": "all", "connection": "explode"}]}',
     'faults[0].connection: invalid value "explode": expected one of "reset", "empty", "truncate", "drip".', None),
    ('{"faults": [{"operation": "all", "delay": "1s", "message": "x"}]}',
     'faults[0].message: "message" belongs to a status fault; add "status" or remove "message".', None),
    ('{"faults": [{"operation": "all", "connection": "reset", "drip_bytes": 3}]}',
     'faults[0].drip_bytes: "drip_bytes" belongs to connection: drip; set connection to drip or remove'
     ' "drip_bytes".', None),
    ('{"faults": [{"operation": "all", "connection": "drip", "truncate_at": 3}]}',
     'faults[0].truncate_at: "truncate_at" belongs to connection: truncate; set connection to truncate or remove'
     ' "truncate_at".', None),
    ('{"faults": [{"operation": "all"}]}',
     'faults[0]: a rule does nothing without "delay", "status" or "connection"; add one of them.', None),
    ('{"faults": [{"operation": "all", "delay": "1s", "probabilty": 0.5}]}',
     'faults[0].probabilty: unknown key "probabilty": did you mean "probability"? Rename it.', None),
    ('{"faults": [{"operation": "all", "delay": "1s", "probability": 2}]}',
     "faults[0].probability: invalid value 2: a probability is from 0 to 1, such as 0.25 for one request in four.",
     None),
    ('{"faults": [{"operation": "all", "delay": "1s", "count": 0}]}', "faults[0].count: invalid value 0: expected 1 or more.",
     None),
]


@pytest.mark.parametrize(("body", "message", "detail"), INVALID_PUT_BODIES)
def test_admin_put_rejects_invalid_body(client: FlaskClient, body: str, message: str, detail: str | None) -> None:
    response = client.put(FAULTS, data=body)

    assert response.status_code == 400
    assert response.content_type == JSON
    expected = {"message": message}
    if detail is not None:
        expected["detail"] = detail
    assert response.get_json() == expected


def test_admin_put_lists_every_problem(client: FlaskClient) -> None:
    response = client.put(FAULTS, json={"faults": [{"operation": "nope", "delay": "fast"}, {"operation": "all"}]})

    assert response.status_code == 400
    body = response.get_json()
    assert body["message"].startswith('faults[0].operation: unknown operation "nope": ')
    assert body["detail"].split("\n") == [
        'faults[0].delay: invalid duration "fast": write a number and a unit (ns, us, ms, s, m or h), such as'
        ' "250ms", "2s" or "1m30s".',
        'faults[1]: a rule does nothing without "delay", "status" or "connection"; add one of them.',
    ]


def test_admin_rejected_change_keeps_rules(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "build-info", "status": 502}])

    assert put_faults(client, [{"operation": "all", "delay": "soon"}]).status_code == 400
    assert client.post(FAULTS, json={"operation": "all"}).status_code == 400

    assert client.get(FAULTS).get_json()["faults"] == [
        {"operation": "build-info", "status": 502, "probability": 1, "applied": 0},
    ]
    assert client.get(BUILDINFO).status_code == 502


def test_admin_post_rejects_invalid_rule(client: FlaskClient) -> None:
    response = client.post(FAULTS, json={"operation": "all"})

    assert response.status_code == 400
    assert response.get_json() == {
        "message": 'a rule does nothing without "delay", "status" or "connection"; add one of them.',
    }


def test_admin_post_names_invalid_field(client: FlaskClient) -> None:
    response = client.post(FAULTS, json={"operation": "all", "delay": {"min": "1s", "max": "fast"}})

    assert response.status_code == 400
    assert response.get_json() == {
        "message": 'delay.max: invalid duration "fast": write a number and a unit (ns, us, ms, s, m or h), such as'
                   ' "250ms", "2s" or "1m30s".',
    }


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build_document()


@pytest.mark.parametrize(
    ("method", "body", "status"),
    [
        ("GET", None, 200),
        ("PUT", '{"faults": [{"operation": "all", "delay": {"min": "1ms", "max": "2ms"}, "count": 3}]}', 200),
        ("PUT", '{"faults": [{"operation": "all"}]}', 400),
        ("POST", '{"operation": "build-info", "status": 503, "message": "Down."}', 200),
        ("POST", "[]", 400),
        ("DELETE", None, 200),
    ],
)
def test_admin_response_matches_document(app: Flask, client: FlaskClient, document: dict[str, Any], method: str,
                                         body: str | None, status: int) -> None:
    client.post(FAULTS, json={"operation": "ssh-config", "connection": "drip", "count": 2})

    response = client.open(FAULTS, method=method, data=body)

    assert response.status_code == status
    assert check_response(app, document, method, FAULTS, response, closed=True) == []


def test_admin_request_bodies_match_document(document: dict[str, Any]) -> None:
    put_schema = document["paths"][FAULTS]["put"]["requestBody"]["content"]["application/json"]["schema"]
    post_schema = document["paths"][FAULTS]["post"]["requestBody"]["content"]["application/json"]["schema"]

    assert put_schema == {"$ref": "#/components/schemas/FaultList"}
    assert post_schema == {"$ref": "#/components/schemas/FaultRule"}
    assert document["components"]["schemas"]["FaultRule"]["required"] == ["operation"]


# --- Status faults ----------------------------------------------------------------------------


def test_status_fault_sends_coder_envelope(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "build-info", "status": 503}])

    response = client.get(BUILDINFO)

    assert response.status_code == 503
    assert response.content_type == JSON
    assert response.get_data() == b'{"message":"Service Unavailable."}\n'
    assert response.headers["X-Coder-Build-Version"] == DEFAULT_VERSION
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("rule", "body"),
    [
        ({"status": 500}, b'{"message":"An internal server error occurred."}\n'),
        ({"status": 404}, b'{"message":"Resource not found or you do not have access to this resource"}\n'),
        ({"status": 502, "message": "Bad gateway.", "detail": "upstream closed"},
         b'{"message":"Bad gateway.","detail":"upstream closed"}\n'),
        ({"status": 500, "detail": "db down"}, b'{"message":"An internal server error occurred.","detail":"db down"}\n'),
    ],
)
def test_status_fault_texts(client: FlaskClient, rule: dict[str, Any], body: bytes) -> None:
    put_faults(client, [{"operation": "update-check", **rule}])

    response = client.get(UPDATECHECK)

    assert response.status_code == rule["status"]
    assert response.get_data() == body


def test_status_fault_before_authentication(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "get-deployment-config", "status": 503}])

    response = client.get("/api/v2/deployment/config")

    assert response.status_code == 503


def test_status_fault_wins_over_override(tmp_path: Path) -> None:
    (tmp_path / "both.yaml").write_text(
        "extends: default\ndescription: An override and a fault on one operation.\n"
        "overrides:\n  build-info: {status: 500}\n"
        "faults:\n  - {operation: build-info, status: 503, count: 1}\n"
    )
    client = create_app(Store(load_catalog([tmp_path]), "both"), quiet=True).test_client()

    assert statuses(client, BUILDINFO, 2) == [503, 500]


# --- Matching, order, count and probability -----------------------------------------------


def test_all_matches_every_operation(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "all", "status": 503}])

    for path in ("/api/v2/", "/api/v2", BUILDINFO, UPDATECHECK, "/api/v2/deployment/ssh",
                 "/api/v2/users/me/keys/tokens/tokenconfig"):
        assert client.get(path).status_code == 503, path
    assert client.post("/api/v2/csp/reports", data=b"{}").status_code == 503


def test_faults_skip_paths_outside_operations(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "all", "status": 503}])

    assert client.get("/api/v2/no-such-route").status_code == 404
    assert client.get("/__admin/health").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get(FAULTS).get_json()["faults"][0]["applied"] == 0


def test_rule_for_other_operation_does_not_match(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "update-check", "status": 503}])

    assert client.get(BUILDINFO).status_code == 200


def test_first_matching_rule_applies(client: FlaskClient) -> None:
    put_faults(client, [
        {"operation": "build-info", "status": 502, "count": 1},
        {"operation": "all", "status": 503},
    ])

    assert statuses(client, BUILDINFO, 3) == [502, 503, 503]
    assert client.get(UPDATECHECK).status_code == 503


def test_count_fails_next_calls_only(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "build-info", "status": 503, "count": 2}])

    assert statuses(client, BUILDINFO, 4) == [503, 503, 200, 200]
    assert client.get(FAULTS).get_json()["faults"] == [
        {"operation": "build-info", "status": 503, "probability": 1, "count": 2, "applied": 2, "remaining": 0},
    ]


def test_count_counts_only_matching_requests(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "build-info", "status": 503, "count": 1}])

    assert client.get(UPDATECHECK).status_code == 200
    assert client.get(BUILDINFO).status_code == 503
    assert client.get(BUILDINFO).status_code == 200


def test_probability_zero_never_applies(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "build-info", "status": 503, "probability": 0}])

    assert set(statuses(client, BUILDINFO, 20)) == {200}


def draws(seed: int, probability: float, times: int) -> list[int]:
    """Return the statuses of `times` build-info calls in a fresh server whose scenario has `seed`."""
    store = Store(load_catalog(), "default", seed=seed)
    client = create_app(store, quiet=True).test_client()
    put_faults(client, [{"operation": "build-info", "status": 503, "probability": probability}])
    return statuses(client, BUILDINFO, times)


def test_probability_draws_repeat_for_seed() -> None:
    first = draws(7, 0.5, 40)

    assert first == draws(7, 0.5, 40)
    assert set(first) == {200, 503}
    assert first != draws(8, 0.5, 40)


def test_probability_with_count_counts_applied_only(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "build-info", "status": 503, "probability": 0.5, "count": 3}])

    observed = statuses(client, BUILDINFO, 40)

    assert observed.count(503) == 3
    assert client.get(FAULTS).get_json()["faults"][0]["remaining"] == 0


def test_book_draws_repeat_in_new_book() -> None:
    rule = build_rule({"operation": "all", "delay": (1_000_000, 2_000_000_000), "probability": 0.5})

    def run() -> list[int | None]:
        book = FaultBook([rule], seed=3)
        return [None if fault is None else fault.delay for fault in (book.take("build-info") for _ in range(30))]

    first = run()
    assert first == run()
    delays = [delay for delay in first if delay is not None]
    assert delays
    assert all(1_000_000 <= delay <= 2_000_000_000 for delay in delays)
    assert None in first


def test_rule_draws_independent_of_other_rules() -> None:
    flaky = build_rule({"operation": "update-check", "status": 503, "probability": 0.5})
    other = build_rule({"operation": "build-info", "status": 500, "probability": 0.5})

    alone = FaultBook([other, flaky], seed=1)
    mixed = FaultBook([other, flaky], seed=1)
    pattern_alone = [alone.take("update-check") is not None for _ in range(20)]
    pattern_mixed = []
    for _ in range(20):
        mixed.take("build-info")
        pattern_mixed.append(mixed.take("update-check") is not None)

    assert pattern_alone == pattern_mixed


# --- Delays -----------------------------------------------------------------------------------


def test_fixed_delay_waits_and_is_journaled(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "build-info", "delay": "50ms"}])

    started = time.monotonic()
    response = client.get(BUILDINFO)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    # A lower bound only: the sleep guarantees it, whatever the machine's speed.
    assert elapsed >= 0.05
    assert journal_faults(client) == [(BUILDINFO, 200, "delay 50ms")]


def test_random_delay_within_range(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "update-check", "delay": {"min": "1ms", "max": "20ms"}}])

    for _ in range(5):
        client.get(UPDATECHECK)

    recorded = [fault for _, _, fault in journal_faults(client)]
    assert len(recorded) == 5
    for text in recorded:
        assert text.startswith("delay "), text
        assert text.endswith("ms"), text
        assert 1 <= float(text.removeprefix("delay ").removesuffix("ms")) <= 20, text


def test_delay_with_status_journaled(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "build-info", "delay": "1ms", "status": 504}])

    assert client.get(BUILDINFO).status_code == 504
    assert journal_faults(client) == [(BUILDINFO, 504, "delay 1ms, status 504")]


def test_journal_fault_empty_without_rule(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "update-check", "status": 503}])

    client.get(BUILDINFO)
    client.get(UPDATECHECK)

    assert journal_faults(client) == [(BUILDINFO, 200, ""), (UPDATECHECK, 503, "status 503")]


def test_connection_fault_without_server_sends_response(client: FlaskClient) -> None:
    # Flask's test client has no connection to break, so the response arrives whole.
    put_faults(client, [{"operation": "build-info", "connection": "reset"}])
    normal = create_app(Store(load_catalog(), "default"), quiet=True).test_client().get(BUILDINFO)

    response = client.get(BUILDINFO)

    assert response.status_code == 200
    assert response.get_data() == normal.get_data()
    assert journal_faults(client) == [(BUILDINFO, 200, "reset")]


# --- Scenario files and switching ---------------------------------------------------------


def write_scenario(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)


def test_scenario_faults_load(tmp_path: Path) -> None:
    write_scenario(tmp_path, "slow", (
        "extends: default\ndescription: Slow build info.\nseed: 5\n"
        "faults:\n"
        "  - operation: build-info\n    delay: {min: 100ms, max: 2s}\n"
        "  - operation: all\n    status: 503\n    message: Down for maintenance.\n    count: 2\n    probability: 0.5\n"
    ))
    store = Store(load_catalog([tmp_path]), "slow")

    assert store.faults.seed == 5
    assert store.faults.states() == [
        {"operation": "build-info", "delay": {"min": "100ms", "max": "2s"}, "probability": 1.0, "applied": 0},
        {"operation": "all", "status": 503, "message": "Down for maintenance.", "probability": 0.5, "count": 2,
         "applied": 0, "remaining": 2},
    ]


@pytest.mark.parametrize(
    ("faults", "problem"),
    [
        ("  - operation: build-info\n    delay: 250\n",
         'faults[0].delay: invalid value 250: a duration needs a unit; write "250ms" for milliseconds or "250s" for'
         " seconds."),
        ("  - operation: build_info\n    status: 503\n",
         'faults[0].operation: unknown operation "build_info": use Coder\'s operation ID, one of api-root-handler,'
         " build-info, report-csp-violations, get-deployment-config, ssh-config, get-deployment-stats,"
         ' get-enabled-experiments, get-safe-experiments, update-check, get-token-config, or "all" for every'
         " operation."),
        ("  - operation: all\n    connection: drop\n",
         'faults[0].connection: invalid value "drop": expected one of "reset", "empty", "truncate", "drip".'),
        ("  operation: all\n", 'faults: invalid value {"operation": "all"}: expected a list.'),
    ],
)
def test_scenario_rejects_invalid_faults(tmp_path: Path, faults: str, problem: str) -> None:
    write_scenario(tmp_path, "broken", f"extends: default\ndescription: Broken faults.\nfaults:\n{faults}")

    catalog = load_catalog([tmp_path])

    assert "broken" not in catalog.entries
    assert catalog.rejected["broken"] == [f"{tmp_path / 'broken.yaml'}: {problem}"]


def test_extending_scenario_replaces_faults(tmp_path: Path) -> None:
    write_scenario(tmp_path, "parent", (
        "extends: default\ndescription: Parent.\nfaults:\n  - {operation: build-info, status: 500}\n"
        "  - {operation: all, delay: 1s}\n"
    ))
    write_scenario(tmp_path, "child", "extends: parent\ndescription: Child.\nfaults:\n  - {operation: ssh-config, status: 503}\n")
    write_scenario(tmp_path, "heir", "extends: parent\ndescription: Heir.\n")
    catalog = load_catalog([tmp_path])

    assert [rule.operation for rule in catalog.rendered("child").faults] == ["ssh-config"]
    assert [rule.operation for rule in catalog.rendered("heir").faults] == ["build-info", "all"]


def test_switch_replaces_rules_with_scenario_faults(client: FlaskClient) -> None:
    put_faults(client, [{"operation": "update-check", "status": 503}])

    client.put("/__admin/scenario", json={"name": "flaky"})
    flaky = client.get(FAULTS).get_json()
    client.put("/__admin/scenario", json={"name": "outdated"})
    outdated = client.get(FAULTS).get_json()

    assert [rule["operation"] for rule in flaky["faults"]] == [
        "get-deployment-config", "update-check", "get-deployment-stats", "ssh-config", "build-info"]
    assert flaky["seed"] == 1
    assert outdated == {"seed": 1, "faults": []}


def test_switch_seed_seeds_draws(client: FlaskClient) -> None:
    client.put("/__admin/scenario", json={"name": "flaky", "seed": 42})

    assert client.get(FAULTS).get_json()["seed"] == 42


def test_reset_restores_starting_rules(catalog: Catalog) -> None:
    client = create_app(Store(catalog, "flaky"), quiet=True).test_client()
    client.delete(FAULTS)
    client.put("/__admin/scenario", json={"name": "default"})

    client.post("/__admin/reset")

    assert len(client.get(FAULTS).get_json()["faults"]) == 5


def test_switch_restarts_counts(client: FlaskClient, catalog: Catalog) -> None:
    client.put("/__admin/scenario", json={"name": "flaky"})
    states = client.get(FAULTS).get_json()["faults"]
    assert states[3] == {"operation": "ssh-config", "connection": "empty", "probability": 1, "count": 1,
                         "applied": 0, "remaining": 1}

    client.get("/api/v2/deployment/ssh", headers={"Coder-Session-Token": OWNER_TOKEN})
    assert client.get(FAULTS).get_json()["faults"][3]["remaining"] == 0
    client.put("/__admin/scenario", json={"name": "flaky"})

    assert client.get(FAULTS).get_json()["faults"][3]["remaining"] == 1


def test_flaky_scenario_description(catalog: Catalog) -> None:
    assert catalog.entries["flaky"].description == (
        "A healthy deployment behind an unreliable network, with slow answers, resets and cut-off bodies."
    )


# --- Sessions ---------------------------------------------------------------------------------


def new_session(client: FlaskClient, scenario: str = "default", seed: int | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"scenario": scenario}
    if seed is not None:
        body["seed"] = seed
    response = client.post("/__admin/sessions", json=body)
    assert response.status_code == 201
    return {"Coder-Mock-Session": response.get_json()["id"]}


def test_session_header_uses_own_book(client: FlaskClient) -> None:
    session = new_session(client)
    client.put(FAULTS, json={"faults": [{"operation": "build-info", "status": 503}]}, headers=session)

    assert client.get(FAULTS).get_json()["faults"] == []
    assert json.loads(client.get(FAULTS, headers=session).get_data())["faults"][0]["status"] == 503
    assert client.get(BUILDINFO, headers=session).status_code == 503
    # Requests that belong to no session use the global book.
    assert client.get(BUILDINFO).status_code == 200


def test_session_book_starts_from_session_scenario(client: FlaskClient) -> None:
    session = new_session(client, "flaky", seed=9)

    listed = client.get(FAULTS, headers=session).get_json()

    assert listed["seed"] == 9
    assert len(listed["faults"]) == 5
    assert client.get(FAULTS).get_json()["faults"] == []


def test_session_switch_restarts_its_rules(client: FlaskClient) -> None:
    session = new_session(client, "flaky")
    client.delete(FAULTS, headers=session)

    client.put("/__admin/scenario", json={"name": "flaky"}, headers=session)

    assert len(client.get(FAULTS, headers=session).get_json()["faults"]) == 5


def test_ended_session_loses_its_rules(client: FlaskClient, store: Store) -> None:
    session = new_session(client)
    client.post(FAULTS, json={"operation": "build-info", "status": 503}, headers=session)

    client.delete("/__admin/sessions/" + session["Coder-Mock-Session"])

    assert store.faults._sessions == {}


def test_unknown_session_gets_404(client: FlaskClient) -> None:
    for method in ("GET", "PUT", "POST", "DELETE"):
        response = client.open(FAULTS, method=method, json={"faults": []}, headers={"Coder-Mock-Session": "nope"})
        assert response.status_code == 404, method
        assert response.get_json() == {
            "message": 'Unknown coder-mock session "nope".',
            "detail": "No session has this id: it was never created, was ended, or sat idle too long. Create one"
                      " with POST /__admin/sessions and send its id in the Coder-Mock-Session header, or leave"
                      " the header out.",
        }, method


def test_has_rules_counts_spent_rules(client: FlaskClient, store: Store) -> None:
    assert store.faults.has_rules() is False

    client.post(FAULTS, json={"operation": "build-info", "status": 503, "count": 1})
    client.get(BUILDINFO)

    assert store.faults.has_rules() is True
    client.delete(FAULTS)
    assert store.faults.has_rules() is False
