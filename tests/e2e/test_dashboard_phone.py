"""The dashboard on a phone: no page is wider than the screen (the admin's tables made the whole
page scroll sideways), and a data table's rows read as "column: value" lines."""

from __future__ import annotations

import json

from api_live_support import serve
from dashboard_support import PHONE, chromium, new_page, sign_in
from playwright.sync_api import Page, expect

from cf_support import Backend

_OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
_LABELS = """(cells) => cells.map((cell) => {
  const box = cell.getBoundingClientRect();
  return [getComputedStyle(cell, '::before').content, box.right <= window.innerWidth];
})"""


def _fits(page: Page, path: str, ready: str) -> None:
    page.goto(path)
    expect(page.locator(ready).first).to_be_visible()
    assert page.evaluate(_OVERFLOW) <= 0, f"{path} is wider than a phone's screen"


def _labelled(page: Page, table: str, columns: list[str]) -> None:
    """Each cell of the table's first row shows its column's name and ends on screen."""
    cells = page.locator(f"{table} tbody tr").first.locator("td")
    shown = cells.evaluate_all(_LABELS)
    assert shown == [[json.dumps(name), True] for name in columns]


def test_every_page_fits_a_phone_and_table_rows_say_what_each_value_is(
    sqlite_backend: Backend,
) -> None:
    with serve(sqlite_backend, [{"text": "done"}]) as live, chromium() as browser:
        session_id = live.start_build()
        live.wait_for(session_id, lambda s: s["outcome"] is not None)
        project_id = live.session(session_id)["project_id"]
        page = new_page(browser, live.base)
        page.set_viewport_size(PHONE)
        sign_in(page, live.token)
        _fits(page, "/", "#recent-title")
        _labelled(
            page, "section[aria-labelledby=recent-title] table", ["Build", "State", "Started"]
        )
        _fits(page, f"/projects/{project_id}", "table.data")
        _fits(page, f"/builds/{session_id}", ".feed li")

        made = live.backend.cli("token", "create", "root", "--json", "--admin")
        assert made.returncode == 0, made.stderr
        admin = new_page(browser, live.base)
        admin.set_viewport_size(PHONE)
        sign_in(admin, json.loads(made.stdout)["token"], "/admin")
        _fits(admin, "/admin", "section[aria-labelledby=owners-title] table")
        owners = ["Owner", "Plan", "Spent", "Allowance", "Used", "Builds", "Active", "Top up"]
        _labelled(admin, "section[aria-labelledby=owners-title] table", owners)
        _labelled(admin, "section[aria-labelledby=workers-title] table", [
            "Worker", "Host", "State", "Heartbeat", "Slots", "Running",
        ])  # fmt: skip
