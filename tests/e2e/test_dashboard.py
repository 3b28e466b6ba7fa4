"""The founders' dashboard in Debian's Chromium (Playwright, offline) against `cofounder serve`
with a scripted tier model: the whole founder path, history across a reload and across streams
the server cuts, a sleeper woken from the page, and what other owners and signed-out visitors
get. Set COFOUNDER_UI_SHOTS=DIR to keep a desktop and a phone screenshot of every page."""

from __future__ import annotations

import json
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from api_live_support import SLEEPY_BUDGET, SLEEPY_TURNS, Live, call, held, serve
from dashboard_support import chromium, late_answer, new_page, shoot, sign_in
from playwright.sync_api import Page, Request, Route, expect

from cf_support import Backend

# Event types the feed does not draw as a line of its own (`tool_started` becomes its call's).
UNDRAWN = {"thinking", "budget_updated", "tool_started"}
ASK = call(
    "ask_founder",
    problem="Should a streak count weekends?",
    tried=["read the brief", "looked at similar apps"],
    recommendation="Count every day.",
    options=[
        {"key": "every_day", "label": "Every day counts"},
        {"key": "weekdays", "label": "Only weekdays count"},
    ],
    default="every_day",
)


def _new_token(live: Live, owner: str, *, admin: bool = False) -> str:
    made = live.backend.cli("token", "create", owner, "--json", *(["--admin"] if admin else []))
    assert made.returncode == 0, made.stderr
    return str(json.loads(made.stdout)["token"])


def _feed_seqs(page: Page) -> list[int]:
    return [
        int(s)
        for s in page.locator(".feed li").evaluate_all("(rows) => rows.map(r => r.dataset.seq)")
    ]


def _drawn_seqs(live: Live, session_id: str) -> list[int]:
    return [
        e["seq"]
        for e in live.events(session_id)
        if e["type"] not in UNDRAWN
        and not (e["type"].startswith("tool_") and e["payload"]["name"] == "narrate")
    ]


