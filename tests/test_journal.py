"""The request journal and its admin API: recording, filters, redaction, the ring bound and clearing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from coder_mock.app import create_app
from coder_mock.catalog import Catalog
from coder_mock.journal import BODY_LIMIT, REDACTED
from coder_mock.store import Store

from conftest import MEMBER_TOKEN, OWNER_TOKEN

TIME_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
CSP_REPORT = b'{"csp-report": {"document-uri": "https://coder.example.com/", "blocked-uri": "inline"}}'


def recorded(client: FlaskClient, query: str = "") -> list[dict[str, Any]]:
    response = client.get("/__admin/requests" + query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["requests"]


def send_mixed_traffic(client: FlaskClient) -> None:
    """Send five requests with different methods, paths, statuses and operations."""
    client.get("/api/v2/buildinfo")
    client.get("/api/v2/deployment/ssh", headers={"Coder-Session-Token": MEMBER_TOKEN})
    client.get("/api/v2/nope")
    client.post("/api/v2/csp/reports", data=CSP_REPORT)
    client.get("/__admin/scenario")


# --- recording -----------------------------------------------------------------


def test_entry_fields(client: FlaskClient) -> None:
    client.get("/api/v2/buildinfo?a=1&a=2&b=x", headers={"X-Trace": "abc"})

    [entry] = recorded(client)
    assert list(entry) == ["time", "method", "path", "query", "query_truncated", "headers", "headers_truncated",
                           "body", "body_truncated", "status", "operation", "scenario", "session", "fault"]
    assert TIME_PATTERN.match(entry["time"])
    assert entry["method"] == "GET"
    assert entry["path"] == "/api/v2/buildinfo"
    assert entry["query"] == {"a": ["1", "2"], "b": ["x"]}
    assert entry["headers"]["X-Trace"] == "abc"
    assert entry["body"] == ""
    assert entry["body_truncated"] is False
    assert entry["query_truncated"] is False
    assert entry["headers_truncated"] is False
    assert entry["status"] == 200
    assert entry["operation"] == "build-info"
    assert entry["scenario"] == "default"
    assert entry["session"] is None


def test_entries_newest_last(client: FlaskClient) -> None:
    send_mixed_traffic(client)

    entries = recorded(client)

    assert [(entry["method"], entry["path"], entry["status"], entry["operation"]) for entry in entries] == [
        ("GET", "/api/v2/buildinfo", 200, "build-info"),
        ("GET", "/api/v2/deployment/ssh", 200, "ssh-config"),
        ("GET", "/api/v2/nope", 404, "unmatched"),
        ("POST", "/api/v2/csp/reports", 200, "report-csp-violations"),
        ("GET", "/__admin/scenario", 200, "admin"),
    ]
    assert [entry["time"] for entry in entries] == sorted(entry["time"] for entry in entries)


def test_operation_of_other_paths(client: FlaskClient) -> None:
    client.get("/healthz")
    client.get("/")
    client.head("/api/v2/buildinfo")

    entries = recorded(client)

    assert [(entry["path"], entry["status"], entry["operation"]) for entry in entries] == [
        ("/healthz", 200, "site"),
        ("/", 200, "site"),
        ("/api/v2/buildinfo", 405, "unmatched"),
    ]


def test_scenario_of_switch_is_new_one(client: FlaskClient) -> None:
    client.put("/__admin/scenario", json={"name": "minimal"})
    client.get("/api/v2/buildinfo")

    assert [entry["scenario"] for entry in recorded(client)] == ["minimal", "minimal"]


def test_csp_report_body_recorded(client: FlaskClient) -> None:
    client.post("/api/v2/csp/reports", data=CSP_REPORT, content_type="application/csp-report")

    [entry] = recorded(client, "?operation=report-csp-violations")
    assert entry["body"] == CSP_REPORT.decode()
    assert entry["body_truncated"] is False
    assert entry["headers"]["Content-Type"] == "application/csp-report"
    assert entry["status"] == 200


def test_rejected_csp_report_recorded(client: FlaskClient) -> None:
    client.post("/api/v2/csp/reports", data=b"not json")

    [entry] = recorded(client)
    assert entry["body"] == "not json"
    assert entry["status"] == 400


def test_body_truncated_at_limit(client: FlaskClient) -> None:
    body = b"a" * (BODY_LIMIT - 1) + b"bc"

    client.put("/__admin/scenario", data=body)

    [entry] = recorded(client)
    assert entry["body"] == "a" * (BODY_LIMIT - 1) + "b"
    assert entry["body_truncated"] is True
    assert entry["status"] == 400


def test_body_at_limit_not_truncated(client: FlaskClient) -> None:
    client.put("/__admin/scenario", data=b"x" * BODY_LIMIT)

    [entry] = recorded(client)
    assert entry["body"] == "x" * BODY_LIMIT
    assert entry["body_truncated"] is False


def test_body_decoded_with_replacement(client: FlaskClient) -> None:
    client.put("/__admin/scenario", data=b'{"name": "\xff"}')

    [entry] = recorded(client)
    assert entry["body"] == '{"name": "\ufffd"}'


def test_unread_body_marked_truncated(client: FlaskClient) -> None:
    # The journal keeps only the bytes a handler reads, and an unknown route reads none.
    client.post("/api/v2/nope", data=b"ignored")

    [entry] = recorded(client)
    assert entry["body"] == ""
    assert entry["body_truncated"] is True


def test_journal_requests_not_recorded(client: FlaskClient) -> None:
    client.get("/__admin/requests")
    client.get("/__admin/requests/count")
    client.delete("/__admin/requests")
    client.get("/__admin/requests/nope")

    assert recorded(client) == []


# --- redaction -------------------------------------------------------------------


def token_free_client(app: Flask) -> FlaskClient:
    """A client without a cookie jar, so that a Cookie header given per request is sent as is."""
    return app.test_client(use_cookies=False)


@pytest.mark.parametrize(
    ("headers", "query", "expected_headers", "expected_query"),
    [
        ({"Coder-Session-Token": OWNER_TOKEN}, "", {"Coder-Session-Token": REDACTED}, {}),
        ({"Authorization": f"Bearer {OWNER_TOKEN}"}, "", {"Authorization": f"Bearer {REDACTED}"}, {}),
        ({"Authorization": OWNER_TOKEN}, "", {"Authorization": REDACTED}, {}),
        ({"Cookie": f"coder_session_token={OWNER_TOKEN}; theme=dark"}, "",
         {"Cookie": f"coder_session_token={REDACTED}; theme={REDACTED}"}, {}),
        ({}, f"?coder_session_token={OWNER_TOKEN}", {}, {"coder_session_token": [REDACTED]}),
        ({}, f"?access_token={OWNER_TOKEN}&x=1", {}, {"access_token": [REDACTED], "x": ["1"]}),
    ],
    ids=["header", "bearer", "authorization-without-scheme", "cookie", "query-session-token", "query-access-token"],
)
def test_tokens_redacted(app: Flask, client: FlaskClient, headers: dict[str, str], query: str,
                         expected_headers: dict[str, str], expected_query: dict[str, list[str]]) -> None:
    response = token_free_client(app).get("/api/v2/deployment/config" + query, headers=headers)

    response_text = client.get("/__admin/requests").get_data(as_text=True)
    [entry] = recorded(client)
    # A token with no scheme word is not a bearer token, so coderd rejects it.
    assert response.status_code == (401 if expected_headers == {"Authorization": REDACTED} else 200)
    assert OWNER_TOKEN not in response_text
    assert entry["query"] == expected_query
    for name, value in expected_headers.items():
        assert entry["headers"][name] == value
    assert entry["status"] == response.status_code


def test_token_not_logged(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    app.config["CODER_MOCK_QUIET"] = False
    client = token_free_client(app)

    with caplog.at_level("DEBUG", logger="coder_mock"):
        client.get(f"/api/v2/buildinfo?coder_session_token={OWNER_TOKEN}&access_token={OWNER_TOKEN}",
                   headers={"Coder-Session-Token": OWNER_TOKEN, "Authorization": f"Bearer {OWNER_TOKEN}",
                            "Cookie": f"coder_session_token={OWNER_TOKEN}"})
        client.get("/__admin/requests")

    assert caplog.records != []
    assert OWNER_TOKEN not in caplog.text


# --- filters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected_paths"),
    [
        ("?method=POST", ["/api/v2/csp/reports"]),
        ("?method=post", ["/api/v2/csp/reports"]),
        ("?path=/api/v2/buildinfo", ["/api/v2/buildinfo"]),
        ("?path=/api/v2", []),
        ("?path_prefix=/api/v2/", ["/api/v2/buildinfo", "/api/v2/deployment/ssh", "/api/v2/nope",
                                   "/api/v2/csp/reports"]),
        ("?path_prefix=/__admin", ["/__admin/scenario"]),
        ("?status=404", ["/api/v2/nope"]),
        ("?status=200", ["/api/v2/buildinfo", "/api/v2/deployment/ssh", "/api/v2/csp/reports", "/__admin/scenario"]),
        ("?operation=ssh-config", ["/api/v2/deployment/ssh"]),
        ("?operation=admin", ["/__admin/scenario"]),
        ("?unmatched=true", ["/api/v2/nope"]),
        ("?unmatched=false", ["/api/v2/buildinfo", "/api/v2/deployment/ssh", "/api/v2/csp/reports",
                              "/__admin/scenario"]),
        ("?limit=2", ["/api/v2/csp/reports", "/__admin/scenario"]),
        ("?limit=100", ["/api/v2/buildinfo", "/api/v2/deployment/ssh", "/api/v2/nope", "/api/v2/csp/reports",
                        "/__admin/scenario"]),
        ("?path_prefix=/api/v2/&status=200&limit=1", ["/api/v2/csp/reports"]),
        ("?since=2000-01-01T00:00:00Z", ["/api/v2/buildinfo", "/api/v2/deployment/ssh", "/api/v2/nope",
                                         "/api/v2/csp/reports", "/__admin/scenario"]),
        ("?since=9999-01-01T00:00:00%2B02:00", []),
    ],
)
def test_filter(client: FlaskClient, query: str, expected_paths: list[str]) -> None:
    send_mixed_traffic(client)

    assert [entry["path"] for entry in recorded(client, query)] == expected_paths
    assert client.get("/__admin/requests/count" + query).get_json() == {"count": len(expected_paths)}


def test_unmatched_finds_unknown_route(client: FlaskClient) -> None:
    client.get("/api/v2/buildinfo")
    client.get("/api/v2/nope")

    [entry] = recorded(client, "?unmatched=true")
    assert entry["method"] == "GET"
    assert entry["path"] == "/api/v2/nope"
    assert entry["status"] == 404
    assert entry["operation"] == "unmatched"


def test_since_includes_entry_time(client: FlaskClient) -> None:
    send_mixed_traffic(client)
    entries = recorded(client)
    since = entries[2]["time"]

    found = recorded(client, f"?since={since}")

    assert found == [entry for entry in entries if entry["time"] >= since]
    assert found[0]["time"] <= entries[2]["time"]
    assert entries[2] in found


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?verb=GET", 'Unknown query parameter "verb": use one of method, path, path_prefix, status, operation,'
                      " unmatched, session, since, limit."),
        ("?status=200&status=404", 'Query parameter "status" is given 2 times: give it once.'),
        ("?method=G%20T", 'Invalid "method" "G T": give an HTTP method such as GET.'),
        ("?method=", 'Invalid "method" "": give an HTTP method such as GET.'),
        ("?path=api/v2", 'Invalid "path" "api/v2": give a path starting with "/", such as /api/v2/buildinfo.'),
        ("?path_prefix=x", 'Invalid "path_prefix" "x": give a path starting with "/", such as /api/v2/buildinfo.'),
        ("?status=ok", 'Invalid "status" "ok": give an HTTP status code from 100 to 599.'),
        ("?status=99", 'Invalid "status" "99": give an HTTP status code from 100 to 599.'),
        ("?status=600", 'Invalid "status" "600": give an HTTP status code from 100 to 599.'),
        ("?status=-1", 'Invalid "status" "-1": give an HTTP status code from 100 to 599.'),
        ("?operation=", 'Invalid "operation": give an operation ID such as build-info, or leave it out.'),
        ("?unmatched=yes", 'Invalid "unmatched" "yes": use true or false.'),
        ("?since=yesterday", 'Invalid "since" "yesterday": give an RFC 3339 time such as 2024-05-01T12:00:00Z.'),
        ("?since=2024-05-01T12:00:00", 'Invalid "since" "2024-05-01T12:00:00": give an RFC 3339 time such as'
                                       " 2024-05-01T12:00:00Z."),
        ("?since=2024-02-30T12:00:00Z", 'Invalid "since" "2024-02-30T12:00:00Z": the date or time is out of range;'
                                        " give an RFC 3339 time such as 2024-05-01T12:00:00Z."),
        ("?session=", 'Invalid "session" "": give a session id from GET /__admin/sessions, or leave it out.'),
        ("?limit=0", 'Invalid "limit" "0": give a positive integer.'),
        ("?limit=1.5", 'Invalid "limit" "1.5": give a positive integer.'),
        ("?limit=%D9%A3", 'Invalid "limit" "\\u0663": give a positive integer.'),
    ],
)
@pytest.mark.parametrize("endpoint", ["/__admin/requests", "/__admin/requests/count"])
def test_bad_filter_rejected(client: FlaskClient, endpoint: str, query: str, message: str) -> None:
    response = client.get(endpoint + query)

    assert response.status_code == 400
    assert response.content_type == "application/json; charset=utf-8"
    assert response.get_json() == {"message": message}


# --- size, clearing and reset ------------------------------------------------------


def test_ring_drops_oldest(catalog: Catalog) -> None:
    store = Store(catalog, "default", journal_size=3)
    client = create_app(store, quiet=True).test_client()

    for number in range(7):
        client.get(f"/api/v2/nope{number}")

    assert len(store.journal) == 3
    assert [entry["path"] for entry in recorded(client)] == ["/api/v2/nope4", "/api/v2/nope5", "/api/v2/nope6"]
    assert client.get("/__admin/requests").get_json()["size"] == 3


def test_size_zero_disables(catalog: Catalog) -> None:
    store = Store(catalog, "default", journal_size=0)
    client = create_app(store, quiet=True).test_client()

    send_mixed_traffic(client)

    assert len(store.journal) == 0
    assert client.get("/__admin/requests").get_json() == {"size": 0, "requests": []}
    assert client.get("/__admin/requests/count").get_json() == {"count": 0}


def test_negative_size_rejected(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="journal size must be 0 or more, not -1"):
        Store(catalog, "default", journal_size=-1)


def test_delete_clears(client: FlaskClient) -> None:
    send_mixed_traffic(client)

    first = client.delete("/__admin/requests")
    second = client.delete("/__admin/requests")

    assert first.status_code == 200
    assert first.get_json() == {"cleared": 5}
    assert second.get_json() == {"cleared": 0}
    assert recorded(client) == []


def test_reset_keeps_journal(client: FlaskClient) -> None:
    client.get("/api/v2/buildinfo")

    client.post("/__admin/reset")

    assert [entry["path"] for entry in recorded(client)] == ["/api/v2/buildinfo", "/__admin/reset"]


def test_count_without_filters(client: FlaskClient) -> None:
    send_mixed_traffic(client)

    response = client.get("/__admin/requests/count")

    assert response.status_code == 200
    assert response.get_json() == {"count": 5}


def test_wrong_method_lists_endpoints(client: FlaskClient) -> None:
    response = client.post("/__admin/requests")

    assert response.status_code == 405
    assert response.headers["Allow"] == "DELETE, GET"


# --- responses are the same with the journal on and off -------------------------------


IDENTICAL_REQUESTS: list[tuple[str, str, dict[str, str], bytes | None]] = [
    ("GET", "/api/v2/buildinfo", {}, None),
    ("GET", "/api/v2/deployment/config", {"Coder-Session-Token": OWNER_TOKEN}, None),
    ("GET", "/api/v2/deployment/ssh", {"Authorization": f"Bearer {MEMBER_TOKEN}"}, None),
    ("GET", f"/api/v2/experiments?coder_session_token={MEMBER_TOKEN}", {}, None),
    ("GET", "/api/v2/experiments", {}, None),
    ("GET", "/api/v2/nope", {}, None),
    ("HEAD", "/api/v2/buildinfo", {}, None),
    ("POST", "/api/v2/csp/reports", {}, CSP_REPORT),
    ("POST", "/api/v2/csp/reports", {}, b"{"),
    ("POST", "/api/v2/csp/reports", {}, b"x" * (BODY_LIMIT * 3)),
    ("GET", "/__admin/scenario", {}, None),
    ("PUT", "/__admin/scenario", {}, b'{"name": "outdated", "seed": 3}'),
    ("GET", "/__admin/nope", {}, None),
    ("GET", "/healthz", {}, None),
    ("GET", "/", {}, None),
]


def responses_of(catalog: Catalog, journal_size: int) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    client = create_app(Store(catalog, "default", journal_size=journal_size), quiet=True).test_client()
    responses = []
    for method, url, headers, body in IDENTICAL_REQUESTS:
        response = client.open(url, method=method, headers=headers, data=body)
        responses.append((response.status_code, list(response.headers.items()), response.get_data()))
    return responses


def test_responses_identical_with_journal_off(catalog: Catalog) -> None:
    with_journal = responses_of(catalog, 1000)
    without_journal = responses_of(catalog, 0)

    assert len(with_journal) == len(IDENTICAL_REQUESTS)
    for (method, url, _, _), on, off in zip(IDENTICAL_REQUESTS, with_journal, without_journal):
        assert on == off, f"{method} {url}"
