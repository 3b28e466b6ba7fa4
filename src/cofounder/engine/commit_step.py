"""The commit: one transaction that makes an iteration durable (run by the iteration step).

The turn and its results join the transcript, the checkpoint records the snapshot and guard
state, the call's cost is settled in the ledger, and the events go out — all or nothing, so a
crash either leaves the iteration to be redone or fully recorded, never half.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cofounder.agent.healing.policy import HealingNote
from cofounder.agent.loop import CommitOutput
from cofounder.budget import wind_down_due
from cofounder.engine import runtime
from cofounder.engine.budget import budget_note, owner_status_in, settle_in
from cofounder.engine.escalate import record_in
from cofounder.engine.faults import crash_point
from cofounder.engine.images import image_blocks
from cofounder.engine.live import live_sessions
from cofounder.engine.steplog import logged_step
from cofounder.events import (
    AnyEvent,
    BudgetUpdated,
    IterationCommitted,
    Retrying,
    ToolSteered,
)
from cofounder.llm import AssistantTurn, Message
from cofounder.llm.messages import ContentBlock, TextBlock, ToolResultBlock
from cofounder.questions import Question
from cofounder.storage import Checkpoint
from cofounder.storage.escalations import count_in, undelivered_in
from cofounder.storage.events import append_all_in
from cofounder.storage.ledger import CallKey
from cofounder.storage.sessions import row_in
from cofounder.storage.transcript import (
    append_messages_in,
    latest_checkpoint_in,
    save_checkpoint_in,
)
from cofounder.tools import ToolResult


class GuardNote(BaseModel):
    """A tool call a guard answered instead of running (steered or skipped)."""

    model_config = ConfigDict(frozen=True)

    tool_use_id: str
    name: str
    action: str
    message: str


class CommitInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    turn: AssistantTurn
    results: list[ToolResult]
    guard_state: dict[str, Any]
    tool_calls: int
    snapshot_id: str | None
    phase: str | None
    guard_notes: list[GuardNote] = []
    followup: str | None = None
    healing_state: dict[str, Any] = {}
    healing_text: str | None = None  # steering after the results; never replaces a result
    healing_notes: list[HealingNote] = []
    questions: list[Question] = []
    question_deadline_s: int = Field(ge=1)  # the default answer applies after it
    events: list[AnyEvent] = []  # the batch's, not yet appended


@logged_step("commit")
def commit(
    session_id: str,
    iteration: int,
    data: CommitInput | None,
    *,
    retry_after_s: float | None = None,
) -> CommitOutput:
    """Append the turn and its results to the transcript, checkpoint, and emit — atomically.

    Idempotent: if this iteration was already committed (the step ran but its completion was
    not recorded; `data` may then be None), the stored outcome is returned unchanged.
    """
    rt = runtime.current()
    crash_point("commit.before")
    with rt.db.transaction() as session:
        row = row_in(session, session_id)
        live_sessions.check_holder(row.worker)  # fencing: a taken-over worker commits nothing
        previous = latest_checkpoint_in(session, session_id)
        assert previous is not None
        # Already committed (the step ran but its completion was not recorded): it is the latest.
        done = previous if previous.iteration == iteration else None
        if done is None:
            assert previous.iteration == iteration - 1 and data is not None
            usage = data.turn.usage
            cost = rt.prices.cost_microdollars(row.model_spec, usage)
            budget, held = settle_in(
                session,
                rt,
                row.owner,
                row.tier,
                CallKey(session_id=session_id, iteration=iteration, purpose="turn"),
                model_spec=row.model_spec,
                usage=usage,
                cost=cost,
            )
            wind_down = wind_down_due(budget, held, rt.settings.wind_down_at)
            pacing = TextBlock(text=budget_note(budget, wind_down=wind_down))
            messages = [data.turn.as_message()]
            if data.results:
                results: list[ContentBlock] = [
                    ToolResultBlock(tool_use_id=r.tool_use_id, content=r.content, is_error=not r.ok)
                    for r in data.results
                ]
                images = [b for r in data.results for b in image_blocks(r)]
                steering = [TextBlock(text=data.healing_text)] if data.healing_text else []
                messages.append(
                    Message(role="user", content=[*results, *images, *steering, pacing])
                )
            if data.followup:
                messages.append(
                    Message(role="user", content=[TextBlock(text=data.followup), pacing])
                )
            append_messages_in(session, session_id, iteration, previous.message_count, messages)
            now = datetime.now(UTC)
            started = live_sessions.started_at(session_id)
            since = max(previous.created_at, started or previous.created_at)
            elapsed = previous.elapsed_seconds + (now - since).total_seconds()
            phase = data.phase if data.phase is not None else previous.phase
            save_checkpoint_in(
                session,
                Checkpoint(
                    session_id=session_id,
                    iteration=iteration,
                    message_count=previous.message_count + len(messages),
                    snapshot_id=(
                        previous.snapshot_id if data.snapshot_id is None else data.snapshot_id
                    ),
                    guard_state=data.guard_state,
                    healing_state=data.healing_state,
                    phase=phase,
                    elapsed_seconds=elapsed,
                ),
            )
            row.spend_microdollars += cost
            row.iteration = iteration
            row.tool_calls = data.tool_calls
            row.phase = phase
            row.input_tokens += usage.input_tokens
            row.output_tokens += usage.output_tokens
            row.updated_at = datetime.now(UTC)
            healing_state = data.healing_state
            before = [
                *data.events,
                *(
                    Retrying(iteration=iteration, **note.model_dump(mode="json"))
                    for note in data.healing_notes
                    if note.kind in ("steer", "retry", "nudge")
                ),
            ]
            if data.questions:  # their events go between: appended by record_in
                append_all_in(session, session_id, before)
                record_in(session, session_id, iteration, data.questions, data.question_deadline_s)
                before = []
            steered = [ToolSteered(iteration=iteration, **n.model_dump()) for n in data.guard_notes]
            committed = IterationCommitted(
                iteration=iteration,
                tool_calls=data.tool_calls,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                cost_microdollars=cost,
            )
            budget_event = BudgetUpdated(
                iteration=iteration,
                percent=budget.percent,
                spent_microdollars=budget.spent,
                allowance_microdollars=budget.allowance,
                remaining_microdollars=budget.remaining,
                window_end=budget.window_end,
                wind_down=wind_down,
            )
            append_all_in(session, session_id, [*before, *steered, committed, budget_event])
        else:
            elapsed = done.elapsed_seconds
            healing_state = done.healing_state
            budget = owner_status_in(session, rt, row.owner, row.tier)
            wind_down = wind_down_due(budget, 0, rt.settings.wind_down_at)
        cancel = row.cancel_requested
        open_questions = [e for e in undelivered_in(session, session_id) if e.state == "open"]
        waiting = any(not e.can_continue for e in open_questions)
        ceiling = bool(open_questions) and (
            count_in(session, session_id) >= rt.settings.max_escalations
        )
    crash_point("commit.after")
    return CommitOutput(
        waiting=waiting,
        escalation_ceiling=ceiling,
        elapsed_seconds=elapsed,
        cancel_requested=cancel,
        wind_down=wind_down,
        window_end=budget.window_end.isoformat(),
        healing_state=healing_state,
        retry_after_s=retry_after_s,
        drain=live_sessions.draining,
    )
