"""The catalog's reads and requests, the faces' only way into the engine: each verb returns
what the engine recorded, on SQLite and PostgreSQL, through a plain Catalog (no DBOS) opened
after the Engine that created the session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cf_support import Backend, scripted_project
from cofounder.config import Settings
from cofounder.engine import Catalog, Engine
from cofounder.events import Narration
from cofounder.project import load_project
from cofounder.storage import SessionRecord
from cofounder.storage.documents import upsert_document_in
from cofounder.storage.escalations import Escalation, EscalationError, insert_in


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return Settings(home=backend.home, database_url=backend.database_url)


@pytest.fixture
def created(settings: Settings, tmp_path: Path) -> SessionRecord:
    """One session as `cofounder build` records it before running: iteration 0 committed."""
    project = scripted_project(tmp_path / "project", [{"text": "Done."}])
    engine = Engine(settings)
    try:
        return engine.create_session(load_project(project), project)
    finally:
        engine.close()


@pytest.fixture
def catalog(settings: Settings, created: SessionRecord) -> Iterator[Catalog]:
    opened = Catalog(settings)
    yield opened
    opened.close()


def _question(session_id: str, n: int, *, can_continue: bool) -> Escalation:
    """An open question as the engine records one (built from plain data, so the test does not
    depend on how the option type is spelled)."""
    now = datetime.now(UTC)
    return Escalation.model_validate(
        {
            "id": f"esc{n}-{session_id}",
            "session_id": session_id,
            "iteration": n,
            "key": f"ask:{n}:0",
            "reason": "asked",
            "problem": f"question {n}",
            "error": "",
            "tried": [],
            "recommendation": "take a",
            "options": [{"key": "a", "label": "A"}, {"key": "b", "label": "B"}],
            "default_option": "a",
            "can_continue": can_continue,
            "deadline": now + timedelta(hours=1),
            "state": "open",
            "created_at": now + timedelta(seconds=n),
        }
    )


def test_sessions_and_session_read_what_was_created(
    catalog: Catalog, created: SessionRecord
) -> None:
    assert [s.id for s in catalog.sessions()] == [created.id]
    found = catalog.session(created.id)
    assert found is not None
    assert found == created
    assert catalog.session(created.id[:4]) is None  # an exact id, unlike resolve_session


def test_events_after_misses_nothing_and_repeats_nothing(
    catalog: Catalog, created: SessionRecord
) -> None:
    for n in range(3):
        catalog.rt.events.append(created.id, Narration(iteration=n, message=f"step {n}"))
    every = catalog.events_after(created.id, 0)
    seqs = [e.seq for e in every]
    assert seqs == list(range(1, len(every) + 1)) and len(every) == 4  # started + 3 narrations
    assert every[0].type == "session_started"
    assert [e.seq for e in catalog.events_after(created.id, seqs[1])] == seqs[2:]
    assert [e.seq for e in catalog.events_after(created.id, 0, limit=2)] == seqs[:2]
    assert catalog.events_after(created.id, seqs[-1]) == []
    assert catalog.events_after("no-such-session", 0) == []


def test_documents_are_the_last_written_per_section(
    catalog: Catalog, created: SessionRecord
) -> None:
    """The newest iteration's text per section, whatever order the rows were written in; a
    section written twice in one iteration keeps the second text."""
    assert catalog.documents(created.id) == {}
    writes = [
        ("overview", 3, "v3"),
        ("overview", 10, "v10"),
        ("faq", 5, "Q?"),
        ("overview", 9, "v9"),
    ]
    for section, iteration, text in [*writes, ("faq", 5, "Q2?")]:
        with catalog.rt.db.transaction() as session:
            upsert_document_in(session, created.id, section, text, iteration=iteration)
    assert catalog.documents(created.id) == {"overview": "v10", "faq": "Q2?"}


def test_escalations_filter_block_and_take_one_answer(
    catalog: Catalog, created: SessionRecord
) -> None:
    blocking = _question(created.id, 1, can_continue=False)
    aside = _question(created.id, 2, can_continue=True)
    with catalog.rt.db.transaction() as session:
        insert_in(session, blocking)
        insert_in(session, aside)
    assert [e.id for e in catalog.escalations(created.id)] == [blocking.id, aside.id]
    assert [e.id for e in catalog.escalations()] == [blocking.id, aside.id]
    assert [e.id for e in catalog.blocking_escalations(created.id)] == [blocking.id]

    done = catalog.answer_escalation(blocking.id, choice="b", guidance="go", by="alice")
    assert (done.state, done.choice, done.guidance, done.resolved_by) == (
        "resolved", "b", "go", "alice"
    )  # fmt: skip
    assert [e.id for e in catalog.escalations(created.id, open_only=True)] == [aside.id]
    assert catalog.blocking_escalations(created.id) == []
    with pytest.raises(EscalationError, match="already resolved"):
        catalog.answer_escalation(blocking.id, choice="a", guidance=None, by="alice")
    with pytest.raises(EscalationError, match="not offered"):
        catalog.answer_escalation(aside.id, choice="z", guidance=None, by="alice")


def test_checkpoint_and_its_snapshot(catalog: Catalog, created: SessionRecord) -> None:
    latest = catalog.checkpoint(created.id)
    assert latest is not None and latest.iteration == 0
    assert catalog.checkpoint(created.id, 0) == latest
    assert catalog.checkpoint(created.id, 1) is None
    assert catalog.checkpoint("no-such-session") is None
    assert catalog.snapshots.load(latest.snapshot_id).entries == []  # an empty workspace


def test_image_bytes_come_back_verified(catalog: Catalog) -> None:
    ref = catalog.rt.images.put(b"\x89PNG not really")
    assert catalog.image(ref) == b"\x89PNG not really"


def test_request_wake_is_recorded(catalog: Catalog, created: SessionRecord) -> None:
    assert catalog.session(created.id).wake_requested is False  # type: ignore[union-attr]
    catalog.request_wake(created.id)
    assert catalog.session(created.id).wake_requested is True  # type: ignore[union-attr]


def test_settings_and_limits_are_the_ones_opened(catalog: Catalog, settings: Settings) -> None:
    assert catalog.settings.data_dir == settings.data_dir
    assert catalog.sandbox_limits == catalog.rt.sandbox_limits
