"""The admin page's document: where it is served, its headers, its policy, and what it may not do."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from importlib import resources

import pytest
from flask.testing import FlaskClient

from coder_mock.admin_page import SCRIPT_MARKER, STYLE_MARKER, PageError, build_page, load_page
from coder_mock.store import Store

PAGE_SHELL = f"<html><head>{STYLE_MARKER}</head><body>{SCRIPT_MARKER}</body></html>"


def data_file(name: str) -> str:
    return (resources.files("coder_mock") / "data" / name).read_text(encoding="utf-8")


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def expected_policy() -> str:
    return (
        f"default-src 'none'; style-src {sha256_source(data_file('admin_page.css'))};"
        f" script-src {sha256_source(data_file('admin_page.js'))}; connect-src 'self'; img-src data:;"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


class Elements(HTMLParser):
    """Collects start tags with their attributes, and the text inside <style> and <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: dict[str, list[str]] = {"style": [], "script": []}
        self.current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.current = tag if tag in self.inline else None

    def handle_endtag(self, tag: str) -> None:
        self.current = None

    def handle_data(self, data: str) -> None:
        if self.current is not None:
            self.inline[self.current].append(data)

    def with_tag(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


@pytest.fixture
def page(client: FlaskClient) -> Elements:
    response = client.get("/__admin/")
    parser = Elements()
    parser.feed(response.get_data(as_text=True))
    return parser


@pytest.mark.parametrize("path", ["/__admin/", "/__admin", "/__admin//"])
def test_page_served(client: FlaskClient, store: Store, path: str) -> None:
    response = client.get(path)

    assert response.status == "200 OK"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == expected_policy()
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Coder-Build-Version"] == store.active.version
    assert response.data == load_page().body


def test_page_inlines_style_and_script(page: Elements, client: FlaskClient) -> None:
    body = client.get("/__admin/").get_data(as_text=True)

    assert page.inline["style"] == [data_file("admin_page.css")]
    assert page.inline["script"] == [data_file("admin_page.js")]
    assert STYLE_MARKER not in body
    assert SCRIPT_MARKER not in body


def test_page_head_request(client: FlaskClient) -> None:
    response = client.head("/__admin/")

    assert response.status_code == 200
    assert response.data == b""


def test_page_other_method_is_405(client: FlaskClient) -> None:
    response = client.post("/__admin/")

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_unknown_admin_path_is_not_page(client: FlaskClient) -> None:
    response = client.get("/__admin/nothing")

    assert response.status_code == 404
    assert response.get_json()["message"] == "No admin endpoint GET /__admin/nothing."


def test_page_request_in_journal(client: FlaskClient, store: Store) -> None:
    client.get("/__admin/")

    entries = store.journal.query()
    assert [(entry["method"], entry["path"], entry["status"], entry["operation"]) for entry in entries] == [
        ("GET", "/__admin/", 200, "admin")]


def test_page_loads_nothing_external(page: Elements) -> None:
    # The only URL in the document is the empty favicon, so the browser fetches nothing else.
    urls = [attrs[name] for _, attrs in page.tags for name in ("src", "href", "action") if name in attrs]
    assert urls == ["data:,"]
    assert not re.search(r"https?://|//[a-z]", data_file("admin_page.css"))


def test_script_calls_only_admin_api() -> None:
    script = data_file("admin_page.js")

    calls = sorted(set(re.findall(r"call\(\"([A-Z]+)\", [\"`]([^\"`$]*)", script)))
    assert calls == [("GET", "/__admin/requests?limit="), ("GET", "/__admin/scenario"), ("GET", "/__admin/scenarios"),
                     ("GET", "/__admin/sessions")]
    # The switch and reset go through act(), which calls call() with its method and path.
    assert re.findall(r"act\(\"([A-Z]+)\", \"([^\"]*)\"", script) == [("PUT", "/__admin/scenario"),
                                                                   ("POST", "/__admin/reset")]
    assert script.count("fetch(") == 1


@pytest.mark.parametrize("sink", ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                                  "new Function", "setTimeout(\""])
def test_script_never_parses_text_as_html(sink: str) -> None:
    # Scenario descriptions and request paths are user input, so they reach the page through textContent only.
    assert sink not in data_file("admin_page.js")


def test_every_control_has_label(page: Elements) -> None:
    labelled = {attrs["for"] for attrs in page.with_tag("label")}
    controls = page.with_tag("input") + page.with_tag("select")

    assert len(controls) == 3
    for attrs in controls:
        assert attrs.get("id") in labelled, attrs


def test_tables_have_column_headers(page: Elements) -> None:
    header_cells = page.with_tag("th")

    assert len(page.with_tag("table")) == 3
    assert len(header_cells) == 4 + 7 + 7
    assert {attrs.get("scope") for attrs in header_cells} == {"col"}


def test_document_basics(page: Elements) -> None:
    assert page.with_tag("html") == [{"lang": "en"}]
    assert [attrs.get("id") for attrs in page.with_tag("p") if attrs.get("role") == "status"] == [
        "connection", "action-result"]
    assert all(attrs.get("aria-live") == "polite" for attrs in page.with_tag("p") if attrs.get("role") == "status")
    assert [attrs["type"] for attrs in page.with_tag("button")] == ["submit", "button", "button"]


def test_build_page_hashes_inlined_text() -> None:
    page = build_page(PAGE_SHELL, "p{}", "let a=1;")

    assert page.body == b"<html><head><style>p{}</style></head><body><script>let a=1;</script></body></html>"
    assert f"style-src {sha256_source('p{}')};" in page.content_security_policy
    assert f"script-src {sha256_source('let a=1;')};" in page.content_security_policy


@pytest.mark.parametrize(("html", "style", "script", "message"), [
    ("<html></html>", "", "", "admin_page.html must contain <!-- admin_page.css --> exactly once"),
    (PAGE_SHELL + SCRIPT_MARKER, "", "", "admin_page.html must contain <!-- admin_page.js --> exactly once"),
    (PAGE_SHELL, "p{} </STYLE>", "", "admin_page.css must not contain </style"),
    (PAGE_SHELL, "", "a('</script>')", "admin_page.js must not contain </script"),
])
def test_build_page_rejects_bad_parts(html: str, style: str, script: str, message: str) -> None:
    with pytest.raises(PageError) as raised:
        build_page(html, style, script)

    assert str(raised.value) == message
