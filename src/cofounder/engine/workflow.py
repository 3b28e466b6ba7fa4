"""The build session as one durable DBOS workflow.

The workflow body is deterministic: every decision is a pure function of recorded step outputs,
so after a crash DBOS replays it to the first unrecorded step and carries on from there.
"""

from __future__ import annotations

from typing import Any

import structlog
from dbos import DBOS
from dbos._error import DBOSException
from pydantic import BaseModel, ConfigDict, TypeAdapter

from cofounder.agent.guards import BatchPlan, GuardConfig, GuardState, plan_batch
from cofounder.agent.healing.policy import (
    HealingConfig,
    HealingState,
)
from cofounder.agent.loop import (
    CommitOutput,
    Continue,
    Finish,
    Next,
    Pause,
    Requeue,
    Sleep,
    Thought,
    Turn,
    Wait,
    after_commit,
    after_think,
    stops_to_sleep,
    was_cut_off,
)
from cofounder.engine import runtime, steplog
from cofounder.engine.commit_step import GuardNote
from cofounder.engine.iteration_step import IterationInput, iteration_step
from cofounder.engine.live import bring_back_preview, close_live, live_sessions
from cofounder.engine.steplog import logged_step
from cofounder.engine.steps import (
    finish_step,
    pause_step,
    requeue_step,
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
    """One run of a session on whichever worker dequeued it. The body outside steps runs
    again on every replay: taking the lease and bringing the app back are idempotent."""
    steplog.set_iteration(None)  # this thread may have run another session's workflow
    rt = runtime.current()
    record = rt.sessions.get(session_id)
    assert record is not None
    if DBOS.workflow_id != run_workflow_id(session_id, record.run_number):
        # A run recovered after its session moved on (ended, or a later run started): it
        # has nothing left to do and must not touch the current run's sandbox or lease.
        return record.shown_state
    worker = live_sessions.worker
    structlog.contextvars.bind_contextvars(session_id=session_id, worker=worker)
    rt.queue.claim(session_id, worker)
    live_sessions.begin(session_id)
    ended = "the run stopped"
    try:
        bring_back_preview(rt, session_id)  # the founder's app first, before any thinking
        ended = _run(session_id)
        return ended
    finally:
        # Sleeping, waiting, paused, handed back or finished: nothing the run started
        # outlives it, and the session is held by nobody.
        close_live(rt, session_id, ended)
        live_sessions.end(session_id)
        rt.forget_models(session_id)
        rt.queue.release(session_id, worker)


def run_workflow_id(session_id: str, run_number: int) -> str:
    """Run 1 is the session id itself; a later run (after a sleep, a wait, a pause or a
    hand-back) is `<id>.run<n>`, so enqueueing one twice is harmless."""
    return session_id if run_number == 1 else f"{session_id}.run{run_number}"


def _run(session_id: str) -> str:
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
    """deliver → think → guards → act → heal → commit → next, until `agent.loop` says how the
    run ends. Every decision reads recorded step outputs only."""
    start = StartPoint.model_validate(start_step(session_id))
    config, guard, iteration = start.config, start.guard, start.iteration
    healing_config, healing = start.healing_config, start.healing
    winding_down = False
    steplog.set_iteration(iteration)
    while True:
        thought: Thought = _THOUGHT.validate_python(think_step(session_id))
        if thought.iteration != iteration + 1:  # an iteration of answers came in between
            healing = HealingState.model_validate(thought.healing_state or {})
        iteration = thought.iteration
        steplog.set_iteration(iteration)
        if not isinstance(thought, Turn):
            return _end(session_id, after_think(thought))
        turn = thought.turn
        plan = plan_batch(guard, config, turn.tool_uses)
        guard = plan.state
        committed = CommitOutput.model_validate(
            iteration_step(
                session_id,
                iteration,
                _iteration_input(turn, plan, guard, healing, healing_config, winding_down),
            )
        )
        healing = HealingState.model_validate(committed.healing_state or {})
        guard_stop = None if plan.stop is None else (plan.stop, plan.stop_reason or plan.stop)
        next_move = after_commit(
            turn, committed, guard_stop=guard_stop, winding_down=winding_down, config=config
        )
        winding_down = committed.wind_down
        if not isinstance(next_move, Continue):
            return _end(session_id, next_move)
        if next_move.backoff_s:
            DBOS.sleep(next_move.backoff_s)  # the environment may recover: back off, durably


def _end(session_id: str, move: Next) -> str:
    """Carry out how the run ends; returns the session's state or outcome."""
    match move:
        case Finish(outcome=outcome, reason=reason):
            return finish_step(session_id, outcome, reason)
        case Pause(reason=reason):
            return pause_step(session_id, reason)
        case Wait():
            return wait_step(session_id)
        case Sleep(wake_at=wake_at, reason=reason):
            return sleep_step(session_id, wake_at, reason)
        case Requeue():
            return requeue_step(session_id)
    raise AssertionError(f"not an end: {move!r}")


def _iteration_input(
    turn: AssistantTurn,
    plan: BatchPlan,
    guard: GuardState,
    healing: HealingState,
    healing_config: HealingConfig,
    winding_down: bool,
) -> dict[str, Any]:
    """The recorded input of the act-and-commit step for this turn."""
    calls = turn.tool_uses
    decided = list(zip(calls, plan.decisions, strict=True))
    followup = None
    if was_cut_off(turn):
        followup = CUT_OFF_FOLLOWUP
    elif stops_to_sleep(turn, winding_down=winding_down):
        followup = WAKE_FOLLOWUP
    return IterationInput(
        turn=turn,
        to_run=[c for c, d in decided if d.action == "run"],
        guard_notes=[
            GuardNote(tool_use_id=c.id, name=c.name, action=d.action, message=d.message)
            for c, d in decided
            if d.action != "run"
        ],
        guard_state=guard.model_dump(mode="json"),
        tool_calls=guard.tool_calls,
        healing_state=healing.model_dump(mode="json"),
        healing_config=healing_config,
        followup=followup,
    ).model_dump(mode="json")


_THOUGHT: TypeAdapter[Thought] = TypeAdapter(Thought)


WAKE_FOLLOWUP = (
    "The budget allowance has refreshed, so work continues. Pick up where you stopped; if the "
    "whole build is finished and verified, reply without calling tools."
)

CUT_OFF_FOLLOWUP = (
    "Your last reply hit the output limit and was cut off. Continue from where you stopped, "
    "in smaller pieces (for a big file, write it in parts)."
)
