"""The build session as one durable DBOS workflow.

The workflow body is deterministic: every decision is a pure function of recorded step outputs,
so after a crash DBOS replays it to the first unrecorded step and carries on from there.
"""

from __future__ import annotations

from typing import Any

import structlog
from dbos import DBOS
from dbos._error import DBOSException
from pydantic import BaseModel, ConfigDict

from cofounder.agent.guards import GuardConfig, GuardState, plan_batch, wall_clock_exceeded
from cofounder.agent.healing.policy import (
    HealingConfig,
    HealingState,
)
from cofounder.engine import runtime, steplog
from cofounder.engine.commit_step import CommitOutput, GuardNote
from cofounder.engine.iteration_step import IterationInput, iteration_step
from cofounder.engine.steplog import logged_step
from cofounder.engine.steps import (
    finish_step,
    pause_step,
    sleep_step,
    think_step,
    wait_step,
)
from cofounder.llm import AssistantTurn

WORKFLOW_NAME = "cofounder.build_session"
log = structlog.get_logger(__name__)


class StartPoint(BaseModel):
    """Where a run begins: the last committed iteration and its guard state."""

    model_config = ConfigDict(frozen=True)

    config: GuardConfig
    iteration: int
    guard: GuardState
    healing_config: HealingConfig
    healing: HealingState


@DBOS.step(name="cofounder.start")
@logged_step("start")
def start_step(session_id: str) -> dict[str, Any]:
    """Fix the guard configuration and the starting point for this run of the session."""
    rt = runtime.current()
    record = rt.sessions.get(session_id)
    assert record is not None
    last = rt.transcript.latest_checkpoint(session_id)
    assert last is not None
    steplog.set_iteration(last.iteration)
    return StartPoint(
        config=GuardConfig(
            max_tool_calls=record.max_tool_calls,
            max_wall_seconds=record.max_wall_seconds,
            repetition_window=rt.settings.repetition_window,
            repetition_threshold=rt.settings.repetition_threshold,
        ),
        iteration=last.iteration,
        guard=GuardState.model_validate(last.guard_state),
        healing_config=HealingConfig(
            max_escalations=rt.settings.max_escalations,
            escalation_deadline_s=rt.settings.escalation_deadline_seconds,
        ),
        healing=HealingState.model_validate(last.healing_state or {}),
    ).model_dump(mode="json")


@DBOS.workflow(name=WORKFLOW_NAME)
def build_session(session_id: str) -> str:
    steplog.set_iteration(None)  # this thread may have run another session's workflow
    try:
        return _iterate(session_id)
    except DBOSException:
        raise  # DBOS's own signals (nondeterminism, recovery limits) are not ours to absorb
    except Exception as exc:
        # A step that raised is recorded as raising, so on replay this path is taken again:
        # the session ends `failed` with the cause instead of staying "running" forever.
        log.exception("session_internal_error", session_id=session_id)
        return finish_step(session_id, "failed", f"internal error: {type(exc).__name__}: {exc}")


def _iterate(session_id: str) -> str:
    start = StartPoint.model_validate(start_step(session_id))
    config, guard, iteration = start.config, start.guard, start.iteration
    healing_config, healing = start.healing_config, start.healing
    winding_down = False
    steplog.set_iteration(iteration)
    while True:
        # Answers from the founder (or defaults at a deadline) join first, as their own turn.
        thought = think_step(session_id)
        if thought["iteration"] != iteration + 1:  # an iteration of answers came in between
            healing = HealingState.model_validate(thought["healing_state"] or {})
        iteration = thought["iteration"]
        steplog.set_iteration(iteration)
        if thought.get("cancelled"):
            return finish_step(session_id, "cancelled", "cancelled by request")
        if "unavailable" in thought:
            return pause_step(session_id, f"the model is unavailable: {thought['unavailable']}")
        if "error" in thought:
            return finish_step(session_id, "failed", f"the model failed: {thought['error']}")
        if "too_big" in thought:
            return finish_step(session_id, "budget_too_small", thought["too_big"])
        if "sleep" in thought:
            return sleep_step(session_id, thought["sleep"]["wake_at"], thought["sleep"]["reason"])
        turn = AssistantTurn.model_validate(thought["turn"])
        # Told to wind down, the model replies without tools at a safe stopping point: that is
        # a pause until the allowance refreshes, not the end of the build.
        stops_to_sleep = winding_down and not turn.tool_uses and not _was_cut_off(turn)
        calls = turn.tool_uses
        plan = plan_batch(guard, config, calls)
        guard = plan.state
        committed = CommitOutput.model_validate(
            iteration_step(
                session_id,
                iteration,
                IterationInput(
                    turn=turn,
                    to_run=[
                        c for c, d in zip(calls, plan.decisions, strict=True) if d.action == "run"
                    ],
                    guard_notes=[
                        GuardNote(tool_use_id=c.id, name=c.name, action=d.action, message=d.message)
                        for c, d in zip(calls, plan.decisions, strict=True)
                        if d.action != "run"
                    ],
                    guard_state=guard.model_dump(mode="json"),
                    tool_calls=guard.tool_calls,
                    healing_state=healing.model_dump(mode="json"),
                    healing_config=healing_config,
                    followup=(
                        CUT_OFF_FOLLOWUP
                        if _was_cut_off(turn)
                        else WAKE_FOLLOWUP
                        if stops_to_sleep
                        else None
                    ),
                ).model_dump(mode="json"),
            )
        )
        healing = HealingState.model_validate(committed.healing_state or {})
        winding_down = committed.wind_down
        if plan.stop is not None:
            return finish_step(session_id, plan.stop, plan.stop_reason or plan.stop)
        if committed.escalation_ceiling:
            return pause_step(
                session_id,
                "the build has asked the founder as many questions as it may; it continues "
                "once they are answered (`cofounder escalations`, then `cofounder resume`)",
            )
        if committed.waiting:
            return wait_step(session_id)
        if committed.retry_after_s:
            DBOS.sleep(committed.retry_after_s)  # the environment may recover: back off, durably
        if stops_to_sleep:
            return sleep_step(
                session_id, committed.window_end, "the agent wound down as the budget ran low"
            )
        if not calls and not _was_cut_off(turn):
            return finish_step(session_id, "completed", "the agent reported the build finished")
        if committed.cancel_requested:
            return finish_step(session_id, "cancelled", "cancelled by request")
        over = wall_clock_exceeded(committed.elapsed_seconds, config)
        if over:
            return finish_step(session_id, "iteration_limit", over)


WAKE_FOLLOWUP = (
    "The budget allowance has refreshed, so work continues. Pick up where you stopped; if the "
    "whole build is finished and verified, reply without calling tools."
)

CUT_OFF_FOLLOWUP = (
    "Your last reply hit the output limit and was cut off. Continue from where you stopped, "
    "in smaller pieces (for a big file, write it in parts)."
)


def _was_cut_off(turn: AssistantTurn) -> bool:
    """A reply truncated by max_tokens with no tool call is not a finish: ask it to go on."""
    return turn.stop_reason == "max_tokens" and not turn.tool_uses
