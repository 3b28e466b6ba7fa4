"""Session listings in SQL: pages in creation order either way, cursors that resume exactly
after the last id even when sessions share a creation time, filters by owner, state and
project, and an owner's counts and newest tier — each checked against the whole list."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from cofounder.storage import Database
from cofounder.storage.session_pages import SessionPages, SessionQuery
from cofounder.storage.sessions import NewSession, SessionRecord, SessionStore, insert_in, row_in
from cofounder.storage.tables import SessionRow

OWNERS = ("alice", "bob", "carol")
STATES = ("queued", "running", "sleeping", "finished")


def _seed(db: Database, n: int) -> None:
    """`n` sessions; creation times repeat (three per second) so ties must be broken by id."""
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with db.transaction() as session:
        for k in range(n):
            owner = rng.choice(OWNERS)
            new = NewSession(
                id=f"{rng.getrandbits(48):012x}",
                name=f"app {k}",
                owner=owner,
                tier=rng.choice(("bootstrapper", "partner")),
                model_spec="scripted:x",
                project_json="{}",
                workspace=f"/w/{k}",
                max_tool_calls=10,
                max_wall_seconds=60,
                project_id=f"prj_{rng.randrange(3)}",
            )
            insert_in(session, new)
            row: SessionRow = row_in(session, new.id)
            row.created_at = start + timedelta(seconds=k // 3)
            row.state = rng.choice(STATES)
            row.worker = "w1" if row.state == "running" else None


def _all_pages(pages: SessionPages, query: SessionQuery) -> list[SessionRecord]:
    seen: list[SessionRecord] = []
    while True:
        page = pages.page(query)
        seen += page.records
        if not page.more:
            return seen
        query = SessionQuery(**{**query.__dict__, "after_id": page.records[-1].id})


def test_pages_walk_every_matching_session_once_in_order(app_db: Database) -> None:
    _seed(app_db, 70)
    everyone = sorted(SessionStore(app_db).list(), key=lambda r: (r.created_at, r.id))
    pages = SessionPages(app_db)
    for owner in (None, "alice"):
        for state in (None, "running"):
            for project in (None, "prj_1"):
                want = [
                    r
                    for r in everyone
                    if (owner is None or r.owner == owner)
                    and (state is None or r.state == state)
                    and (project is None or r.project_id == project)
                ]
                for newest in (False, True):
                    query = SessionQuery(owner, state, project, limit=4, newest_first=newest)
                    got = [r.id for r in _all_pages(pages, query)]
                    assert got == [r.id for r in (want[::-1] if newest else want)]


def test_a_cursor_the_query_cannot_return_gives_an_empty_page(app_db: Database) -> None:
    _seed(app_db, 12)
    bobs = [r for r in SessionStore(app_db).list() if r.owner == "bob"]
    pages = SessionPages(app_db)
    assert pages.page(SessionQuery(owner="alice", after_id=bobs[0].id)).records == []
    assert pages.page(SessionQuery(after_id="nope")).records == []


def test_owner_counts_and_tiers_match_the_sessions(app_db: Database) -> None:
    _seed(app_db, 40)
    everyone = sorted(SessionStore(app_db).list(), key=lambda r: (r.created_at, r.id))
    pages = SessionPages(app_db)
    for counts in pages.owners():
        mine = [r for r in everyone if r.owner == counts.owner]
        assert counts.sessions == len(mine)
        assert counts.unfinished == sum(r.state != "finished" for r in mine)
        assert counts.tier == mine[-1].tier == pages.tier_of(counts.owner)
    assert [c.owner for c in pages.owners()] == sorted({r.owner for r in everyone})
    assert pages.tier_of("nobody") is None
    running = [r.id for r in everyone if r.state == "running"]
    assert running and pages.running_by_worker() == {"w1": running}
