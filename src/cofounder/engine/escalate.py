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
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from cofounder.agent.healing.escalation import EscalationDraft, reply_text
from cofounder.agent.healing.policy import HealingState, resolved
from cofounder.engine import runtime
from cofounder.engine.faults import crash_point
from cofounder.events import Choice, Escalated, Resolved, WaitingForInput
from cofounder.llm import Message, TextBlock
from cofounder.storage import Checkpoint
from cofounder.storage.escalations import (
    Escalation,
    EscalationChoice,
    apply_deadlines_in,
    insert_in,
    mark_delivered_in,
    undelivered_in,
)
from cofounder.storage.events import append_in
from cofounder.storage.sessions import row_in
from cofounder.storage.transcript import (
    append_messages_in,
    latest_checkpoint_in,
    save_checkpoint_in,
)
from cofounder.tools import EscalationEffect


class NewEscalation(BaseModel):
    """A question about to be recorded (the commit gives it an id and a deadline)."""

    model_config = ConfigDict(frozen=True)

    key: str
    reason: str
    problem: str
    error: str = ""
    tried: list[str]
    recommendation: str
    options: list[EscalationChoice]
    default_option: str
    can_continue: bool = False
    deadline_s: int


def from_draft(draft: EscalationDraft) -> NewEscalation:
    return NewEscalation(
        key=draft.key,
        reason=draft.reason,
        problem=draft.problem,
        error=draft.error,
        tried=list(draft.attempts),
        recommendation=draft.recommendation,
        options=[
            EscalationChoice(key=o.key, label=o.label, description=o.description)
            for o in draft.options
        ],
        default_option=draft.default_option,
        deadline_s=draft.deadline_s,
    )


def from_question(
    effect: EscalationEffect, *, iteration: int, index: int, deadline_s: int
) -> NewEscalation:
    return NewEscalation(
        key=f"ask:{iteration}:{index}",
        reason="asked",
        problem=effect.problem,
        tried=effect.tried,
        recommendation=effect.recommendation,
        options=[EscalationChoice(key=o.key, label=o.label) for o in effect.options],
        default_option=effect.default,
        can_continue=effect.can_continue,
        deadline_s=deadline_s,
    )


def record_in(
    session: Session, session_id: str, iteration: int, questions: list[NewEscalation]
) -> None:
    """Record this iteration's questions and announce them (idempotent: ids are positional)."""
    now = datetime.now(UTC)
    for index, question in enumerate(questions):
        escalation = Escalation(
            id=f"{session_id}-{iteration}-{index}",
            session_id=session_id,
            iteration=iteration,
            key=question.key,
            reason=question.reason,
            problem=question.problem,
            error=question.error,
            tried=question.tried,
            recommendation=question.recommendation,
            options=question.options,
            default_option=question.default_option,
            can_continue=question.can_continue,
            deadline=now + timedelta(seconds=question.deadline_s),
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
                tried=escalation.tried,
                recommendation=escalation.recommendation,
                options=[Choice(**o.model_dump()) for o in escalation.options],
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
    option = escalation.option(escalation.choice)
    return reply_text(
        escalation.problem,
        escalation.choice,
        option.label if option else escalation.choice,
        escalation.guidance,
        defaulted=escalation.state == "defaulted",
    )


@DBOS.step(name="cofounder.deliver")
def deliver_step(session_id: str) -> dict[str, Any]:
    """Deliver answered (or timed-out) questions as one founder message, its own iteration.

    Returns the latest committed iteration and its healing state either way, so a replay after
    a crash that already delivered continues from the right place.
    """
    rt = runtime.current()
    with rt.db.transaction() as session:
        apply_deadlines_in(session, session_id, datetime.now(UTC))
        answered = [e for e in undelivered_in(session, session_id) if e.state != "open"]
        last = latest_checkpoint_in(session, session_id)
        assert last is not None
        if answered:
            iteration = last.iteration + 1
            healing = HealingState.model_validate(last.healing_state or {})
            for escalation in answered:
                healing = resolved(healing, escalation.key)
            text = "\n\n".join(founder_message(e) for e in answered)
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
    if answered:
        crash_point("deliver.after")
    return {"iteration": last.iteration, "healing_state": last.healing_state}
