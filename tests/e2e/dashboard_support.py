"""A rig for the dashboard tests: Debian's Chromium driven by Playwright (offline, no download)
against `cofounder serve` on loopback, signed in as a founder, with screenshots of each page at
desktop and phone widths written to $COFOUNDER_UI_SHOTS when it is set."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from cofounder.sandbox.screenshot import find_chromium

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
WAIT_MS = 60_000  # a build's next step on a loaded 2-core machine


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, base: str) -> Page:
    context = browser.new_context(base_url=base, viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    return page


def sign_in(page: Page, token: str, path: str = "/") -> None:
    """Open `path` signed out, land on sign-in, and come back to it signed in."""
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    page.get_by_label("Your access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#nav")).to_contain_text("Sign out")


def shoot(page: Page, name: str) -> None:
    """Desktop and phone screenshots of the page as it stands, when asked for."""
    folder = os.environ.get("COFOUNDER_UI_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        # Two frames: the page lays itself out at the new width before the picture.
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        page.screenshot(path=str(Path(folder) / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


class LateAnswer:
    """A loopback server whose answer (`body`, as JSON) waits for `released`: a page's request
    sent to `url` (a route's `continue_(url=...)`) stays in flight while the page goes on, as
    a slow answer of a loaded server does."""

    def __init__(self) -> None:
        self.body: Any = None
        self.arrived = threading.Event()
        self.released = threading.Event()
        late = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                late.arrived.set()
                late.released.wait(90)
                data = json.dumps(late.body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test says what went wrong."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/late"


@contextmanager
def late_answer() -> Iterator[LateAnswer]:
    """A `LateAnswer` serving until the block ends (released then, if it was not)."""
    late = LateAnswer()
    thread = threading.Thread(target=late.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield late
    finally:
        late.released.set()
        late.server.shutdown()
        late.server.server_close()
        thread.join()
