"""What a build does next, decided from what just happened: pure data and rules, no I/O.

The durable workflow (`engine/workflow.py`) runs think → guards → act → heal → commit and asks
this module after the think and after the commit. Every way a run can end, and the order in
which they win when several hold at once, is written here once: `after_think` and
`after_commit` read top to bottom as that order. The step outputs they read are frozen,
typed models recorded as JSON by the durable steps.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cofounder.agent.guards import GuardConfig, wall_clock_exceeded
from cofounder.llm.messages import AssistantTurn

Outcome = Literal[
    "completed", "failed", "cancelled", "iteration_limit", "stuck", "budget_too_small"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- what the think step can report ---------------------------------------------------------


class _Thought(_Frozen):
    iteration: int  # the iteration this turn is for
    healing_state: dict[str, Any] | None = None  # the last committed one, when answers came in


class Turn(_Thought):
    kind: Literal["turn"] = "turn"
    turn: AssistantTurn


class Cancelled(_Thought):
    kind: Literal["cancelled"] = "cancelled"


class PauseRequested(_Thought):
    """The founder asked the build to pause: checked before paying for another turn."""

    kind: Literal["pause_requested"] = "pause_requested"


class Unavailable(_Thought):
    """The provider stayed down past its retries: pause, resumable."""

    kind: Literal["unavailable"] = "unavailable"
    error: str


class Failed(_Thought):
    """The model refused for good."""

    kind: Literal["failed"] = "failed"
    error: str


class TooBig(_Thought):
    """No budget window could ever pay for one call."""

    kind: Literal["too_big"] = "too_big"
    reason: str


class Asleep(_Thought):
    """The allowance is spent until the window ends."""

    kind: Literal["sleep"] = "sleep"
    wake_at: str  # ISO 8601, UTC
    reason: str


Thought = Annotated[
    Turn | Cancelled | PauseRequested | Unavailable | Failed | TooBig | Asleep,
    Field(discriminator="kind"),
]


# -- what the commit reports -----------------------------------------------------------------


class CommitOutput(BaseModel):
    """The recorded result of committing one iteration (also re-read after a crash)."""

    model_config = ConfigDict(frozen=True)

    elapsed_seconds: float
    cancel_requested: bool
    waiting: bool = False  # an open question the build must wait for
    escalation_ceiling: bool = False
    wind_down: bool = False
    window_end: str = ""
    healing_state: dict[str, Any] = {}  # the healing state to go on with
    retry_after_s: float | None = None  # back off this long before the next model call
    drain: bool = False  # the worker is shutting down: hand the session back to the queue


# -- what happens next ---------------------------------------------------------------------


class Continue(_Frozen):
    kind: Literal["continue"] = "continue"
    backoff_s: float = 0.0  # wait this long (durably) before the next model call


class Finish(_Frozen):
    kind: Literal["finish"] = "finish"
    outcome: Outcome
    reason: str


class Pause(_Frozen):
    kind: Literal["pause"] = "pause"
    reason: str


class Wait(_Frozen):
    """An open question to the founder: end the run until it is answered."""

    kind: Literal["wait"] = "wait"


class Sleep(_Frozen):
    kind: Literal["sleep"] = "sleep"
    wake_at: str
    reason: str


class Requeue(_Frozen):
    """The worker is draining: end this run; the session waits in the queue for another."""

    kind: Literal["requeue"] = "requeue"


Next = Continue | Finish | Pause | Wait | Sleep | Requeue

CANCELLED = "cancelled by request"
PAUSED = "paused by request; resume continues it"
CEILING = (
    "the build has asked the founder as many questions as it may; it continues once they are "
    "answered (`cofounder escalations`, then `cofounder resume`)"
)
WOUND_DOWN = "the agent wound down as the budget ran low"
COMPLETED = "the agent reported the build finished"


def was_cut_off(turn: AssistantTurn) -> bool:
    """A reply truncated by max_tokens with no tool call is not a finish: ask it to go on."""
    return turn.stop_reason == "max_tokens" and not turn.tool_uses


def stops_to_sleep(turn: AssistantTurn, *, winding_down: bool) -> bool:
    """Told to wind down, the model replies without tools at a safe stopping point: that is a
    pause until the allowance refreshes, not the end of the build."""
    return winding_down and not turn.tool_uses and not was_cut_off(turn)


def after_think(
    thought: Turn | Cancelled | PauseRequested | Unavailable | Failed | TooBig | Asleep,
) -> Next:
    """Whether the run goes on to act on the turn, or how it ends without acting."""
    match thought:
        case Cancelled():
            return Finish(outcome="cancelled", reason=CANCELLED)
        case PauseRequested():
            return Pause(reason=PAUSED)
        case Unavailable(error=error):
            return Pause(reason=f"the model is unavailable: {error}")
        case Failed(error=error):
            return Finish(outcome="failed", reason=f"the model failed: {error}")
        case TooBig(reason=reason):
            return Finish(outcome="budget_too_small", reason=reason)
        case Asleep(wake_at=wake_at, reason=reason):
            return Sleep(wake_at=wake_at, reason=reason)
    return Continue()


def after_commit(
    turn: AssistantTurn,
    committed: CommitOutput,
    *,
    guard_stop: tuple[Outcome, str] | None,
    winding_down: bool,
    config: GuardConfig,
) -> Next:
    """The run's next move once an iteration is committed; the first rule that holds wins.

    `guard_stop` is the guards' verdict on this batch (a cap or being stuck), `winding_down`
    whether the model was told to wind down before this turn.
    """
    if guard_stop is not None:
        return Finish(outcome=guard_stop[0], reason=guard_stop[1])
    if committed.escalation_ceiling:
        return Pause(reason=CEILING)
    if committed.waiting:
        return Wait()
    if stops_to_sleep(turn, winding_down=winding_down):
        return Sleep(wake_at=committed.window_end, reason=WOUND_DOWN)
    if not turn.tool_uses and not was_cut_off(turn):
        return Finish(outcome="completed", reason=COMPLETED)
    if committed.cancel_requested:
        return Finish(outcome="cancelled", reason=CANCELLED)
    over = wall_clock_exceeded(committed.elapsed_seconds, config)
    if over:
        return Finish(outcome="iteration_limit", reason=over)
    if committed.drain:
        return Requeue()
    return Continue(backoff_s=committed.retry_after_s or 0.0)
