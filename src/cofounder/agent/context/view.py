"""What a session sends to its model: the raw transcript seen through its compaction state.

The raw transcript is immutable. A `ContextState` (stored with each compaction) says which raw
messages a summary replaced and before which message old tool outputs and images are trimmed.
Between compactions the rendered view only grows at its end, so the provider's prompt cache
keeps hitting; a compaction changes the prefix once, on purpose.

`decide` is the policy when a request nears the window: first trim (free), and only when that
is not enough, summarize (one model call). Everything here is pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from cofounder.agent.context.compaction import (
    CompactionPlan,
    plan_compaction,
    tail_start,
    to_summarize,
)
from cofounder.agent.context.size import estimate_conversation
from cofounder.agent.context.summarizer import DEFAULT_SUMMARY_TOKENS, PinnedFacts, summary_block
from cofounder.agent.context.trim import elide_old_images, shrink_tool_results
from cofounder.llm.messages import Message, TextBlock


class ContextState(BaseModel):
    """Raw messages [1, raw_cut) are replaced by `summary_text` (when not empty); tool outputs
    and images in raw messages before `trimmed_before` are cut to a head and a note."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    raw_cut: int = 1
    summary_text: str = ""
    summarized_turns: int = 0
    trimmed_before: int = 1


class ContextPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    window_tokens: int
    threshold: float
    target: float = 0.5
    keep_turns: int = 4
    tool_result_chars: int = 2_000
    summary_tokens: int = DEFAULT_SUMMARY_TOKENS


class CompactionDecision(BaseModel):
    """`none`; `trim` (adopt `state`); or `summarize` `to_summarize`, then `after_summary`."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["none", "trim", "summarize"]
    reason: str
    tokens_before: int
    tokens_after: int
    state: ContextState
    plan: CompactionPlan | None = None
    to_summarize: list[Message] = []
    summarized_turns: int = 0


def render_view(
    kickoff: Message, tail: Sequence[Message], state: ContextState, *, tool_result_chars: int
) -> list[Message]:
    """The conversation to send; `tail` is raw[state.raw_cut:]."""
    first = kickoff
    if state.summary_text:
        first = Message(role="user", content=[*kickoff.content, TextBlock(text=state.summary_text)])
    view = [first, *tail]
    before = state.trimmed_before - state.raw_cut + 1  # a raw index as an index of `view`
    if before > 1:
        view = shrink_tool_results(view, tool_result_chars, before=before)
        view = elide_old_images(view, before=before)
    return view


def decide(
    kickoff: Message,
    tail: Sequence[Message],
    state: ContextState,
    policy: ContextPolicy,
    *,
    overhead_tokens: int,
) -> CompactionDecision:
    """Whether the next request needs less context, and the cheapest way to get there."""
    view = render_view(kickoff, tail, state, tool_result_chars=policy.tool_result_chars)
    plan = _plan(view, policy, overhead_tokens)
    before = plan.estimated_tokens_before
    if not plan.compact:
        return CompactionDecision(
            kind="none", reason=plan.reason, tokens_before=before, tokens_after=before, state=state
        )
    target_tokens = math.floor(policy.window_tokens * policy.target)
    recent = state.raw_cut + tail_start(view, policy.keep_turns) - 1
    trimmed = state.model_copy(update={"trimmed_before": max(state.trimmed_before, recent)})
    trimmed_view = render_view(kickoff, tail, trimmed, tool_result_chars=policy.tool_result_chars)
    after_trim = overhead_tokens + estimate_conversation(trimmed_view)
    if trimmed != state and after_trim <= target_tokens:
        return CompactionDecision(
            kind="trim",
            reason=f"{plan.reason}; trimming old tool output is enough",
            tokens_before=before,
            tokens_after=after_trim,
            state=trimmed,
        )
    cut = _plan(trimmed_view, policy, overhead_tokens, force=True)
    if not cut.compact:  # nothing left to summarize: send what fits best
        return CompactionDecision(
            kind="trim" if trimmed != state else "none",
            reason=f"{plan.reason}; {cut.reason}",
            tokens_before=before,
            tokens_after=after_trim,
            state=trimmed,
        )
    turns = state.summarized_turns + sum(
        1 for m in trimmed_view[1 : cut.kept_tail_from] if m.role == "assistant"
    )
    return CompactionDecision(
        kind="summarize",
        reason=plan.reason,
        tokens_before=before,
        tokens_after=cut.estimated_tokens_after,
        state=trimmed,
        plan=cut,
        to_summarize=to_summarize(trimmed_view, cut),
        summarized_turns=turns,
    )


def after_summary(
    decision: CompactionDecision, summary_text: str, facts: PinnedFacts
) -> ContextState:
    """The state once the summary of `decision.to_summarize` has been written."""
    assert decision.kind == "summarize" and decision.plan is not None
    raw_cut = decision.state.raw_cut + decision.plan.kept_tail_from - 1
    block = summary_block(summary_text, facts, turns=decision.summarized_turns)
    return ContextState(
        raw_cut=raw_cut,
        summary_text=block.text,
        summarized_turns=decision.summarized_turns,
        trimmed_before=max(decision.state.trimmed_before, raw_cut),
    )


def _plan(
    view: list[Message], policy: ContextPolicy, overhead_tokens: int, *, force: bool = False
) -> CompactionPlan:
    return plan_compaction(
        view,
        window_tokens=policy.window_tokens,
        threshold=policy.threshold,
        target=policy.target,
        keep_turns=policy.keep_turns,
        overhead_tokens=overhead_tokens,
        summary_tokens=policy.summary_tokens,
        force=force,
    )
