"""Recording an iteration's questions on real databases: the healing policy's question and
the agent's own (numbered `ask:<iteration>:<n>`) become escalations with the question's own
fields, are announced in the published `escalated` shape, and a replayed commit records
nothing twice; the answer reaches the model in the founder's words."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from cofounder.agent.healing.escalation import draft_escalation
from cofounder.engine.escalate import founder_message, numbered, record_in
from cofounder.events import Escalated, WaitingForInput
from cofounder.storage import Database, EventLog
from cofounder.storage.escalations import Escalations
from cofounder.tools import EscalationEffect
from fakes.question_samples import WEEKENDS

GOLDEN = Path(__file__).parents[2] / "golden" / "events.jsonl"

HEALED = draft_escalation(
    key="sig:npm-build",
    reason="attempts_exhausted",
    category="ordinary",
    label="npm run build",
    error="Cannot find module 'vite'",
    attempts=("`npm run build`", "`npm install vite && npm run build`"),
    count=3,
)
ASKED = EscalationEffect(question=WEEKENDS)


def _record(db: Database) -> None:
    with db.transaction() as session:
        record_in(session, "s1", 4, [HEALED, *numbered([ASKED, ASKED], 4)], 3600)


def test_questions_become_escalations_with_their_own_fields(app_db: Database) -> None:
    _record(app_db)
    stored = Escalations(app_db).for_session("s1")
    assert [e.id for e in stored] == ["s1-4-0", "s1-4-1", "s1-4-2"]
    assert [e.key for e in stored] == ["sig:npm-build", "ask:4:0", "ask:4:1"]
    healed, asked = stored[0], stored[1]
    assert {name: getattr(healed, name) for name in type(HEALED).model_fields} == dict(HEALED)
    assert asked.options == ASKED.question.options and asked.can_continue
    assert healed.state == "open" and healed.iteration == 4
    assert healed.deadline == healed.created_at + timedelta(seconds=3600)


def test_they_are_announced_in_the_published_shape_and_only_once(app_db: Database) -> None:
    _record(app_db)
    _record(app_db)  # the commit replayed after a crash
    bodies = [e.body for e in EventLog(app_db).read("s1")]
    assert [type(b) for b in bodies] == [Escalated, WaitingForInput] * 3
    golden = next(
        json.loads(line)["payload"]
        for line in GOLDEN.read_text(encoding="utf-8").splitlines()
        if json.loads(line)["type"] == "escalated"
    )
    first = bodies[0]
    assert isinstance(first, Escalated)
    payload = first.model_dump(mode="json", exclude={"type"})
    assert set(payload) == set(golden)
    assert set(payload["options"][0]) == set(golden["options"][0])
    assert payload["default"] == "simpler_version" and payload["reason"] == "attempts_exhausted"
    waiting = bodies[3]
    assert isinstance(waiting, WaitingForInput) and not waiting.blocking  # can_continue


def test_the_answer_reaches_the_model_in_the_founders_words(app_db: Database) -> None:
    _record(app_db)
    store = Escalations(app_db)
    answered = store.resolve("s1-4-0", choice="skip_feature", guidance="Ship it", by="alice")
    text = founder_message(answered)
    assert text.startswith("The founder answered. Your question was: npm run build keeps")
    assert "Choice: Skip this feature." in text and "Their guidance: Ship it" in text
