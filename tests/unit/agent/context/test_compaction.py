"""Context compaction: the plan never splits a tool pair, keeps the kickoff and the recent turns,
does nothing below the threshold; applying it leaves a valid, smaller conversation."""

from __future__ import annotations

import random

import pytest

from cofounder.agent.context.compaction import apply, plan_compaction, tail_start, to_summarize
from cofounder.agent.context.conversation_check import conversation_problems
from cofounder.agent.context.size import estimate_conversation, estimate_tokens
from cofounder.agent.context.summarizer import PinnedFacts, is_summary_block, summary_request
from cofounder.agent.context.trim import elide_old_images, shrink_tool_results
from cofounder.llm.messages import (
    SUMMARY_MARKER,
    ContentBlock,
    ImageBlock,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)

KICKOFF = Message(role="user", content=[TextBlock(text="Please build Habits now.")])
FACTS = PinnedFacts(
    goal="A habit tracker",
    brief="Track daily habits",
    plan="Plan, Skeleton, Core, Docs",
    phase="Core",
    open_problems=["test_streaks fails: KeyError 'date'"],
    preview_url="http://127.0.0.1:8000",
    files_created=["app.py", "test_app.py"],
    decisions=["stdlib http.server, no framework"],
)


def random_conversation(rng: random.Random, turns: int) -> list[Message]:
    """Kickoff, then turns of: assistant (text and/or tool uses) + user (results, maybe text)."""
    messages = [KICKOFF]
    counter = 0
    for turn in range(turns):
        blocks: list[ContentBlock] = []
        if rng.random() < 0.7:
            blocks.append(TextBlock(text="thinking " * rng.randint(1, 40)))
        uses = []
        for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
            counter += 1
            uses.append(ToolUseBlock(id=f"tu_{counter}", name="bash", input={"command": "ls"}))
        if not blocks and not uses:
            blocks.append(TextBlock(text="ok"))
        messages.append(Message(role="assistant", content=blocks + uses))
        last = turn == turns - 1
        if uses:
            results: list[ContentBlock] = [
                ToolResultBlock(
                    tool_use_id=u.id,
                    content="x" * rng.choice([10, 200, 5_000, 30_000]),  # 30k: the tool cap
                    is_error=rng.random() < 0.2,
                )
                for u in uses
            ]
            if rng.random() < 0.2:
                results.append(TextBlock(text="[guard] try something different"))
            messages.append(Message(role="user", content=results))
        elif not last or rng.random() < 0.5:
            messages.append(Message(role="user", content=[TextBlock(text="continue")]))
    return messages


def tool_ids(messages: list[Message]) -> tuple[list[str], list[str]]:
    uses = [b.id for m in messages for b in m.content if isinstance(b, ToolUseBlock)]
    results = [b.tool_use_id for m in messages for b in m.content if isinstance(b, ToolResultBlock)]
    return uses, results


@pytest.mark.parametrize("seed", range(300))
def test_applying_a_plan_keeps_the_conversation_valid(seed: int) -> None:
    rng = random.Random(seed)
    messages = random_conversation(rng, rng.randint(1, 40))
    assert conversation_problems(messages) == []
    keep = rng.randint(1, 6)
    total = estimate_conversation(messages)
    window = max(1, int(total / rng.uniform(0.3, 1.5)))
    plan = plan_compaction(messages, window_tokens=window, keep_turns=keep, facts=FACTS)
    compacted = apply(messages, plan, "## Goal and brief\n- habits", facts=FACTS)
    assert conversation_problems(compacted) == [], (plan, compacted)
    # Every tool_use still has its result (but a last, unanswered one), and no result is orphaned.
    uses, results = tool_ids(compacted)
    assert set(results) <= set(uses)
    assert set(uses) - set(results) <= {u.id for u in compacted[-1].tool_uses}
    # The kickoff's own blocks come first, untouched.
    assert compacted[0].content[: len(KICKOFF.content)] == KICKOFF.content
    if not plan.compact:
        assert compacted == messages
        assert plan.estimated_tokens_after == plan.estimated_tokens_before
        assert total < plan.threshold_tokens or "nothing to compact" in plan.reason
        return
    assert total >= plan.threshold_tokens
    # The tail (at least the last `keep` turns) is verbatim, starting with an assistant turn.
    tail = messages[plan.kept_tail_from :]
    assert compacted[1:] == tail
    assert tail[0].role == "assistant"
    assert plan.kept_tail_from <= tail_start(messages, keep)
    assert sum(m.role == "assistant" for m in tail) >= keep
    assert is_summary_block(compacted[0].content[-1])
    assert len(compacted) < len(messages)


