"""Escalations on real databases: a stored escalation is the question as asked plus its
storage fields, reads back equal, keeps the flat `escalations --json` shape, and only takes
an answer it offered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cofounder.questions import Option, Question
from cofounder.storage import Database
from cofounder.storage.escalations import (
    Escalation,
    EscalationError,
    Escalations,
    apply_deadlines_in,
    insert_in,
)
from fakes.question_samples import question

ASKED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

QUESTION = question(key="ask:3:0")


def _stored(db: Database) -> Escalation:
    escalation = Escalation(
        **dict(QUESTION),
        id="s1-3-0",
        session_id="s1",
        iteration=3,
        deadline=ASKED + timedelta(hours=1),
        state="open",
        created_at=ASKED,
    )
    with db.transaction() as session:
        assert insert_in(session, escalation)
        assert not insert_in(session, escalation)  # a replayed commit records nothing
    return escalation


def test_an_escalation_is_the_question_as_asked_plus_its_storage_fields(app_db: Database) -> None:
    written = _stored(app_db)
    read = Escalations(app_db).get(written.id)
    assert read is not None and read == written
    asked = {name: getattr(read, name) for name in Question.model_fields}
    assert Question(**asked) == QUESTION
    assert read.option("weekdays") == Option(key="weekdays", label="Only weekdays")


def test_the_json_listing_keeps_its_flat_shape(app_db: Database) -> None:
    line = json.loads(_stored(app_db).model_dump_json())
    assert set(line) == {
        "id", "session_id", "iteration", "key", "reason", "problem", "error", "tried",
        "recommendation", "options", "default_option", "can_continue", "deadline", "state",
        "choice", "guidance", "resolved_by", "resolved_at", "delivered_iteration", "created_at",
    }  # fmt: skip
    assert line["tried"] == ["counted every day", "counted weekdays"]
    assert line["options"][1] == {"key": "weekdays", "label": "Only weekdays", "description": ""}


def test_only_an_offered_choice_answers_and_only_once(app_db: Database) -> None:
    store = Escalations(app_db)
    escalation = _stored(app_db)
    with pytest.raises(EscalationError, match="not offered; choose one of: simpler, weekdays"):
        store.resolve(escalation.id, choice="sometimes", guidance=None, by="alice")
    done = store.resolve(escalation.id, choice="weekdays", guidance="Mon to Fri", by="alice")
    assert (done.state, done.choice, done.guidance, done.resolved_by) == (
        "resolved", "weekdays", "Mon to Fri", "alice",
    )  # fmt: skip
    with pytest.raises(EscalationError, match="already resolved"):
        store.resolve(escalation.id, choice="simpler", guidance=None, by="alice")


def test_the_deadline_applies_the_default(app_db: Database) -> None:
    escalation = _stored(app_db)
    with app_db.transaction() as session:
        assert apply_deadlines_in(session, "s1", ASKED + timedelta(minutes=59)) == []
        (late,) = apply_deadlines_in(session, "s1", ASKED + timedelta(hours=1))
    assert late.id == escalation.id
    assert (late.state, late.choice) == ("defaulted", "simpler")
