"""One recorded step per iteration after the think: run the batch, heal, commit.

The batch and its commit share a step because nothing between them needs recording: the
healing plan is a pure function of the results. A crash before the step is recorded redoes
the batch from the last committed snapshot (invariant 1), unless the commit already went in,
which the step checks first: then the stored outcome is returned and no tool runs again.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS
from pydantic import BaseModel, ConfigDict

from cofounder.agent.healing.policy import (
    HealingConfig,
    HealingState,
    observations,
    plan_healing,
)
from cofounder.engine import runtime
from cofounder.engine.commit_step import CommitInput, GuardNote, commit
from cofounder.engine.escalate import numbered
from cofounder.engine.steps import ActOutput, run_batch
from cofounder.llm import AssistantTurn, ToolUseBlock
from cofounder.tools import ToolResult


class IterationInput(BaseModel):
    """The turn, what the guards decided for its calls, and the state the workflow holds."""

    model_config = ConfigDict(frozen=True)

    turn: AssistantTurn
    to_run: list[ToolUseBlock]  # the calls the guards let run, in order
    guard_notes: list[GuardNote]  # the others, answered instead of run
    guard_state: dict[str, Any]
    tool_calls: int
    healing_state: dict[str, Any]
    healing_config: HealingConfig
    followup: str | None = None


@DBOS.step(name="cofounder.iteration")
def iteration_step(session_id: str, iteration: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Run the batch (unless this iteration is already committed), then commit it: a
    `CommitOutput` carrying the healing state to go on with."""
    data = IterationInput.model_validate(payload)
    last = runtime.current().transcript.latest_checkpoint(session_id)
    assert last is not None
    if last.iteration >= iteration:  # committed, but the step's completion was not recorded
        return commit(session_id, iteration, None).model_dump(mode="json")
    acted = run_batch(session_id, iteration, data.to_run, last) if data.to_run else None
    healing = HealingState.model_validate(data.healing_state)
    # Only calls that ran count: a steered or skipped call's "not run" is not a failure.
    healed = (
        plan_healing(healing, data.healing_config, observations(data.to_run, acted.results))
        if acted is not None
        else None
    )
    if healed is not None:
        healing = healed.state
    questions = list(healed.escalations) if healed else []
    questions += numbered(acted.asked, iteration) if acted else []
    return commit(
        session_id,
        iteration,
        CommitInput(
            turn=data.turn,
            results=_results_in_order(data.turn, data.guard_notes, acted),
            guard_state=data.guard_state,
            tool_calls=data.tool_calls,
            snapshot_id=acted.snapshot_id if acted else None,
            phase=acted.phase if acted else None,
            events=acted.events if acted else [],
            followup=data.followup,
            healing_state=healing.model_dump(mode="json"),
            healing_text=(healed.text or None) if healed else None,
            healing_notes=list(healed.notes) if healed else [],
            questions=questions,
            question_deadline_s=data.healing_config.escalation_deadline_s,
            guard_notes=data.guard_notes,
        ),
        retry_after_s=healed.retry_after_s if healed else None,
    ).model_dump(mode="json")


def _results_in_order(
    turn: AssistantTurn, notes: list[GuardNote], acted: ActOutput | None
) -> list[ToolResult]:
    """Exactly one result per tool_use, in the order the model asked for them."""
    answered = {note.tool_use_id: note for note in notes}
    executed = iter(acted.results if acted else [])
    results: list[ToolResult] = []
    for call in turn.tool_uses:
        note = answered.get(call.id)
        if note is not None:
            results.append(ToolResult(tool_use_id=call.id, ok=False, content=note.message))
            continue
        result = next(executed)
        assert result.tool_use_id == call.id
        results.append(result)
    return results