@pytest.mark.parametrize("shrink", [False, True])
@pytest.mark.parametrize("seed", range(25))
def test_repeated_compaction_over_a_long_session_stays_bounded(seed: int, shrink: bool) -> None:
    """Grow a session turn by turn, compacting whenever the planner says so: every request
    stays valid and its estimate stays under the window."""
    rng = random.Random(1000 + seed)
    full = random_conversation(rng, 120)
    window = 100_000 if not shrink else 40_000
    live: list[Message] = [full[0]]
    summaries = 0
    for message in full[1:]:
        live.append(message)
        if message.role != "user":
            continue
        if shrink:
            live = shrink_tool_results(live, 2_000, keep_turns=2)
        plan = plan_compaction(live, window_tokens=window, keep_turns=2, summary_tokens=500)
        if plan.compact:
            earlier = to_summarize(live, plan)
            assert earlier and (summaries == 0 or is_summary_block(earlier[0].content[0]))
            summaries += 1
            live = apply(live, plan, f"summary {summaries}", facts=FACTS)
            assert plan.estimated_tokens_after < plan.estimated_tokens_before
        assert conversation_problems(live) == []
        assert estimate_conversation(live) < window
        assert sum(is_summary_block(b) for b in live[0].content) <= 1
    assert summaries >= 1


def test_no_op_below_the_threshold() -> None:
    messages = random_conversation(random.Random(7), 10)
    total = estimate_conversation(messages)
    plan = plan_compaction(messages, window_tokens=total * 2, threshold=0.8)
    assert not plan.compact and "below the threshold" in plan.reason
    assert apply(messages, plan, "ignored") == messages
    assert to_summarize(messages, plan) == []
    at = plan_compaction(messages, window_tokens=total, threshold=1.0, keep_turns=1)
    assert at.compact


def test_nothing_to_compact_when_everything_is_recent() -> None:
    messages = random_conversation(random.Random(3), 3)
    plan = plan_compaction(messages, window_tokens=10, keep_turns=3)
    assert not plan.compact and "nothing to compact" in plan.reason


def test_overhead_counts_towards_the_threshold() -> None:
    messages = random_conversation(random.Random(5), 12)
    total = estimate_conversation(messages)
    assert not plan_compaction(messages, window_tokens=total * 2).compact
    assert plan_compaction(messages, window_tokens=total * 2, overhead_tokens=total).compact


def test_the_cut_keeps_as_many_turns_as_fit_the_target() -> None:
    turn = [
        Message(role="assistant", content=[ToolUseBlock(id="a", name="bash", input={})]),
        Message(role="user", content=[ToolResultBlock(tool_use_id="a", content="y" * 4_000)]),
    ]
    messages = [KICKOFF]
    for i in range(10):
        messages += [
            Message(role="assistant", content=[ToolUseBlock(id=f"t{i}", name="bash", input={})]),
            Message(
                role="user", content=[ToolResultBlock(tool_use_id=f"t{i}", content="y" * 4_000)]
            ),
        ]
    per_turn = estimate_conversation(turn)
    # Window: a target (50%) that fits the summary and about 4 turns.
    window = 2 * (500 + estimate_tokens(KICKOFF) + 4 * per_turn + 20)
    plan = plan_compaction(messages, window_tokens=window, threshold=0.5, summary_tokens=500)
    assert plan.compact
    kept_turns = sum(m.role == "assistant" for m in messages[plan.kept_tail_from :])
    assert kept_turns == 4
    assert plan.estimated_tokens_after <= window // 2
    # A tighter target cannot go below keep_turns.
    tight = plan_compaction(
        messages, window_tokens=window, threshold=0.5, target=0.01, keep_turns=2
    )
    assert sum(m.role == "assistant" for m in messages[tight.kept_tail_from :]) == 2


def test_apply_refuses_a_plan_for_other_messages() -> None:
    messages = random_conversation(random.Random(11), 20)
    plan = plan_compaction(messages, window_tokens=100, keep_turns=2)
    assert plan.compact
    with pytest.raises(ValueError, match="plan again"):
        apply([*messages[:-3], messages[-1]], plan, "s")