def test_the_founder_path_from_sign_in_to_download(sqlite_backend: Backend) -> None:
    turns: list[dict[str, Any]] = [
        {
            "text": "Planning first.",
            "tool_calls": [
                call("narrate", message="I am reading your brief.", phase_name="Planning"),
                call("bash", command="sleep 1; echo planned"),
            ],
        },
        {"text": "One product question.", "tool_calls": [ASK]},
        {
            "text": "Weekdays it is.",
            "expect": ["Only weekdays count", "Use big tick boxes"],
            "tool_calls": [
                call("narrate", message="Building the streak page now.", phase_name="Building"),
                call("write_file", path="index.html", content="<h1>Streaks</h1>\n"),
                call(
                    "document", section="overview", content="# Streaks\n\nTrack **daily** streaks."
                ),
                call(
                    "document", section="features", content="- Tick a habit off\n- See your streak"
                ),
            ],
        },
        {"text": "All done."},
    ]
    with serve(sqlite_backend, turns) as live, chromium() as browser:
        page = new_page(browser, live.base)
        sign_in(page, live.token)
        shoot(page, "projects-empty")

        page.get_by_role("link", name="New project").click()
        page.get_by_label("Project name").fill("Streaks")
        page.get_by_label("The problem").fill("I drop habits after a week.")
        page.get_by_label("Question 1").fill("Who uses it?")  # the answer left empty
        page.get_by_label("The goal").fill("Show my streak for each habit.")
        page.get_by_role("button", name="Create project").click()
        answer = page.locator("#qna-0-answer")
        expect(answer).to_have_attribute("aria-invalid", "true")  # the API's error, at its field
        expect(page.locator("#qna-0-answer-error")).not_to_be_empty()
        shoot(page, "new-project-error")
        answer.fill("Just me, on my laptop.")
        page.get_by_role("button", name="Create project").click()
        expect(page.get_by_role("heading", name="Streaks", level=1)).to_be_visible()
        shoot(page, "project")

        page.get_by_role("button", name="Start the build").click()
        expect(page).to_have_url(re.compile(r"/builds/"))
        session_id = page.url.rsplit("/", 1)[1]
        feed = page.locator(".feed")
        expect(feed).to_contain_text("I am reading your brief.")  # live, mid-build
        card = page.locator(".escalation")
        expect(card).to_contain_text("Should a streak count weekends?")
        expect(page.locator(".badge").first).to_have_text("Waiting for you")
        expect(page.locator(".phases")).to_contain_text("Planning")
        assert live.session(session_id)["outcome"] is None
        shoot(page, "build-question")

        # Said while it waits: read together with the answer, in the founder's voice.
        page.get_by_label("Tell the agent something").fill("Use big tick boxes")
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_text("after your answer to its question")).to_be_visible()
        card.get_by_label("Anything to add? (optional)").fill("Saturdays are rest days.")
        card.get_by_role("button", name="Only weekdays count").click()
        expect(card).to_contain_text("You chose “Only weekdays count”")
        expect(page.locator(".badge").first).to_have_text("Completed")
        expect(feed).to_contain_text("Building the streak page now.")
        expect(feed).to_contain_text("Answered: “weekdays” — Saturdays are rest days.")
        expect(page.locator(".feed .founder p")).to_have_text(["Use big tick boxes"])
        phases = page.locator(".phases li")
        expect(phases).to_have_count(2)
        expect(phases.first).to_have_class(re.compile("done"))

        tabs = page.get_by_role("tab")
        expect(tabs).to_have_text(["Overview", "Features"])
        expect(page.get_by_role("tabpanel")).to_contain_text("Track daily streaks.")
        tabs.nth(1).click()
        expect(page.get_by_role("tabpanel")).to_contain_text("See your streak")
        expect(page.locator(".connection")).to_have_text("Ended")
        shoot(page, "build-completed")

        with page.expect_download() as fetched:
            page.get_by_role("link", name="Download the code").click()
        with tarfile.open(fetched.value.path(), mode="r:gz") as archive:
            names = archive.getnames()
        # The answer stays on the page once the questions were read again (the end does so).
        expect(card).to_contain_text("You chose “Only weekdays count”")
        assert any(n.endswith("/index.html") for n in names), names
        assert any("COFOUNDER_DOCS" in n and n.endswith("overview.md") for n in names), names

        assert sorted(_feed_seqs(page)) == _drawn_seqs(live, session_id)

        # Try again from step 1: a fork of this build opens, naming where it came from.
        page.get_by_role("button", name="Try again from step 1").click()
        expect(page).not_to_have_url(re.compile(session_id))
        expect(page.locator(".lineage")).to_have_text(re.compile(r"Tried again from step 1 of"))
        fork = live.session(page.url.rsplit("/", 1)[1])
        assert fork["parent_session_id"] == session_id and fork["build_version"] == "build_v0_2"


def test_a_build_that_stops_for_its_founder_shows_waiting_though_read_just_before(
    sqlite_backend: Backend,
) -> None:
    """The row says `waiting` a moment after the question's events (once the run has let go of
    its sandbox), and no event follows it. A page that read the build in between said
    "Working" for as long as the build waited. Here that read is certain: the first answer
    that says `waiting` is sent as the `running` it was a moment before."""
    turns: list[dict[str, Any]] = [
        {"tool_calls": [held("echo planned")]},
        {"tool_calls": [ASK]},
    ]
    with serve(sqlite_backend, turns) as live, chromium() as browser:
        session_id = live.start_build()
        page = new_page(browser, live.base)
        sign_in(page, live.token, f"/builds/{session_id}")
        expect(page.locator(".feed li").first).to_be_visible()  # read, and followed
        faked: list[dict[str, Any]] = []  # the first answer that said `waiting`

        def a_moment_before(route: Route) -> None:
            response = route.fetch()
            view = response.json()
            if view["state"] == "waiting" and not faked:
                faked.append(view)
                view = view | {"state": "running", "wake_at": None}
            route.fulfill(response=response, json=view)

        page.route(re.compile(rf"/api/v1/sessions/{session_id}$"), a_moment_before)
        live.open_gate(session_id)
        expect(page.locator(".escalation")).to_contain_text("Should a streak count weekends?")
        expect(page.locator(".badge").first).to_have_text("Waiting for you")
        assert faked, "the page never read the build once it waited"


