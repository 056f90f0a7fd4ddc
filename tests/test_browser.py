"""The admin page in a real browser: Debian's chromium, headless, driven over the DevTools protocol.

The test talks CDP directly (see cdp.py) instead of through Playwright,
because Playwright expects the Chromium build it ships and adds a Node.js
driver, while this test needs only a handful of stable CDP commands.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

import pytest
from flask import Flask

from coder_mock.app import create_app
from coder_mock.catalog import Catalog
from coder_mock.server import bind
from coder_mock.store import Store

from cdp import PageSession

CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = "install it with: apt-get update -q && apt-get install -y -q chromium"
# Flags for a headless run on a machine without network access or a display.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)
START_TIMEOUT_SECONDS = 60.0
PAGE_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 20.0
# A scenario description that would run script or add elements if the page inserted it as HTML.
TRICKY_DESCRIPTION = '<img src=x onerror="window.injected = true"> <b>bold</b> & "quoted" </td>'


def read_line(stream: IO[bytes], timeout: float) -> str:
    """Read one line from a child's pipe, failing the test when none arrives within `timeout` seconds."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail(f"no output line within {timeout} seconds")
    return stream.readline().decode("utf-8")


def stop(process: subprocess.Popen[bytes]) -> int:
    """Stop `process` with SIGTERM by its PID and wait; SIGKILL it when it does not exit in time."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            return process.wait(timeout=STOP_TIMEOUT_SECONDS)
    return process.returncode


def wait_for_group_exit(group_id: int) -> None:
    """Wait until no process of the group `group_id` is left, and SIGKILL the group after the deadline."""
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            os.killpg(group_id, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.killpg(group_id, signal.SIGKILL)


def require_chromium(path: str) -> None:
    """Fail the test, with the install command, when no chromium executable is at `path`."""
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not found; the browser test needs Debian's chromium, {INSTALL_HINT}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """Run `coder-mock serve` on 127.0.0.1, port 0, with one extra scenario; yield its base URL."""
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "tricky.yaml").write_text(
        "extends: default\ndescription: " + json.dumps(TRICKY_DESCRIPTION) + "\n", encoding="utf-8")
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "coder_mock", "serve", "--host", "127.0.0.1", "--port", "0",
         "--scenarios-dir", str(scenarios)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
    )
    try:
        assert process.stdout is not None
        first = read_line(process.stdout, START_TIMEOUT_SECONDS)
        prefix = "coder-mock listening on "
        assert first.startswith(prefix), f"unexpected first line {first!r}; see {tmp_path / 'server.log'}"
        yield first[len(prefix):].strip()
    finally:
        returncode = stop(process)
        if process.stdout is not None:
            process.stdout.close()
        log.close()
    assert returncode == 0, f"coder-mock exited with {returncode}; see {tmp_path / 'server.log'}"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[PageSession]:
    """Start headless chromium with a fresh profile and yield a CDP session to its blank page."""
    require_chromium(CHROMIUM)
    profile = tmp_path / "chromium-profile"
    log = (tmp_path / "chromium.log").open("wb")
    # A session of its own puts chromium's helper processes in a group that the teardown can wait for.
    process = subprocess.Popen([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    session = None
    try:
        # Chromium writes the DevTools port it picked to this file once it listens.
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not port_file.is_file() or not port_file.read_text().strip():
            assert process.poll() is None, f"chromium exited with {process.returncode}; see {tmp_path / 'chromium.log'}"
            assert time.monotonic() < deadline, f"chromium opened no DevTools port; see {tmp_path / 'chromium.log'}"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=PAGE_TIMEOUT_SECONDS) as response:
            targets = json.load(response)
        pages = [target for target in targets if target["type"] == "page"]
        assert len(pages) == 1, f"expected one page target, got {targets}"
        session = PageSession(pages[0]["webSocketDebuggerUrl"], PAGE_TIMEOUT_SECONDS)
        yield session
    finally:
        if session is not None:
            session.close()
        stop(process)
        # Chromium's helper processes, such as its zygote, exit shortly after the browser process.
        wait_for_group_exit(process.pid)
        log.close()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=PAGE_TIMEOUT_SECONDS) as response:
        return json.load(response)


def text_of(element_id: str) -> str:
    return f"document.getElementById({json.dumps(element_id)}).textContent"


def test_admin_page_switches_scenario(server: str, browser: PageSession, catalog: Catalog) -> None:
    default = catalog.rendered("default", None, None)
    dev_build = catalog.rendered("dev-build", None, None)
    assert default.version != dev_build.version

    browser.command("Page.enable")
    browser.command("Runtime.enable")
    # Records CSP violations, so a wrong hash for the inline style or script fails the test.
    browser.command("Page.addScriptToEvaluateOnNewDocument", source=(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation', (event) =>"
        " window.cspViolations.push(event.violatedDirective));"))
    browser.navigate(f"{server}/__admin/", PAGE_TIMEOUT_SECONDS)

    assert browser.wait_for(text_of("active-name"), "default", PAGE_TIMEOUT_SECONDS) == "default"
    assert browser.wait_for(text_of("active-version"), default.version, PAGE_TIMEOUT_SECONDS) == default.version
    assert browser.evaluate(text_of("active-profile")) == "wire"
    assert browser.evaluate("document.title") == "coder-mock admin"

    # The scenario list, with the user scenario's description shown as text.
    names = "Array.from(document.querySelectorAll('#scenarios-body tr td:first-child'), (cell) => cell.textContent)"
    assert browser.wait_for(f"{names}.includes('tricky')", True, PAGE_TIMEOUT_SECONDS) is True
    described = browser.evaluate(
        "Array.from(document.querySelectorAll('#scenarios-body tr'))"
        ".find((row) => row.cells[0].textContent === 'tricky').cells[1].textContent")
    assert described == TRICKY_DESCRIPTION
    assert browser.evaluate("document.querySelectorAll('main img, main b').length") == 0
    assert browser.evaluate("window.injected === undefined") is True
    active_rows = "Array.from(document.querySelectorAll('#scenarios-body tr.active'), (row) => row.cells[0].textContent)"
    assert browser.evaluate(active_rows) == ["default"]
    assert browser.evaluate("document.getElementById('switch-name').value") == "default"

    # This server has no sessions, whether GET /__admin/sessions returns 404 or an empty list.
    assert browser.evaluate(text_of("sessions-empty")) == "No sessions."
    assert browser.evaluate("document.getElementById('sessions-empty').hidden") is False
    assert browser.evaluate("document.getElementById('sessions-table').hidden") is True

    # Switch with the page's own form controls.
    browser.evaluate(
        "(() => { const select = document.getElementById('switch-name');"
        " select.value = 'dev-build'; select.dispatchEvent(new Event('change'));"
        " document.getElementById('switch-button').click(); })()")

    assert browser.wait_for(text_of("active-version"), dev_build.version, PAGE_TIMEOUT_SECONDS) == dev_build.version
    assert browser.evaluate(text_of("active-name")) == "dev-build"
    assert browser.evaluate(text_of("action-result")) == f"Switched to dev-build (seed {dev_build.world.seed}, wire)."
    fetched = browser.evaluate("fetch('/api/v2/buildinfo').then((response) => response.json())"
                               ".then((body) => body.version)")
    assert fetched == dev_build.version
    assert browser.wait_for(f"{active_rows}.join()", "dev-build",
                            PAGE_TIMEOUT_SECONDS) == "dev-build"
    assert get_json(f"{server}/__admin/scenario")["name"] == "dev-build"

    # The journal table shows the switch the page sent.
    switch_rows = ("Array.from(document.querySelectorAll('#requests-body tr'), (row) =>"
                   " Array.from(row.cells, (cell) => cell.textContent).slice(1, 5).join(' '))"
                   ".filter((cells) => cells.startsWith('PUT '))")
    assert browser.wait_for(switch_rows, ["PUT /__admin/scenario 200 admin"], PAGE_TIMEOUT_SECONDS) == [
        "PUT /__admin/scenario 200 admin"]

    assert browser.evaluate("window.cspViolations") == []
    thrown = [event for event in browser.events if event["method"] == "Runtime.exceptionThrown"]
    assert thrown == []


# --- Sessions, with GET /__admin/sessions replaced by fixed responses ---------------------------

SESSION = {
    "id": "s-1",
    "scenario": "outdated",
    "seed": 7,
    "profile": "reference",
    "created_at": "2025-04-17T12:00:00.000000Z",
    "last_used_at": "2025-04-17T12:05:00.000000Z",
    "tokens": [{"username": "<i>alice</i>", "roles": ["owner"], "token": "aliceToken-abcdefghijklmnopqrstuv"}],
}
# Name -> (status line, body of GET /__admin/sessions, expected "sessions-empty" text or None for a table).
SESSION_ANSWERS = {
    "not-found": ("404 Not Found", {"message": "No admin endpoint GET /__admin/sessions."}, "No sessions."),
    "empty": ("200 OK", {"sessions": []}, "No sessions."),
    "one": ("200 OK", {"sessions": [SESSION]}, None),
    "failing": ("500 Internal Server Error", {"message": "An internal server error occurred."},
                "Sessions could not be read: An internal server error occurred."),
}


@pytest.fixture
def serve_in_thread() -> Iterator[Callable[[Flask], str]]:
    """Serve apps on 127.0.0.1, port 0, in threads; return each base URL and stop them at teardown."""
    servers = []

    def start(app: Flask) -> str:
        server = bind(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_TIMEOUT_SECONDS)


def answer_sessions(app: Flask, status: str, body: dict) -> None:
    """Make `app` respond to GET /__admin/sessions with `status` and `body` as JSON."""
    inner = app.wsgi_app
    payload = json.dumps(body).encode()

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/__admin/sessions":
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
            return [payload]
        return inner(environ, start_response)

    app.wsgi_app = wsgi  # type: ignore[method-assign]


@pytest.mark.parametrize("case", SESSION_ANSWERS)
def test_admin_page_sessions(case: str, serve_in_thread: Callable[[Flask], str], browser: PageSession,
                             catalog: Catalog) -> None:
    status, body, empty_text = SESSION_ANSWERS[case]
    app = create_app(Store(catalog), quiet=True)
    answer_sessions(app, status, body)
    base_url = serve_in_thread(app)

    browser.navigate(f"{base_url}/__admin/", PAGE_TIMEOUT_SECONDS)

    assert browser.wait_for(text_of("active-name"), "default", PAGE_TIMEOUT_SECONDS) == "default"
    table_hidden = "document.getElementById('sessions-table').hidden"
    if empty_text is not None:
        assert browser.wait_for(text_of("sessions-empty"), empty_text, PAGE_TIMEOUT_SECONDS) == empty_text
        assert browser.evaluate("document.getElementById('sessions-empty').hidden") is False
        assert browser.evaluate(table_hidden) is True
        return
    assert browser.wait_for(table_hidden, False, PAGE_TIMEOUT_SECONDS) is False
    assert browser.evaluate("document.getElementById('sessions-empty').hidden") is True
    cells = browser.evaluate("Array.from(document.querySelectorAll('#sessions-body tr'),"
                             " (row) => Array.from(row.cells, (cell) => cell.textContent))")
    assert cells == [["s-1", "outdated", "7", "reference", "2025-04-17 12:00:00.000000", "2025-04-17 12:05:00.000000",
                      "<i>alice</i> (owner): aliceToken-abcdefghijklmnopqrstuv"]]
    assert browser.evaluate("document.querySelectorAll('#sessions-body i').length") == 0


def test_missing_chromium_fails_with_hint(tmp_path: Path) -> None:
    missing = str(tmp_path / "chromium")

    with pytest.raises(pytest.fail.Exception) as failed:
        require_chromium(missing)

    assert str(failed.value) == (f"{missing} not found; the browser test needs Debian's chromium, install it with:"
                                 " apt-get update -q && apt-get install -y -q chromium")
