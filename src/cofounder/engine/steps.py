"""The durable steps of a build session: think, the batch (run by the iteration step, with
its commit), and the ends (finish, pause, sleep, wait).

Each is (or runs inside) a DBOS step, so once its output is recorded a crash never repeats it:
a model turn is never requested (or paid for) twice, and a tool batch is redone only when its
iteration was not committed, from the workspace as the last committed iteration left it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from dbos import DBOS
from pydantic import BaseModel, ConfigDict

from cofounder.agent.loop import (
    Asleep,
    Cancelled,
    Failed,
    PauseRequested,
    TooBig,
    Turn,
    Unavailable,
)
from cofounder.engine import runtime, steplog, telemetry
from cofounder.engine import workspace as workspace_state
from cofounder.engine.budget import BudgetBlocked, reserve_in
from cofounder.engine.context import prepare_request
from cofounder.engine.escalate import deliver_step
from cofounder.engine.faults import crash_point
from cofounder.engine.images import store_images
from cofounder.engine.live import LiveSession, close_live, live_sessions, open_live, record_preview
from cofounder.engine.outcomes import (
    record_outcome,
    record_pause,
    record_requeue,
    record_sleep,
    record_waiting,
)
from cofounder.engine.steplog import logged_step
from cofounder.events import (
    AnyEvent,
    AssistantText,
    BudgetExhausted,
    DocumentationUpdated,
    ModelFailed,
    ModelUnavailable,
    Narration,
    PhaseCompleted,
    PhaseStarted,
    Thinking,
    ToolCalled,
    ToolStarted,
)
from cofounder.llm import (
    AssistantTurn,
    ModelError,
    ToolUseBlock,
)
from cofounder.llm.messages import ContentBlock, TextBlock
from cofounder.llm.protocol import ModelUnavailableError
from cofounder.project import ProjectSpec
from cofounder.redaction import redact, redact_env_secrets, redact_value
from cofounder.storage import Checkpoint
from cofounder.storage.events import Occurrences, append_all_in
from cofounder.storage.ledger import CallKey
from cofounder.tools import (
    DocumentEffect,
    EscalationEffect,
    NarrationEffect,
    PhaseEffect,
    PreviewEffect,
    ToolBox,
    ToolResult,
    changes_workspace,
)

log = structlog.get_logger(__name__)


class ActOutput(BaseModel):
    model_config = ConfigDict(frozen=True)

    results: list[ToolResult]
    snapshot_id: str | None  # None: the batch could not change the workspace
    phase: str | None
    asked: list[EscalationEffect] = []
    events: list[AnyEvent] = []  # not yet appended: the commit appends them


def toolbox_for(live: LiveSession) -> ToolBox:
    return ToolBox(
        live.sandbox,
        output_limit_chars=runtime.current().settings.tool_output_limit_chars,
        preview=live.preview,
    )


@DBOS.step(name="cofounder.think")
@logged_step("think")
def think_step(session_id: str) -> dict[str, Any]:
    """Deliver the founder's answers, then ask the model for the next turn.

    Answered (or timed-out) questions join first as their own iteration (`deliver_step`, run
    here as a plain function: one recorded step less per iteration). The answer is one of the
    `agent.loop.Thought` models, recorded as JSON: it carries the iteration this turn is for
    and the last committed healing state.
    """
    delivered = deliver_step(session_id)
    iteration = int(delivered["iteration"]) + 1
    steplog.set_iteration(iteration)
    thought = _think(session_id, iteration, delivered["healing_state"])
    return thought.model_dump(mode="json")


def _think(
    session_id: str, iteration: int, healing: dict[str, Any] | None
) -> Turn | Cancelled | PauseRequested | Unavailable | Failed | TooBig | Asleep:
    at = {"iteration": iteration, "healing_state": healing}
    rt = runtime.current()
    once = Occurrences()  # a re-run after a crash shows the founder nothing twice
    record = rt.sessions.get(session_id)
    assert record is not None
    if record.cancel_requested:
        return Cancelled(**at)  # checked before paying for another turn
    if record.pause_requested:
        return PauseRequested(**at)
    spec = ProjectSpec.model_validate_json(record.project_json)
    try:
        prepared = prepare_request(rt, record, spec, iteration)
        with rt.db.transaction() as session:  # the reservation and its event, together
            reserve_in(
                session,
                rt,
                record,
                CallKey(session_id=session_id, iteration=iteration, purpose="turn"),
                record.model_spec,
                input_tokens=prepared.context_tokens,
                max_tokens=prepared.request.max_tokens,
            )
            append_all_in(
                session,
                session_id,
                [Thinking(iteration=iteration, context_tokens=prepared.context_tokens)],
                once=once,
            )
        crash_point("think.before_model")
        model, max_tokens = record.model_spec, prepared.request.max_tokens
        with telemetry.model_call(session_id, iteration, model, max_tokens=max_tokens) as call:
            turn = rt.model(session_id, model).complete(prepared.request)
            call.finished(turn)
    except BudgetBlocked as blocked:
        return _blocked(session_id, iteration, blocked, healing)
    except ModelUnavailableError as exc:
        log.warning("model_unavailable", session_id=session_id, iteration=iteration, error=str(exc))
        rt.events.append(session_id, ModelUnavailable(iteration=iteration, error=str(exc)))
        return Unavailable(**at, error=str(exc))
    except ModelError as exc:
        log.error("model_failed", session_id=session_id, iteration=iteration, error=str(exc))
        rt.events.append(session_id, ModelFailed(iteration=iteration, error=str(exc)))
        return Failed(**at, error=str(exc))
    crash_point("think.after_model")
    turn = _redacted_turn(turn)
    if turn.text:
        rt.events.append_all(
            session_id, [AssistantText(iteration=iteration, text=turn.text)], once=once
        )
    return Turn(**at, turn=turn)


def _blocked(
    session_id: str, iteration: int, blocked: BudgetBlocked, healing: dict[str, Any] | None
) -> TooBig | Asleep:
    decision = blocked.decision
    status = decision.status
    runtime.current().events.append(
        session_id,
        BudgetExhausted(
            iteration=iteration,
            reason=decision.reason,
            percent=status.percent,
            spent_microdollars=status.spent,
            allowance_microdollars=status.allowance,
            window_end=status.window_end,
            fatal=decision.kind == "too_big",
        ),
    )
    at = {"iteration": iteration, "healing_state": healing}
    if decision.kind == "too_big":
        return TooBig(**at, reason=decision.reason)
    return Asleep(**at, wake_at=status.window_end.isoformat(), reason=decision.reason)


def _redacted_turn(turn: AssistantTurn) -> AssistantTurn:
    """Nothing secret is stored, not even in the recorded step output.

    Tool inputs are what will run, so only this process's own secrets are removed from them;
    the looser secret shapes would also rewrite the agent's code and fixtures.
    """
    blocks: list[ContentBlock] = []
    for block in turn.blocks:
        if isinstance(block, TextBlock):
            block = block.model_copy(update={"text": redact(block.text)})
        elif isinstance(block, ToolUseBlock):
            block = block.model_copy(
                update={"input": redact_value(block.input, redact_env_secrets)}
            )
        blocks.append(block)
    return turn.model_copy(update={"blocks": blocks})


@logged_step("act")
def run_batch(
    session_id: str, iteration: int, calls: list[ToolUseBlock], last: Checkpoint
) -> ActOutput:
    """Run one batch of tool calls from `last`, the last committed iteration, then snapshot
    the workspace if the batch could change it.

    A batch of read-only tools (`ToolDef.read_only`) writes neither the state file nor a
    snapshot: the workspace stays at the last committed one.
    """
    rt = runtime.current()
    # Redo from the last committed state if a batch was interrupted or the workspace is gone.
    workspace_state.ensure_at(
        rt, session_id, last.snapshot_id, iteration=last.iteration, for_iteration=iteration
    )
    # A committed iteration without a stored snapshot is retried by the next batch's.
    writes = last.snapshot_id == workspace_state.MISSING_SNAPSHOT or any(
        changes_workspace(call.name) for call in calls
    )
    if writes:
        workspace_state.mark_dirty(rt, session_id, iteration)
    crash_point("act.before_tools")
    phase = last.phase
    # Kept open across batches (background processes, the preview); the run's end closes it.
    toolbox = toolbox_for(open_live(rt, session_id))
    feed = _BatchFeed(session_id, iteration)
    results: list[ToolResult] = []
    asked: list[EscalationEffect] = []
    for call in calls:
        live_sessions.check_lease()  # a worker that lost its sessions runs nothing more
        feed.flush(ToolStarted(iteration=iteration, tool_use_id=call.id, name=call.name))
        with telemetry.tool_call(session_id, iteration, call.name, call.id) as traced:
            run = toolbox.run(call)
            traced.finished(ok=run.result.ok, exit_code=run.result.exit_code)
        result = run.result.model_copy(update={"content": redact(run.result.content)})
        if run.images:
            feed.flush()
            result = store_images(rt, session_id, iteration, call, run.images, result)
        for effect in run.effects:
            if isinstance(effect, EscalationEffect):
                asked.append(effect)  # recorded by the commit, exactly once
            elif isinstance(effect, PreviewEffect):
                feed.flush()
                record_preview(rt, session_id, iteration, effect.outcome, restarted=False)
            else:
                phase = feed.apply(effect, phase)
        feed.add(
            ToolCalled(
                iteration=iteration,
                tool_use_id=call.id,
                name=call.name,
                label=run.label,
                summary=run.summary,
                ok=result.ok,
                exit_code=result.exit_code,
                duration_ms=result.duration_ms,
            )
        )
        results.append(result)
        crash_point("act.after_tool")
    live_sessions.check_lease()  # the snapshot rewrites files workers on this host share
    crash_point("act.before_snapshot")
    snapshot_id = workspace_state.snapshot(rt, session_id, iteration) if writes else None
    crash_point("act.after_snapshot")
    return ActOutput(
        results=results, snapshot_id=snapshot_id, phase=phase, asked=asked, events=feed.pending
    )


class _BatchFeed:
    """A batch's events, appended with the next write instead of one transaction each: a
    tool's outcome goes out with the next tool's start (which must be seen before it runs),
    and the last tool's with the commit."""

    def __init__(self, session_id: str, iteration: int) -> None:
        self.session_id = session_id
        self.iteration = iteration
        self.pending: list[AnyEvent] = []
        self.once = Occurrences()  # a redone batch shows the founder nothing twice

    def add(self, event: AnyEvent) -> None:
        self.pending.append(event)

    def flush(self, *now: AnyEvent) -> None:
        batch, self.pending = [*self.pending, *now], []
        if batch:
            runtime.current().events.append_all(self.session_id, batch, once=self.once)

    def apply(
        self, effect: PhaseEffect | NarrationEffect | DocumentEffect, phase: str | None
    ) -> str | None:
        """Queue the effect's events (a document is stored at once, with them); the phase
        after it."""
        iteration = self.iteration
        if isinstance(effect, NarrationEffect):
            self.add(Narration(iteration=iteration, message=effect.message))
        elif isinstance(effect, PhaseEffect):
            if phase is not None:
                self.add(PhaseCompleted(iteration=iteration, phase=phase))
            phase = effect.phase_name
            self.add(PhaseStarted(iteration=iteration, phase=phase))
        else:
            from cofounder.storage.documents import upsert_document_in

            self.add(
                DocumentationUpdated(
                    iteration=iteration, section=effect.section, chars=len(effect.content)
                )
            )
            batch, self.pending = self.pending, []
            with runtime.current().db.transaction() as session:
                upsert_document_in(
                    session,
                    self.session_id,
                    effect.section,
                    redact(effect.content),
                    iteration=iteration,
                )
                append_all_in(session, self.session_id, batch, once=self.once)
        return phase


