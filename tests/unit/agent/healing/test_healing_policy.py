"""The self-healing policy: the attempt ladder, backoff, never-retry, resets and stuck loops."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count
from typing import Any

import pytest
from pydantic import ValidationError

from cofounder.agent.healing.policy import (
    LOOP_KEY,
    NO_PROGRESS_KEY,
    HealingConfig,
    HealingPlan,
    HealingState,
    Observation,
    find_cycle,
    founder_reply,
    observations,
    plan_healing,
    resolved,
)
from cofounder.llm import ToolUseBlock
from cofounder.tools import ToolResult

_ids = count()
CONFIG = HealingConfig()


def bash(command: str, code: int = 0, err: str = "", out: str = "") -> Observation:
    content = (
        f"Exit code {code} after 0.4s.\n--- stdout ---\n{out or '(empty)'}\n"
        f"--- stderr ---\n{err or '(empty)'}"
    )
    result = ToolResult(tool_use_id=f"t{next(_ids)}", ok=code == 0, content=content, exit_code=code)
    return Observation(tool_name="bash", tool_input={"command": command}, result=result)


def tool(name: str, ok: bool = True, content: str = "done", **inp: Any) -> Observation:
    result = ToolResult(tool_use_id=f"t{next(_ids)}", ok=ok, content=content)
    return Observation(tool_name=name, tool_input=inp, result=result)


def pytest_fails(tmp: str = "tmpaaaa1111") -> Observation:
    return bash("pytest -q", 1, out=f"FAILED tests/test_app.py::test_x - KeyError: '/tmp/{tmp}'")


def edit(n: int) -> Observation:
    return tool("edit_file", path="src/app.py", old_string=f"v{n}", new_string=f"v{n + 1}")


DNS = "npm ERR! request to https://registry.npmjs.org/x failed, reason: getaddrinfo EAI_AGAIN"


def turns(
    state: HealingState, *batches: Sequence[Observation], config: HealingConfig = CONFIG
) -> tuple[HealingState, list[HealingPlan]]:
    plans = []
    for batch in batches:
        plan = plan_healing(state, config, batch)
        plans.append(plan)
        state = plan.state
    return state, plans


# --- the ladder ---------------------------------------------------------------------------


def test_successes_need_no_healing() -> None:
    plan = plan_healing(HealingState(), CONFIG, [bash("npm test"), edit(1)])
    assert plan.action == "continue" and plan.messages == () and plan.escalations == ()
    assert plan.state.failures == {}


def test_three_attempt_ladder_steers_twice_naming_failed_approaches_then_escalates() -> None:
    state, plans = turns(
        HealingState(),
        [pytest_fails("tmpaaaa1111")],
        [edit(1), pytest_fails("tmpbbbb2222")],  # a different temp path: still the same failure
        [tool("write_file", path="src/db.py", content="x"), pytest_fails("tmpcccc3333")],
    )
    first, second, third = plans
    assert first.action == "steer" and len(first.messages) == 1
    assert "attempt 1 of 3" in first.messages[0]
    assert "Approaches that already failed:\n  1. `pytest`" in first.messages[0]
    assert "different approach" in first.messages[0]

    assert second.action == "steer"
    assert "attempt 2 of 3" in second.messages[0]
    assert "  1. `pytest`\n  2. edit_file src/app.py, then `pytest`" in second.messages[0]
    assert [n.attempt for n in second.notes] == [2] and second.notes[0].kind == "steer"
    assert "exactly the same action" not in second.messages[0]  # the edit changed things

    assert third.action == "escalate" and len(third.escalations) == 1
    draft = third.escalations[0]
    assert draft.reason == "attempts_exhausted" and draft.error
    assert draft.tried == (
        "`pytest`",
        "edit_file src/app.py, then `pytest`",
        "write_file src/db.py, then `pytest`",
    )
    assert "KeyError" in draft.problem and "3 different approaches" in draft.problem
    assert [o.key for o in draft.options] == ["simpler_version", "skip_feature", "provide_guidance"]
    assert draft.default_option == "simpler_version" and state.escalations == 1
    assert draft.key in state.open_escalations
    assert "escalated to the founder" in third.messages[0]


def test_failures_after_escalation_wait_instead_of_escalating_again() -> None:
    state, _ = turns(HealingState(), [pytest_fails()], [pytest_fails()], [pytest_fails()])
    assert state.escalations == 1
    state, (plan,) = turns(state, [pytest_fails()])
    assert plan.escalations == () and plan.notes[0].kind == "waiting"
    assert "already with the founder" in plan.messages[0]
    assert state.escalations == 1


def test_same_action_meeting_same_error_is_called_out() -> None:
    _, (first, second) = turns(HealingState(), [pytest_fails()], [pytest_fails()])
    assert "exactly the same action" not in first.messages[0]
    assert "exactly the same action" in second.messages[0]


def test_a_different_fix_before_the_same_failing_step_is_the_same_problem() -> None:
    err = "Error: Cannot find module 'vite'"
    _, plans = turns(
        HealingState(),
        [bash("npm run build", 1, err=err)],
        [edit(1), bash("cd web && npm run build", 1, err=err)],
        [bash("npm install vite && npm run build", 1, err=err)],
    )
    assert [p.action for p in plans] == ["steer", "steer", "escalate"]
    assert plans[2].escalations[0].tried[-1] == "`npm install && npm run build`"


def test_one_failure_spelt_three_ways_is_one_problem_and_escalates() -> None:
    err = "ModuleNotFoundError: No module named 'streaklib'"
    _, plans = turns(
        HealingState(),
        [bash("python3 x.py", 1, err=err)],
        [bash("python3  ./x.py;", 1, err=err)],
        [bash("cd . && python x.py", 1, err=err)],
    )
    assert [p.action for p in plans] == ["steer", "steer", "escalate"]
    assert "exactly the same action" in plans[1].messages[0]  # nothing changed in between
    assert plans[2].escalations[0].tried == ("`python x.py`",) * 3


def test_a_signature_counts_once_per_turn() -> None:
    _, (plan,) = turns(HealingState(), [pytest_fails(), pytest_fails(), pytest_fails()])
    assert plan.action == "steer" and len(plan.messages) == 1
    assert next(iter(plan.state.failures.values())).attempts == 1


def test_different_failures_have_separate_ladders() -> None:
    build = bash("npm run build", 1, err="Error: Cannot find module 'vite'")
    state, plans = turns(HealingState(), [pytest_fails(), build], [pytest_fails(), build])
    assert len(state.failures) == 2
    assert all(r.attempts == 2 for r in state.failures.values())
    assert plans[1].escalations == ()


# --- environment and never-retry ----------------------------------------------------------


def test_environment_errors_back_off_before_they_count_as_attempts() -> None:
    install = [bash("npm install express", 1, err=DNS)]
    _, plans = turns(HealingState(), *([install] * 6))
    assert [p.retry_after_s for p in plans[:3]] == [2.0, 4.0, 8.0]
    assert [p.action for p in plans] == ["retry", "retry", "retry", "steer", "steer", "escalate"]
    assert "not your approach" in plans[0].messages[0] and "waits 2s" in plans[0].messages[0]
    assert plans[0].notes[0].kind == "retry" and plans[0].notes[0].retry_after_s == 2.0
    assert plans[3].retry_after_s is None and "attempt 1 of 3" in plans[3].messages[0]
    draft = plans[5].escalations[0]
    assert draft.default_option == "retry_later" and draft.reason == "attempts_exhausted"
    assert "outside the project" in draft.problem


def test_backoff_is_capped() -> None:
    config = HealingConfig(env_retries=5, backoff_base_s=10, backoff_factor=3, backoff_max_s=45)
    install = [bash("npm install", 1, err=DNS)]
    _, plans = turns(HealingState(), *([install] * 5), config=config)
    assert [p.retry_after_s for p in plans] == [10, 30, 45, 45, 45]


def test_never_retry_escalates_at_once() -> None:
    err = "openai.AuthenticationError: Error code: 401 - Incorrect API key provided: sk-***"
    state, (plan,) = turns(HealingState(), [bash("python seed.py", 1, err=err)])
    assert plan.action == "escalate" and plan.retry_after_s is None
    draft = plan.escalations[0]
    assert draft.reason == "never_retry" and not draft.can_continue
    assert "provide_credentials" in [o.key for o in draft.options]
    assert draft.default_option == "use_placeholder"
    assert state.escalations == 1


# --- resets -------------------------------------------------------------------------------


def test_success_of_the_failing_command_resets_its_signature() -> None:
    state, _ = turns(HealingState(), [pytest_fails()], [pytest_fails()])
    signature = next(iter(state.failures))
    state, (plan,) = turns(state, [bash("pytest tests/test_app.py", 0)])
    assert plan.cleared == (signature,) and state.failures == {}
    _, (again,) = turns(state, [pytest_fails()])
    assert "attempt 1 of 3" in again.messages[0]


def test_success_of_a_chain_containing_the_command_resets_but_unrelated_success_does_not() -> None:
    state, _ = turns(HealingState(), [pytest_fails()])
    state, (unrelated,) = turns(state, [bash("npm run build", 0)])
    assert unrelated.cleared == () and len(state.failures) == 1
    state, (chain,) = turns(state, [bash("pip install -r requirements.txt && pytest", 0)])
    assert len(chain.cleared) == 1 and state.failures == {}


def test_resolution_resets_the_count() -> None:
    state, plans = turns(HealingState(), [pytest_fails()], [pytest_fails()], [pytest_fails()])
    draft = plans[-1].escalations[0]
    state = resolved(state, draft.key)
    assert state.open_escalations == () and state.failures == {}
    _, (plan,) = turns(state, [pytest_fails()])
    assert plan.action == "steer" and "attempt 1 of 3" in plan.messages[0]


def test_founder_reply_carries_choice_guidance_and_default() -> None:
    _, plans = turns(HealingState(), [pytest_fails()], [pytest_fails()], [pytest_fails()])
    draft = plans[-1].escalations[0]
    text = founder_reply(draft, "provide_guidance", "Use SQLite, not Postgres.")
    assert "The founder answered" in text and "Give specific guidance" in text
    assert "Use SQLite, not Postgres." in text and "overrides your earlier approaches" in text
    late = founder_reply(draft, draft.default_option, defaulted=True)
    assert "did not answer in time" in late and "Try a simpler version" in late


# --- stuck detection ----------------------------------------------------------------------


def test_find_cycle() -> None:
    assert find_cycle(list("ABABAB"), 3) == 2
    assert find_cycle(list("xABCABCABC"), 3) == 3
    assert find_cycle(list("AAAAAA"), 3) is None  # identical calls are the guard's job
    assert find_cycle(list("ABABAC"), 3) is None
    assert find_cycle(list("ABAB"), 3) is None


def alternating(n: int) -> list[list[Observation]]:
    """A,B,A,B,... where each call differs only in a volatile detail: the exact-match
    repetition guard sees distinct calls, the normalised view sees a loop."""
    return [
        [bash(f"cat /tmp/tmp{i:08d}/server.log")]
        if i % 2 == 0
        else [bash(f"curl -s localhost:{3000 + i}/health")]
        for i in range(n)
    ]


def test_alternating_loop_is_nudged_then_escalated() -> None:
    state, plans = turns(HealingState(), *alternating(6))
    assert [p.action for p in plans[:5]] == ["continue"] * 5
    nudge = plans[5]
    assert nudge.notes[0].kind == "nudge" and nudge.notes[0].key == LOOP_KEY
    assert "going round in a loop" in nudge.messages[0]
    assert "`cat` → `curl /health`" in nudge.messages[0]
    state, plans = turns(state, *alternating(6))
    assert all(p.escalations == () for p in plans[:5])
    assert "turns without progress" in plans[1].text  # the other stuck check nudges meanwhile
    assert plans[-1].action == "escalate"
    assert plans[-1].escalations[0].reason == "loop" and plans[-1].escalations[0].key == LOOP_KEY
    assert LOOP_KEY in state.open_escalations
    # Repeating old calls is never progress, loop or not.
    assert state.no_progress_turns == 10
    # Still looping while the founder is asked: no second escalation, of either kind.
    state, plans = turns(state, *alternating(6))
    assert all(p.escalations == () for p in plans)
    assert state.escalations == 1
    state = resolved(state, LOOP_KEY)
    assert state.open_escalations == () and state.nudged == ()


def test_calls_that_really_differ_are_no_loop() -> None:
    batches = [[bash(f"cat logs/{i}.txt")] if i % 2 else [edit(i)] for i in range(12)]
    _, plans = turns(HealingState(), *batches)
    assert all(p.action == "continue" for p in plans)


def test_a_loop_inside_one_batch_is_detected() -> None:
    a, b = bash("npm run dev", 1, err="Error: x"), tool("read_file", path="log.txt")
    _, (plan,) = turns(HealingState(), [a, b, a, b, a, b])
    assert any(n.kind == "nudge" and n.key == LOOP_KEY for n in plan.notes)


def test_turns_without_progress_nudge_then_escalate_and_progress_resets() -> None:
    config = HealingConfig(no_progress_nudge_turns=2, no_progress_escalate_turns=4)
    state, plans = turns(HealingState(), [], [], [], [], config=config)
    assert [p.action for p in plans] == ["continue", "steer", "continue", "escalate"]
    assert (
        plans[1].notes[0].key == NO_PROGRESS_KEY
        and "2 turns without progress" in (plans[1].messages[0])
    )
    assert plans[3].escalations[0].reason == "no_progress"
    state = resolved(state, NO_PROGRESS_KEY)
    assert state.no_progress_turns == 0
    state, _ = turns(state, [], config=config)
    state, (plan,) = turns(state, [edit(7)], config=config)
    assert state.no_progress_turns == 0 and plan.action == "continue"


def test_no_stuck_escalation_while_another_escalation_is_open() -> None:
    config = HealingConfig(no_progress_nudge_turns=1, no_progress_escalate_turns=2)
    err = "Error: STRIPE_SECRET_KEY is not set"
    state, plans = turns(HealingState(), [bash("node pay.js", 1, err=err)], [], [], config=config)
    assert [len(p.escalations) for p in plans] == [1, 0, 0]
    state = resolved(state, plans[0].escalations[0].key)
    _, plans = turns(state, [], [], config=config)
    assert plans[-1].escalations[0].reason == "no_progress"


def test_narration_counts_as_progress() -> None:
    """Telling the founder where things stand is work (identical repeats are the repetition
    guard's business, which steers and then stops them)."""
    state, _ = turns(
        HealingState(),
        *[[tool("narrate", message=f"Step {n} done")] for n in range(12)],
    )
    assert state.no_progress_turns == 0 and state.escalations == 0


# --- state, determinism, bounds -----------------------------------------------------------


def build_some_state() -> tuple[HealingState, list[Observation]]:
    state, _ = turns(
        HealingState(),
        [pytest_fails(), bash("npm install", 1, err=DNS)],
        [edit(1), pytest_fails()],
        [tool("read_file", path="a.py")],
    )
    return state, [pytest_fails(), edit(2)]


def test_state_round_trips_through_json_and_replays_identically() -> None:
    state, batch = build_some_state()
    restored = HealingState.model_validate_json(state.model_dump_json())
    assert restored == state
    assert plan_healing(restored, CONFIG, batch) == plan_healing(state, CONFIG, batch)
    plan = plan_healing(state, CONFIG, batch)
    assert HealingPlan.model_validate_json(plan.model_dump_json()) == plan


def test_planning_is_deterministic_and_does_not_mutate_its_input() -> None:
    state, batch = build_some_state()
    snapshot = state.model_dump_json()
    first = plan_healing(state, CONFIG, batch)
    second = plan_healing(state, CONFIG, batch)
    assert first == second
    assert state.model_dump_json() == snapshot


def test_escalation_ceiling_is_flagged() -> None:
    config = HealingConfig(max_escalations=2)
    key_err = "Error: STRIPE_SECRET_KEY is not set"
    state, plans = turns(
        HealingState(),
        [bash("node pay.js", 1, err=key_err)],
        [bash("node mail.js", 1, err="Error: SENDGRID_API_KEY is missing")],
        config=config,
    )
    assert not plans[0].ceiling_reached and plans[1].ceiling_reached
    assert len(plans[1].escalations) == 1 and state.escalations == 2


def test_tracked_signatures_are_bounded() -> None:
    config = HealingConfig(max_tracked_signatures=3)
    batches = [[bash(f"node step{i}.js", 1, err=f"Error: e{i}")] for i in range(5)]
    state, _ = turns(HealingState(), *batches, config=config)
    assert len(state.failures) == 3
    assert {r.label for r in state.failures.values()} == {
        "`node step2.js`",
        "`node step3.js`",
        "`node step4.js`",
    }


def test_state_stays_small_over_a_long_session() -> None:
    long_err = "Error: " + "something went wrong in a very particular way " * 20
    state = HealingState()
    for i in range(200):
        batch = [edit(i), bash(f"node step{i}.js --flag {'x' * 300}", 1, err=f"{long_err}{i}")]
        state = plan_healing(state, CONFIG, batch).state
    assert len(state.failures) == CONFIG.max_tracked_signatures
    assert len(state.model_dump_json()) < 30_000


def test_config_is_validated() -> None:
    with pytest.raises(ValidationError):
        HealingConfig(loop_repeats=5, loop_window=12)
    with pytest.raises(ValidationError):
        HealingConfig(no_progress_nudge_turns=5, no_progress_escalate_turns=5)


def test_observations_pair_results_by_id_and_drop_calls_that_did_not_run() -> None:
    calls = [
        ToolUseBlock(id="a", name="bash", input={"command": "pytest"}),
        ToolUseBlock(id="b", name="read_file", input={"path": "x"}),
    ]
    results = [ToolResult(tool_use_id="a", ok=True, content="Exit code 0 after 0.1s.")]
    paired = observations(calls, results)
    assert [o.tool_name for o in paired] == ["bash"] and paired[0].result is results[0]