def test_a_slow_read_of_an_older_state_is_not_drawn_over_a_newer_one(
    sqlite_backend: Backend,
) -> None:
    """The page reads the build again after its events, a round of reads at a time. Rounds
    that overlapped could be answered out of order: a read of the running build answered after
    that of the finished one was drawn last, and the page said "Working" (or "Sleeping until")
    for a build that had ended (seen under load). Here a read made while the build runs is
    answered only once the build has ended and the page has had every event."""
    turns: list[dict[str, Any]] = [
        {"tool_calls": [held("echo 1")]},
        {"tool_calls": [held("echo 2", "go-on")]},
        {"text": "done"},
    ]
    with (
        serve(sqlite_backend, turns) as live,
        chromium() as browser,
        late_answer() as late,
    ):
        session_id = live.start_build()
        page = new_page(browser, live.base)
        sign_in(page, live.token, f"/builds/{session_id}")
        expect(page.locator(".feed li").first).to_be_visible()  # read, and followed
        reads = re.compile(rf"/api/v1/sessions/{session_id}$")
        slow: list[Request] = []  # the read answered late
        overlapping: list[Request] = []  # reads asked for while it was unanswered

        def slow_down_a_running_one(route: Route) -> None:
            response = route.fetch()
            view = response.json()
            if slow or view["state"] != "running":
                route.fulfill(response=response)
                return
            late.body = view  # answered later, as it was read now
            slow.append(route.request)
            route.continue_(url=late.url)

        def note_overlap(request: Request) -> None:
            if slow and not late.released.is_set() and reads.search(request.url):
                overlapping.append(request)

        page.route(reads, slow_down_a_running_one)
        page.on("request", note_overlap)
        live.open_gate(session_id)  # its first step's events: the page reads it, running
        _until(page, late.arrived.is_set, "the page never read the running build")
        live.open_gate(session_id, "go-on")
        live.wait_for(session_id, lambda s: s["outcome"] is not None)
        expect(page.locator(".connection")).to_have_text("Ended")  # every event is in
        # The round its end asks for comes 200 ms after it, unless a round is unanswered.
        page.wait_for_timeout(3_000)
        assert overlapping == [], "a round of reads began while an older one was unanswered"
        with page.expect_event("requestfinished", lambda r: r is slow[0]):
            late.released.set()
        # Two frames: the page has drawn what it was given.
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        expect(page.locator(".badge").first).to_have_text("Completed")


def _until(page: Page, done: Callable[[], bool], what: str) -> None:
    """Poll `done` while the page's events reach their handlers, for up to 90 s."""
    deadline = time.monotonic() + 90
    while not done():
        assert time.monotonic() < deadline, what
        page.wait_for_timeout(100)


def test_history_survives_a_reload_and_streams_the_server_cuts(sqlite_backend: Backend) -> None:
    steps, held_at = 30, 10
    turns: list[dict[str, Any]] = [
        {
            "tool_calls": [
                call("narrate", message=f"step {n}"),
                call("bash", command=f"sleep 0.4; echo {n}"),
            ]
        }
        for n in range(steps)
    ] + [{"text": "done"}]
    # One step waits for the test: the build still runs when the page reloads and until the
    # server has cut the stream three times (a loaded machine's browser could come up after
    # the whole build was over).
    turns[held_at]["tool_calls"][1] = held(f"sleep 0.4; echo {held_at}")
    # Every response of the stream ends after a second: the browser resumes with Last-Event-ID.
    with (
        serve(sqlite_backend, turns, COFOUNDER_EVENT_STREAM_MAX_SECONDS="1") as live,
        chromium() as browser,
    ):
        session_id = live.start_build()
        page = new_page(browser, live.base)
        resumed: list[str] = []  # the Last-Event-ID of each stream request after the first

        def note_resumed(request: Request) -> None:
            if "/events/stream" in request.url:
                last_event_id = request.all_headers().get("last-event-id")
                if last_event_id:
                    resumed.append(last_event_id)

        page.on("request", note_resumed)
        sign_in(page, live.token, f"/builds/{session_id}")
        feed = page.locator(".feed")
        expect(feed).to_contain_text("step 3")
        assert live.session(session_id)["outcome"] is None
        page.reload()
        expect(feed).to_contain_text("step 0")  # the whole history again
        _until(page, lambda: len(resumed) >= 3, "the server never cut the stream")
        live.open_gate(session_id)
        expect(page.locator(".badge").first).to_have_text("Completed")
        voices = page.locator(".feed .agent p").all_inner_texts()
        assert voices == [f"step {n}" for n in range(steps)]  # no gap, no duplicate
        seqs = _feed_seqs(page)  # a tool's row stands where it started, with its call's seq
        assert len(seqs) == len(set(seqs)) and sorted(seqs) == _drawn_seqs(live, session_id)
        assert len(resumed) >= 3, f"resumed {resumed}: the server never cut the stream"
        assert [int(n) for n in resumed] == sorted(int(n) for n in resumed)


