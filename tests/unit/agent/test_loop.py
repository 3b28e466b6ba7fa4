"""The loop's exits and their order, one row each: what ends a run after the think, what ends
it after the commit, and which rule wins when several hold at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from cofounder.agent.guards import GuardConfig
from cofounder.agent.loop import (
    CANCELLED,
    CEILING,
    COMPLETED,
    PAUSED,
    WOUND_DOWN,
    Asleep,
    Cancelled,
    CommitOutput,
    Continue,
    Failed,
    Finish,
    Next,
    Pause,
    PauseRequested,
    Requeue,
    Sleep,
    TooBig,
    Turn,
    Unavailable,
    Wait,
    after_commit,
    after_think,
)
from cofounder.llm.messages import AssistantTurn, TextBlock, ToolUseBlock

CONFIG = GuardConfig(max_wall_seconds=100)
WINDOW_END = "2026-12-05T00:00:00+00:00"


def turn(*, tools: int = 1, stop: str = "tool_use") -> AssistantTurn:
    blocks: list[Any] = [TextBlock(text="working")]
    blocks += [ToolUseBlock(id=f"t{i}", name="bash", input={"command": "ls"}) for i in range(tools)]
    return AssistantTurn(blocks=blocks, stop_reason=stop, model="m")


DONE = turn(tools=0, stop="end_turn")  # replied without tools: the agent says it is finished
CUT = turn(tools=0, stop="max_tokens")  # cut off by the output limit: not a finish
WORKING = turn()


@pytest.mark.parametrize(
    ("thought", "expected"),
    [
        (Turn(iteration=1, turn=WORKING), Continue()),
        (Cancelled(iteration=1), Finish(outcome="cancelled", reason=CANCELLED)),
        (PauseRequested(iteration=1), Pause(reason=PAUSED)),
        (Unavailable(iteration=1, error="503"), Pause(reason="the model is unavailable: 503")),
        (Failed(iteration=1, error="bad key"),
         Finish(outcome="failed", reason="the model failed: bad key")),
        (TooBig(iteration=1, reason="too big"),
         Finish(outcome="budget_too_small", reason="too big")),
        (Asleep(iteration=1, wake_at=WINDOW_END, reason="spent"),
         Sleep(wake_at=WINDOW_END, reason="spent")),
    ],
)  # fmt: skip
def test_after_think(thought: Any, expected: Next) -> None:
    assert after_think(thought) == expected


@dataclass(frozen=True)
class Row:
    name: str
    turn: AssistantTurn
    expected: Next
    commit: dict[str, Any] = field(default_factory=dict)
    guard_stop: tuple[Any, str] | None = None
    winding_down: bool = False


ROWS = [
    # one row per exit
    Row("keeps going", WORKING, Continue()),
    Row("healing backs off", WORKING, Continue(backoff_s=4.0), {"retry_after_s": 4.0}),
    Row("tool-call cap", WORKING, Finish(outcome="iteration_limit", reason="cap"),
        guard_stop=("iteration_limit", "cap")),
    Row("stuck", WORKING, Finish(outcome="stuck", reason="same call"),
        guard_stop=("stuck", "same call")),
    Row("escalation ceiling", WORKING, Pause(reason=CEILING), {"escalation_ceiling": True}),
    Row("open question", WORKING, Wait(), {"waiting": True}),
    Row("wound down", DONE, Sleep(wake_at=WINDOW_END, reason=WOUND_DOWN), winding_down=True),
    Row("completed", DONE, Finish(outcome="completed", reason=COMPLETED)),
    Row("cut off goes on", CUT, Continue()),
    Row("cancelled", WORKING, Finish(outcome="cancelled", reason=CANCELLED),
        {"cancel_requested": True}),
    Row("wall clock", WORKING, Finish(outcome="iteration_limit",
        reason="the wall-clock cap of 100s was reached"), {"elapsed_seconds": 100.0}),
    # ordering conflicts: the first rule that holds wins
    Row("cap beats cancel", WORKING, Finish(outcome="iteration_limit", reason="cap"),
        {"cancel_requested": True}, guard_stop=("iteration_limit", "cap")),
    Row("ceiling beats cancel", WORKING, Pause(reason=CEILING),
        {"escalation_ceiling": True, "cancel_requested": True}),
    Row("waiting beats wind-down", DONE, Wait(), {"waiting": True}, winding_down=True),
    Row("wind-down beats completed", DONE, Sleep(wake_at=WINDOW_END, reason=WOUND_DOWN),
        winding_down=True),
    Row("cut-off is not completed, even winding down", CUT, Continue(), winding_down=True),
    Row("completed beats cancel", DONE, Finish(outcome="completed", reason=COMPLETED),
        {"cancel_requested": True}),
    Row("cancel skips the backoff", WORKING, Finish(outcome="cancelled", reason=CANCELLED),
        {"cancel_requested": True, "retry_after_s": 30.0}),
    Row("wall clock skips the backoff", WORKING, Finish(outcome="iteration_limit",
        reason="the wall-clock cap of 100s was reached"),
        {"elapsed_seconds": 150.0, "retry_after_s": 5.0}),
    Row("a draining worker hands the session back", WORKING, Requeue(), {"drain": True}),
    Row("drain skips the backoff", WORKING, Requeue(), {"drain": True, "retry_after_s": 5.0}),
    Row("completed beats drain", DONE, Finish(outcome="completed", reason=COMPLETED),
        {"drain": True}),
    Row("cancel beats drain", WORKING, Finish(outcome="cancelled", reason=CANCELLED),
        {"drain": True, "cancel_requested": True}),
    Row("a question beats drain", WORKING, Wait(), {"drain": True, "waiting": True}),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_after_commit(row: Row) -> None:
    committed = CommitOutput(
        **{"elapsed_seconds": 1.0, "cancel_requested": False, "window_end": WINDOW_END} | row.commit
    )
    got = after_commit(
        row.turn, committed, guard_stop=row.guard_stop, winding_down=row.winding_down, config=CONFIG
    )
    assert got == row.expected


def test_every_exit_has_a_row() -> None:
    kinds = {type(r.expected).__name__ for r in ROWS}
    outcomes = {r.expected.outcome for r in ROWS if isinstance(r.expected, Finish)}
    assert kinds == {"Continue", "Finish", "Pause", "Wait", "Sleep", "Requeue"}
    assert outcomes == {"iteration_limit", "stuck", "completed", "cancelled"}