def test_summary_request_carries_instructions_facts_and_transcript() -> None:
    messages = random_conversation(random.Random(2), 12)
    plan = plan_compaction(messages, window_tokens=100, keep_turns=2)
    request = summary_request(to_summarize(messages, plan), FACTS, max_tokens=1500)
    assert request.tools == [] and request.max_tokens == 1500
    for heading in ("## Goal and brief", "## Plan and progress", "## Open problems", "## Files"):
        assert heading in request.system
    text = request.messages[0].content[0]
    assert isinstance(text, TextBlock)
    for fact in ("http://127.0.0.1:8000", "KeyError 'date'", "app.py", "Track daily habits"):
        assert fact in text.text
    assert "-> tool bash" in text.text and "<- result" in text.text
    assert "more chars not shown" in text.text  # a 40k/5k output is cut for the summarizer
    assert len(text.text) < 200_000


def test_the_summary_block_is_marked_and_pins_the_facts() -> None:
    messages = random_conversation(random.Random(4), 15)
    plan = plan_compaction(messages, window_tokens=100, keep_turns=2)
    compacted = apply(messages, plan, "the summary", facts=FACTS)
    block = compacted[0].content[-1]
    assert isinstance(block, TextBlock)
    assert block.text.startswith(SUMMARY_MARKER)
    assert "the summary" in block.text and "Preview URL: http://127.0.0.1:8000" in block.text
    # A second compaction replaces the summary rather than stacking another one.
    again = plan_compaction(compacted, window_tokens=10, keep_turns=1)
    assert again.compact
    if again.compact:
        earlier = to_summarize(compacted, again)
        assert is_summary_block(earlier[0].content[0])
        twice = apply(compacted, again, "second")
        assert [is_summary_block(b) for b in twice[0].content] == [False, True]
        assert "second" in twice[0].content[-1].text  # type: ignore[union-attr]


def _result_turn(tool_id: str, content: str) -> list[Message]:
    return [
        Message(role="assistant", content=[ToolUseBlock(id=tool_id, name="bash", input={})]),
        Message(role="user", content=[ToolResultBlock(tool_use_id=tool_id, content=content)]),
    ]


def test_shrink_tool_results_cuts_old_large_outputs_only() -> None:
    big = "line\n" * 2_000  # 10_000 chars
    messages = [
        KICKOFF,
        *_result_turn("a", big),
        *_result_turn("b", "small"),
        *_result_turn("c", big),
    ]
    shrunk = shrink_tool_results(messages, 1_000, keep_turns=1, head_chars=100)
    first = shrunk[2].content[0]
    assert isinstance(first, ToolResultBlock)
    assert first.content.startswith(big[:100])
    assert first.content.endswith("[9900 chars omitted; rerun the tool to see it again]")
    assert shrunk[4] == messages[4]  # small
    assert shrunk[6] == messages[6]  # recent
    assert shrunk[:2] == messages[:2] and shrunk[3] == messages[3]
    assert shrink_tool_results(shrunk, 50, keep_turns=1, head_chars=100) == shrunk  # idempotent
    assert conversation_problems(shrunk) == []
    assert messages[2].content[0].content == big  # type: ignore[union-attr]  # input untouched


def test_elide_old_images() -> None:
    image = ImageBlock(media_type="image/png", ref="blob:abc")
    messages = [
        KICKOFF,
        *_result_turn("a", "shot"),
        Message(role="assistant", content=[TextBlock(text="look")]),
        Message(role="user", content=[image]),
        Message(role="assistant", content=[TextBlock(text="nice")]),
        Message(role="user", content=[image]),
    ]
    out = elide_old_images(messages, keep_turns=1)
    assert out[4].content == [TextBlock(text="[image image/png blob:abc omitted from context]")]
    assert out[6] == messages[6]


def test_conversation_problems_name_what_is_wrong() -> None:
    orphan_use = [
        KICKOFF,
        *_result_turn("a", "x")[:1],
        Message(role="user", content=[TextBlock(text="hi")]),
    ]
    assert any("has no tool_result" in p for p in conversation_problems(orphan_use))
    orphan_result = [
        KICKOFF,
        Message(role="assistant", content=[TextBlock(text="x")]),
        _result_turn("z", "r")[1],
    ]
    assert any("answers no tool_use" in p for p in conversation_problems(orphan_result))
    # A founder's message may follow tool results; two assistant turns in a row may not.
    assert conversation_problems([KICKOFF, KICKOFF]) == []
    reply = Message(role="assistant", content=[TextBlock(text="x")])
    assert any("both assistant" in p for p in conversation_problems([KICKOFF, reply, reply]))