def test_a_sleeping_build_says_until_when_and_wakes_from_the_page(sqlite_backend: Backend) -> None:
    with serve(sqlite_backend, SLEEPY_TURNS, **SLEEPY_BUDGET) as live, chromium() as browser:
        session_id = live.start_build()
        page = new_page(browser, live.base)
        sign_in(page, live.token, f"/builds/{session_id}")
        badge = page.locator(".badge").first
        expect(badge).to_have_text(re.compile(r"^Sleeping until \d"))
        used = live.ok("GET", "/budget")["percent"]
        expect(page.locator("[role=meter]")).to_have_attribute("aria-valuenow", str(round(used)))
        expect(page.get_by_text(re.compile(r"^Resumes at"))).to_be_visible()
        shoot(page, "build-sleeping")

        page.get_by_role("button", name="Wake it now").click()
        expect(page.locator(".feed")).to_contain_text("Woken up on request")
        # Its allowance is still spent: it goes back to sleep, and the page says so.
        expect(page.locator(".feed li[data-type=sleeping]")).to_have_count(2)
        expect(badge).to_have_text(re.compile(r"^Sleeping until"))

        # An admin tops alice up from the admin page: her build wakes and finishes in her page.
        admin = new_page(browser, live.base)
        sign_in(admin, _new_token(live, "root", admin=True), "/admin")
        owners = admin.get_by_role("region", name="Spend per owner")
        owners.get_by_label("Top-up for alice, in US dollars").fill("1")
        owners.get_by_role("button", name="Add").click()
        expect(owners.get_by_role("status").filter(has_text="Added")).to_be_visible()
        expect(badge).to_have_text("Completed")


def test_other_owners_see_nothing_and_signed_out_visitors_sign_in(sqlite_backend: Backend) -> None:
    with serve(sqlite_backend, [{"text": "done"}]) as live, chromium() as browser:
        session_id = live.start_build()
        project_id = live.session(session_id)["project_id"]
        live.wait_for(session_id, lambda s: s["outcome"] is not None)
        page = new_page(browser, live.base)
        for path in (
            "/",
            "/projects/new",
            f"/builds/{session_id}",
            "/admin",
            f"/projects/{project_id}",
        ):
            response = page.goto(path)
            assert response is not None
            expect(page).to_have_url(re.compile(r"/sign-in\?next="))
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        shoot(page, "sign-in")

        sign_in(page, _new_token(live, "bob"))
        for path in (f"/builds/{session_id}", f"/projects/{project_id}"):
            response = page.goto(path)
            assert response is not None and response.status == 404
            expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        expect(page.locator("body")).not_to_contain_text("Streaks")
        shoot(page, "not-found")
        assert page.request.get(f"/api/v1/sessions/{session_id}").status == 404
        page.goto("/admin")
        expect(page.get_by_role("heading", name="Admins only")).to_be_visible()

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/sign-in$"))
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/sign-in\?next="))
        assert page.request.get("/api/v1/me").status == 401

        sign_in(page, _new_token(live, "root", admin=True), "/admin")
        owners = page.get_by_role("region", name="Spend per owner")
        expect(owners.get_by_role("cell", name="alice", exact=True)).to_be_visible()
        expect(page.get_by_role("cell", name="alive")).to_be_visible()  # the embedded worker
        shoot(page, "admin")