@DBOS.step(name="cofounder.pause")
@logged_step("pause")
def pause_step(session_id: str, reason: str) -> str:
    close_live(runtime.current(), session_id, "paused")
    return record_pause(runtime.current(), session_id, reason)


@DBOS.step(name="cofounder.sleep")
@logged_step("sleep")
def sleep_step(session_id: str, wake_at: str, reason: str) -> str:
    close_live(runtime.current(), session_id, "sleeping")  # a sleeping session holds nothing
    return record_sleep(runtime.current(), session_id, datetime.fromisoformat(wake_at), reason)


@DBOS.step(name="cofounder.requeue")
@logged_step("requeue")
def requeue_step(session_id: str) -> str:
    rt = runtime.current()
    close_live(rt, session_id, "handed back")
    return record_requeue(rt, session_id, live_sessions.worker)


@DBOS.step(name="cofounder.wait")
@logged_step("wait")
def wait_step(session_id: str) -> str:
    close_live(runtime.current(), session_id, "waiting")
    return record_waiting(runtime.current(), session_id)


@DBOS.step(name="cofounder.finish")
@logged_step("finish")
def finish_step(session_id: str, outcome: str, reason: str) -> str:
    crash_point("finish.before")
    rt = runtime.current()
    close_live(rt, session_id, outcome)
    try:  # leave the founder the workspace the transcript describes, wherever this ran
        workspace_state.ensure_committed(rt, session_id)
    except Exception as exc:  # the outcome still gets recorded; the cause is logged
        log.warning("final_workspace_not_restored", session_id=session_id, error=str(exc))
    return record_outcome(rt, session_id, outcome, reason)
