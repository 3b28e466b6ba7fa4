"""The data of self-healing: its configuration, the state stored in each checkpoint, what it
observes and the plan it returns. All frozen and plain JSON, so a replay decides the same."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cofounder.agent.healing.error_class import ErrorCategory
from cofounder.llm.messages import ToolUseBlock
from cofounder.questions import Question
from cofounder.tools.types import ToolResult

LOOP_KEY = "stuck:loop"
NO_PROGRESS_KEY = "stuck:no_progress"


class HealingConfig(BaseModel):
    """Fixed per session (like GuardConfig): changing it mid-session would change replays."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(3, ge=1)  # counted failures per signature; the last escalates
    env_retries: int = Field(3, ge=0)  # environment retries before failures start to count
    backoff_base_s: float = Field(2.0, gt=0)  # retry_after_s: base * factor**n, capped
    backoff_factor: float = Field(2.0, ge=1)
    backoff_max_s: float = Field(60.0, gt=0)
    loop_repeats: int = Field(3, ge=2)  # A,B seen this many times in a row is a loop
    loop_window: int = Field(12, ge=4)  # calls remembered for loop detection
    no_progress_nudge_turns: int = Field(6, ge=1)
    no_progress_escalate_turns: int = Field(10, ge=1)
    max_escalations: int = Field(5, ge=1)  # per session; reaching it sets ceiling_reached
    escalation_deadline_s: int = Field(24 * 3600, ge=1)  # suggested; the default applies after
    max_tracked_signatures: int = Field(20, ge=1)  # bounds the checkpoint

    @model_validator(mode="after")
    def _consistent(self) -> HealingConfig:
        if self.loop_window < 3 * self.loop_repeats:
            raise ValueError("loop_window must hold three-call cycles: >= 3 * loop_repeats")
        if self.no_progress_escalate_turns <= self.no_progress_nudge_turns:
            raise ValueError("no_progress_escalate_turns must exceed no_progress_nudge_turns")
        return self


class FailureRecord(BaseModel):
    """One failure signature's history: counted attempts, environment retries, what was tried."""

    model_config = ConfigDict(frozen=True)

    signature: str
    category: ErrorCategory
    rule: str | None = None
    reset_key: str
    label: str
    error: str
    attempts: int = 0
    env_retries: int = 0
    tried: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    escalated: bool = False
    last_turn: int = 0


class SeenCall(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    label: str


class HealingState(BaseModel):
    """Stored in the checkpoint next to the guard state; everything here is plain JSON."""

    model_config = ConfigDict(frozen=True)

    turn: int = 0
    failures: dict[str, FailureRecord] = Field(default_factory=dict)
    recent: tuple[SeenCall, ...] = ()
    since_loop: int = 0
    changes: tuple[str, ...] = ()
    no_progress_turns: int = 0
    nudged: tuple[str, ...] = ()
    open_stuck: tuple[str, ...] = ()
    escalations: int = 0

    @property
    def open_escalations(self) -> tuple[str, ...]:
        """Keys escalated and not yet answered (pass each to `resolved()` when answered)."""
        return tuple(s for s, r in self.failures.items() if r.escalated) + self.open_stuck


class Observation(BaseModel):
    """One tool call that actually ran and its result. Guard-steered or skipped calls never ran
    and must not be passed: their "Not run" results are not failures of an approach."""

    model_config = ConfigDict(frozen=True)

    tool_name: str
    tool_input: dict[str, Any]
    result: ToolResult

    @classmethod
    def of(cls, call: ToolUseBlock, result: ToolResult) -> Observation:
        return cls(tool_name=call.name, tool_input=dict(call.input), result=result)


def observations(calls: Sequence[ToolUseBlock], results: Sequence[ToolResult]) -> list[Observation]:
    """Pair calls with their results by tool_use_id, in call order; calls without one drop out."""
    by_id = {r.tool_use_id: r for r in results}
    return [Observation.of(c, by_id[c.id]) for c in calls if c.id in by_id]


NoteKind = Literal["steer", "retry", "escalate", "waiting", "nudge"]


class HealingNote(BaseModel):
    """One decision, for the event feed (`retrying`, `escalated`) and the dashboard.

    `attempt` of `max_attempts`: the counted attempt for steer/escalate, the environment retry
    for retry, the turns without progress for a no-progress nudge.
    """

    model_config = ConfigDict(frozen=True)

    kind: NoteKind
    key: str
    category: ErrorCategory | None = None
    label: str = ""
    error: str = ""
    attempt: int = 0
    max_attempts: int = 0
    retry_after_s: float | None = None


class HealingPlan(BaseModel):
    """What to do after this turn. `messages` go, as text, after the tool results; wait
    `retry_after_s` before the next model call; raise each of `escalations`; `cleared` are
    signatures a success fixed (close their escalation if one is open)."""

    model_config = ConfigDict(frozen=True)

    state: HealingState
    messages: tuple[str, ...] = ()
    notes: tuple[HealingNote, ...] = ()
    escalations: tuple[Question, ...] = ()
    retry_after_s: float | None = None
    cleared: tuple[str, ...] = ()
    ceiling_reached: bool = False

    @property
    def action(self) -> Literal["continue", "steer", "retry", "escalate"]:
        """The strongest decision in the plan."""
        if self.escalations:
            return "escalate"
        if self.retry_after_s is not None:
            return "retry"
        return "steer" if self.messages else "continue"

    @property
    def text(self) -> str:
        """All messages as one text block to append after the tool results ("" if none)."""
        return "\n\n".join(self.messages)