def test_the_app_shows_in_the_preview_and_its_screenshots_in_the_gallery(
    sqlite_backend: Backend,
) -> None:
    page_html = "<!doctype html><title>Streaks</title><h1>My streaks</h1>\n"
    turns: list[dict[str, Any]] = [
        {
            "tool_calls": [
                call("write_file", path="index.html", content=page_html),
                call("preview", command="python3 -m http.server 8000", port=8000),
                call("take_screenshot"),
            ]
        },
        # The build keeps working until the test has seen its preview, which is live only
        # while a worker runs it (a 20 s sleep could be over before a loaded machine's browser
        # had looked).
        {"tool_calls": [held("echo checked")]},
        {"text": "done"},
    ]
    with serve(sqlite_backend, turns) as live, chromium() as browser:
        session_id = live.start_build()
        page = new_page(browser, live.base)
        sign_in(page, live.token, f"/builds/{session_id}")
        preview = page.get_by_role("region", name="Preview")
        expect(preview.get_by_text("Live", exact=True)).to_be_visible()
        frame = page.frame_locator("iframe[title='Your app, live']")
        expect(frame.get_by_role("heading", name="My streaks")).to_be_visible()
        link = preview.get_by_role("link", name="Open your app")
        assert link.get_attribute("href") == live.session(session_id)["preview_url"]
        shots = page.get_by_role("region", name="Screenshots").get_by_role("img")
        expect(shots).to_have_count(2)  # desktop and mobile
        expect(shots.first).to_have_js_property("naturalWidth", 1280)
        shoot(page, "build-preview")
        live.open_gate(session_id)
        expect(page.locator(".badge").first).to_have_text("Completed")
        expect(preview).to_contain_text("Stopped")


def _seed_builds(backend: Backend, first: dict[str, Any], n: int, after: int = 1) -> None:
    """`n` more ended builds of `first`'s project (versions from `after` + 1 on), each a second
    newer than the last, written straight to the database (running them would take minutes and
    test nothing more here)."""
    from datetime import timedelta

    from cofounder.storage import Database
    from cofounder.storage.sessions import NewSession, insert_in, row_in

    db = Database(f"sqlite:///{backend.home / 'cofounder.sqlite'}")
    try:
        with db.transaction() as session:
            for k in range(after + 1, after + n + 1):
                new = NewSession(
                    id=f"{k:012x}",
                    name=first["name"],
                    owner=first["owner"],
                    tier="bootstrapper",
                    model_spec="scripted:x",
                    project_json="{}",
                    workspace=f"/w/{k}",
                    max_tool_calls=10,
                    max_wall_seconds=60,
                    project_id=first["project_id"],
                    build_version=f"build_v0_{k}",
                )
                insert_in(session, new)
                row = row_in(session, new.id)
                row.created_at = row.created_at + timedelta(seconds=k)
                row.state, row.outcome = "finished", "completed"
    finally:
        db.close()


@contextmanager
def _many_builds(backend: Backend, n: int) -> Iterator[tuple[Live, Page, dict[str, Any]]]:
    """A server with one project of `n` ended builds (the first run, the rest seeded), a page
    in Chromium not signed in yet, and the first build."""
    with serve(backend, [{"text": "done"}]) as live, chromium() as browser:
        session_id = live.start_build()
        first = live.wait_for(session_id, lambda s: s["outcome"] is not None)
        _seed_builds(live.backend, first, n - 1)
        yield live, new_page(browser, live.base), first


def test_long_lists_show_fifty_and_more_on_request_across_refreshes(
    sqlite_backend: Backend,
) -> None:
    with _many_builds(sqlite_backend, 120) as (live, page, first):
        sign_in(page, live.token, f"/projects/{first['project_id']}")
        rows = page.locator("main table tbody tr")
        expect(rows).to_have_count(50)
        expect(rows.first).to_contain_text("build_v0_120")  # newest first
        more = page.get_by_role("button", name="Show older builds")
        more.click()
        expect(rows).to_have_count(100)
        shoot(page, "project-long")
        more.click()
        expect(rows).to_have_count(120)
        expect(more).to_have_count(0)
        expect(rows.last.get_by_role("link")).to_have_text("build_v0_1")

        page.get_by_role("button", name="Sign out").click()
        sign_in(page, _new_token(live, "root", admin=True), "/admin")
        sessions = page.get_by_role("region", name="Sessions, newest first").locator("tbody tr")
        expect(sessions).to_have_count(50)
        page.get_by_role("button", name="Show older sessions").click()
        expect(sessions).to_have_count(100)
        # The admin page redraws every 5 s: the pages stay open. The first redraw seen may have
        # begun before the click; the second began after it.
        _next_redraw(page)
        _next_redraw(page)
        expect(sessions).to_have_count(100)
        shoot(page, "admin-long")


def _next_redraw(page: Page) -> None:
    """Wait for the admin page's next redraw (it says when it last drew)."""
    updated = page.locator(".page-head .updated")
    expect(updated).to_have_text(re.compile(r"^Updated"))
    expect(updated).not_to_have_text(updated.inner_text())


