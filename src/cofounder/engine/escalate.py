"""Escalations in the engine: record questions in the commit, deliver answers exactly once.

Questions come from two places: the healing policy (three failed approaches, a never-retry
error, a loop) and the agent's own `ask_founder` tool. Both are recorded in the iteration's
commit transaction. An answer (or the default at the deadline) is delivered by `deliver_step`
at the top of the next iteration as a founder message of its own iteration, in one transaction
with marking it delivered — so it reaches the model once, whatever crashes in between.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dbos import DBOS
from sqlalchemy.orm import Session

from cofounder.agent.healing.escalation import founder_reply
from cofounder.agent.healing.policy import HealingState, resolved
from cofounder.engine import runtime
from cofounder.engine.faults import crash_point
from cofounder.events import Escalated, FounderMessage, Resolved, WaitingForInput
from cofounder.llm import Message, TextBlock
from cofounder.questions import ASKED_KEY, Question
from cofounder.storage import Checkpoint
from cofounder.storage.escalations import (
    Escalation,
    apply_deadlines_in,
    insert_in,
    mark_delivered_in,
    undelivered_in,
)
from cofounder.storage.events import append_in
from cofounder.storage.founder_messages import FounderMessageRecord
from cofounder.storage.founder_messages import mark_delivered_in as mark_said_in
from cofounder.storage.founder_messages import undelivered_in as said_undelivered_in
from cofounder.storage.sessions import row_in
from cofounder.storage.transcript import (
    append_messages_in,
    latest_checkpoint_in,
    save_checkpoint_in,
)
from cofounder.tools import EscalationEffect


def numbered(asked: list[EscalationEffect], iteration: int) -> list[Question]:
    """The agent's own questions of an iteration, keyed `ask:<iteration>:<n>` so that each
    names its own problem (the tool cannot know the iteration)."""
    return [
        effect.question.model_copy(update={"key": f"{ASKED_KEY}:{iteration}:{n}"})
        for n, effect in enumerate(asked)
    ]


def record_in(
    session: Session,
    session_id: str,
    iteration: int,
    questions: list[Question],
    deadline_s: int,
) -> None:
    """Record this iteration's questions and announce them (idempotent: ids are positional)."""
    now = datetime.now(UTC)
    for index, question in enumerate(questions):
        escalation = Escalation(
            **dict(question),
            id=f"{session_id}-{iteration}-{index}",
            session_id=session_id,
            iteration=iteration,
            deadline=now + timedelta(seconds=deadline_s),
            state="open",
            created_at=now,
        )
        if not insert_in(session, escalation):
            continue
        append_in(
            session,
            session_id,
            Escalated(
                iteration=iteration,
                id=escalation.id,
                reason=escalation.reason,
                problem=escalation.problem,
                error=escalation.error,
                tried=list(escalation.tried),
                recommendation=escalation.recommendation,
                options=list(escalation.options),
                default=escalation.default_option,
                deadline=escalation.deadline,
                can_continue=escalation.can_continue,
            ),
        )
        append_in(
            session,
            session_id,
            WaitingForInput(
                escalation_id=escalation.id,
                deadline=escalation.deadline,
                blocking=not escalation.can_continue,
            ),
        )


def founder_message(escalation: Escalation) -> str:
    assert escalation.choice is not None
    return founder_reply(
        escalation,
        escalation.choice,
        escalation.guidance,
        defaulted=escalation.state == "defaulted",
    )


def founder_said(message: FounderMessageRecord) -> str:
    """A message the founder sent mid-build, as the model reads it."""
    return (
        "[Message from the founder, sent while you were working. Acknowledge it in your next "
        f"narration and adapt your plan to it.]\n{message.text}"
    )


@DBOS.step(name="cofounder.deliver")
def deliver_step(session_id: str) -> dict[str, Any]:
    """Deliver answered (or timed-out) questions, and what the founder said meanwhile, as one
    founder message of its own iteration.

    Returns the latest committed iteration and its healing state either way, so a replay after
    a crash that already delivered continues from the right place.
    """
    rt = runtime.current()
    with rt.db.transaction() as session:
        apply_deadlines_in(session, session_id, datetime.now(UTC))
        answered = [e for e in undelivered_in(session, session_id) if e.state != "open"]
        said = said_undelivered_in(session, session_id)
        last = latest_checkpoint_in(session, session_id)
        assert last is not None
        if answered or said:
            iteration = last.iteration + 1
            healing = HealingState.model_validate(last.healing_state or {})
            for escalation in answered:
                healing = resolved(healing, escalation.key)
            parts = [founder_message(e) for e in answered] + [founder_said(m) for m in said]
            text = "\n\n".join(parts)
            message = Message(role="user", content=[TextBlock(text=text)])
            append_messages_in(session, session_id, iteration, last.message_count, [message])
            last = Checkpoint(
                session_id=session_id,
                iteration=iteration,
                message_count=last.message_count + 1,
                snapshot_id=last.snapshot_id,
                guard_state=last.guard_state,
                healing_state=healing.model_dump(mode="json"),
                phase=last.phase,
                elapsed_seconds=last.elapsed_seconds,
            )
            save_checkpoint_in(session, last)
            row_in(session, session_id).iteration = iteration
            mark_said_in(session, [m.id for m in said], iteration)
            for m in said:
                event = FounderMessage(iteration=iteration, message_id=m.id, text=m.text, by=m.by)
                append_in(session, session_id, event)
            for escalation in answered:
                mark_delivered_in(session, escalation.id, iteration)
                append_in(
                    session,
                    session_id,
                    Resolved(
                        escalation_id=escalation.id,
                        iteration=iteration,
                        choice=escalation.choice,
                        guidance=escalation.guidance,
                        defaulted=escalation.state == "defaulted",
                        by=escalation.resolved_by,
                    ),
                )
    if answered or said:
        crash_point("deliver.after")
    return {"iteration": last.iteration, "healing_state": last.healing_state}
