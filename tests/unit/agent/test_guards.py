"""The loop guards as pure decisions."""

from __future__ import annotations

from cofounder.agent.guards import (
    GuardConfig,
    GuardState,
    plan_batch,
    wall_clock_exceeded,
)
from cofounder.llm import ToolUseBlock


def call(i: int, name: str = "bash", **inp: object) -> ToolUseBlock:
    return ToolUseBlock(id=f"t{i}", name=name, input=inp or {"command": "ls"})


def test_distinct_calls_all_run_and_are_counted() -> None:
    plan = plan_batch(GuardState(), GuardConfig(), [call(1, command="a"), call(2, command="b")])
    assert [d.action for d in plan.decisions] == ["run", "run"]
    assert plan.state.tool_calls == 2 and plan.stop is None


def test_third_identical_call_in_window_is_steered_not_run() -> None:
    config = GuardConfig()
    state = GuardState()
    for i in range(2):
        plan = plan_batch(state, config, [call(i)])
        assert plan.decisions[0].action == "run"
        state = plan.state
    plan = plan_batch(state, config, [call(3)])
    assert plan.decisions[0].action == "steer"
    assert "different approach" in plan.decisions[0].message
    assert plan.stop is None
    assert plan.state.tool_calls == 2  # a steered call is not executed


def test_second_repetition_after_a_steer_stops_as_stuck_and_skips_the_rest() -> None:
    config = GuardConfig()
    state = GuardState()
    for i in range(3):
        state = plan_batch(state, config, [call(i)]).state
    assert state.steers == 1
    plan = plan_batch(state, config, [call(9), call(10, command="other")])
    assert [d.action for d in plan.decisions] == ["skip", "skip"]
    assert plan.stop == "stuck"
    assert all(d.message.startswith("Not run:") for d in plan.decisions)


def test_repetition_outside_the_window_is_not_counted() -> None:
    config = GuardConfig(repetition_window=4, repetition_threshold=3)
    state = GuardState()
    sequence = ["x", "x", "a", "b", "c", "x"]
    for i, command in enumerate(sequence):
        plan = plan_batch(state, config, [call(i, command=command)])
        assert plan.decisions[0].action == "run", (i, command)
        state = plan.state


def test_identical_calls_inside_one_batch_count_too() -> None:
    plan = plan_batch(GuardState(), GuardConfig(), [call(1), call(2), call(3)])
    assert [d.action for d in plan.decisions] == ["run", "run", "steer"]


def test_tool_call_cap_stops_with_iteration_limit_and_answers_every_call() -> None:
    config = GuardConfig(max_tool_calls=3)
    calls = [call(i, command=str(i)) for i in range(5)]
    plan = plan_batch(GuardState(), config, calls)
    assert [d.action for d in plan.decisions] == ["run", "run", "run", "skip", "skip"]
    assert plan.stop == "iteration_limit"
    assert "cap of 3" in (plan.stop_reason or "")
    assert len(plan.decisions) == len(calls)


def test_decisions_are_deterministic_for_replay() -> None:
    calls = [call(1), call(2), call(3), call(4, command="z")]
    first = plan_batch(GuardState(), GuardConfig(), calls)
    second = plan_batch(GuardState(), GuardConfig(), calls)
    assert first == second


def test_wall_clock_cap() -> None:
    config = GuardConfig(max_wall_seconds=10)
    assert wall_clock_exceeded(9.9, config) is None
    assert "10s" in (wall_clock_exceeded(10.0, config) or "")
