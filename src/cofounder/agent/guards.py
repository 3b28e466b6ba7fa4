"""Loop guards as pure decisions: tool-call cap, repetition, wall-clock cap.

Given the guard state and a batch of tool calls, decide for each call whether it runs, gets a
steering result instead, or is skipped because the session is stopping. The engine replays these
decisions after a crash, so they depend only on their inputs.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cofounder.llm.messages import ToolUseBlock

StopOutcome = Literal["iteration_limit", "stuck"]


class GuardConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_tool_calls: int = 150
    max_wall_seconds: float = 6 * 3600
    repetition_window: int = 10
    repetition_threshold: int = 3


class GuardState(BaseModel):
    model_config = ConfigDict(frozen=True)

    tool_calls: int = 0
    recent_calls: list[str] = Field(default_factory=list)
    steers: int = 0


class CallDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: Literal["run", "steer", "skip"]
    message: str = ""


class BatchPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    decisions: list[CallDecision]
    state: GuardState
    stop: StopOutcome | None = None
    stop_reason: str | None = None


def call_signature(call: ToolUseBlock) -> str:
    return call.name + ":" + json.dumps(call.input, sort_keys=True, separators=(",", ":"))


def steering_message(call: ToolUseBlock, threshold: int, window: int) -> str:
    return (
        f"Not run: you have made this exact `{call.name}` call {threshold} times in your last "
        f"{window} tool calls, and repeating it will not change the result. Step back, look at "
        "what the earlier results told you, and try a different approach. If you repeat it again "
        "the build stops as stuck."
    )


def plan_batch(state: GuardState, config: GuardConfig, calls: list[ToolUseBlock]) -> BatchPlan:
    decisions: list[CallDecision] = []
    tool_calls, recent, steers = state.tool_calls, list(state.recent_calls), state.steers
    stop: StopOutcome | None = None
    stop_reason: str | None = None
    for call in calls:
        if stop is not None:
            decisions.append(CallDecision(action="skip", message=f"Not run: {stop_reason}"))
            continue
        if tool_calls >= config.max_tool_calls:
            stop = "iteration_limit"
            stop_reason = f"the tool-call cap of {config.max_tool_calls} was reached"
            decisions.append(CallDecision(action="skip", message=f"Not run: {stop_reason}"))
            continue
        signature = call_signature(call)
        window = recent[-(config.repetition_window - 1) :]
        if window.count(signature) + 1 >= config.repetition_threshold:
            recent.append(signature)
            if steers == 0:
                steers = 1
                decisions.append(
                    CallDecision(
                        action="steer",
                        message=steering_message(
                            call, config.repetition_threshold, config.repetition_window
                        ),
                    )
                )
            else:
                stop = "stuck"
                stop_reason = (
                    f"the same `{call.name}` call was repeated {config.repetition_threshold} "
                    "times again after a warning"
                )
                decisions.append(CallDecision(action="skip", message=f"Not run: {stop_reason}"))
            continue
        recent.append(signature)
        tool_calls += 1
        decisions.append(CallDecision(action="run"))
    return BatchPlan(
        decisions=decisions,
        state=GuardState(
            tool_calls=tool_calls,
            recent_calls=recent[-config.repetition_window :],
            steers=steers,
        ),
        stop=stop,
        stop_reason=stop_reason,
    )


def wall_clock_exceeded(elapsed_seconds: float, config: GuardConfig) -> str | None:
    if elapsed_seconds >= config.max_wall_seconds:
        return f"the wall-clock cap of {config.max_wall_seconds:.0f}s was reached"
    return None