def _focused(page: Page) -> str:
    """What has the keyboard focus: a row's key, a link's address or a button's words."""
    return str(
        page.evaluate(
            """() => { const el = document.activeElement;
                       return el.dataset.key || el.getAttribute('href') || el.textContent; }"""
        )
    )


def _fail_later_pages(page: Page) -> None:
    """Every page of a listing after its first answers 500 (until unrouted)."""
    page.route(
        re.compile(r"/api/v1/sessions\?.*cursor="),
        lambda route: route.fulfill(
            status=500, content_type="application/json", body='{"detail": "The database is away."}'
        ),
    )


def test_show_more_moves_focus_to_the_new_rows_and_a_failed_page_can_be_retried(
    sqlite_backend: Backend,
) -> None:
    with _many_builds(sqlite_backend, 170) as (live, page, first):  # three full pages and 20
        sign_in(page, live.token)
        card = page.locator(".card.project")  # its newest build, from the project itself
        expect(card.get_by_role("link", name="latest build")).to_have_attribute(
            "href", f"/builds/{170:012x}"
        )
        expect(card.locator(".badge")).to_have_text("Completed")
        shoot(page, "projects-latest")

        page.goto(f"/projects/{first['project_id']}")
        rows = page.locator("main table tbody tr")
        expect(rows).to_have_count(50)
        more = page.get_by_role("button", name="Show older builds")
        more.focus()
        page.keyboard.press("Enter")
        expect(rows).to_have_count(100)
        expect(rows.nth(50)).to_be_focused()  # the first new row, not the page's body
        expect(rows.nth(50)).to_contain_text("build_v0_120")
        expect(page.get_by_role("status").filter(has_text="more builds")).to_have_text(
            "50 more builds shown."
        )
        shoot(page, "project-more-focus")
        page.keyboard.press("Tab")  # on into the new row's link
        expect(rows.nth(50).get_by_role("link")).to_be_focused()

        _fail_later_pages(page)
        more.focus()
        page.keyboard.press("Enter")
        alert = page.get_by_role("alert").filter(has_text="The database is away.")
        expect(alert).to_be_visible()
        expect(more).to_be_focused()  # ready to try again, rows as they were
        expect(more).not_to_have_attribute("aria-disabled", "true")
        expect(rows).to_have_count(100)
        shoot(page, "project-more-failed")

        page.unroute(re.compile(r"/api/v1/sessions\?.*cursor="))
        page.keyboard.press("Enter")
        expect(rows).to_have_count(150)  # one page more: the failed try opened none
        expect(alert).to_have_count(0)
        expect(rows.nth(100)).to_be_focused()
        expect(rows.nth(100)).to_contain_text("build_v0_70")


def test_the_admin_redraw_keeps_the_focus_and_counts_only_pages_that_loaded(
    sqlite_backend: Backend,
) -> None:
    with _many_builds(sqlite_backend, 120) as (live, page, first):
        sign_in(page, _new_token(live, "root", admin=True), "/admin")
        updated = page.locator(".page-head .updated")
        expect(updated).not_to_have_attribute("role", "status")  # not read out every 5 s
        sessions = page.get_by_role("region", name="Sessions, newest first")
        rows = sessions.locator("tbody tr")
        expect(rows).to_have_count(50)

        more = sessions.get_by_role("button", name="Show older sessions")
        more.focus()
        _next_redraw(page)
        expect(more).to_be_focused()

        # A failed page is not counted: the redraws after it still show one page.
        _fail_later_pages(page)
        page.keyboard.press("Enter")
        expect(sessions.get_by_role("alert")).to_have_text("The database is away.")
        page.unroute(re.compile(r"/api/v1/sessions\?.*cursor="))
        _next_redraw(page)
        expect(rows).to_have_count(50)
        expect(more).to_be_focused()
        page.keyboard.press("Enter")  # the retry
        expect(rows).to_have_count(100)
        expect(rows.nth(50)).to_be_focused()

        # A link keeps the focus while new sessions come in above it and the table redraws.
        link = rows.nth(3).get_by_role("link")
        href = link.get_attribute("href")
        link.focus()
        _seed_builds(live.backend, first, 1, after=120)
        expect(rows.first).to_contain_text("build_v0_121")
        expect(rows).to_have_count(100)
        assert _focused(page) == href
        shoot(page, "admin-focus")
