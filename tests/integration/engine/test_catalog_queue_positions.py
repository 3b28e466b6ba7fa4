"""`Catalog.queue_positions`: the place in line `status` shows is the order admission takes
queued sessions (higher tier first, then the longest waiting), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from cf_support import Backend, scripted_project
from cofounder.config import Settings
from cofounder.engine import Catalog, Engine
from cofounder.project import load_project


def test_positions_follow_tier_then_arrival_and_skip_sessions_not_queued(
    backend: Backend, tmp_path: Path
) -> None:
    settings = Settings(home=backend.home, database_url=backend.database_url)
    engine = Engine(settings)
    ids: dict[str, str] = {}
    try:
        for owner, tier in [
            ("alice", "bootstrapper"),
            ("bob", "partner"),
            ("carol", "cto_scale"),
            ("dave", "bootstrapper"),
            ("erin", "partner"),
        ]:
            project = scripted_project(
                tmp_path / owner, [{"text": "Done."}], owner=owner, tier=tier
            )
            ids[owner] = engine.create_session(load_project(project), project).id
    finally:
        engine.close()
    catalog = Catalog(settings)
    try:
        assert catalog.queue_positions() == {
            ids["carol"]: 1,
            ids["bob"]: 2,
            ids["erin"]: 3,
            ids["alice"]: 4,
            ids["dave"]: 5,
        }
        # One that has left the queue (cancelled before it ran) has no place in it.
        catalog.request_cancel(ids["bob"])
        positions = catalog.queue_positions()
        assert ids["bob"] not in positions
        assert [positions[ids[o]] for o in ("carol", "erin", "alice", "dave")] == [1, 2, 3, 4]
    finally:
        catalog.close()
