"""Context compaction, planned and applied purely (no I/O, no model calls, no clock).

When a request would fill too much of the model's context window, the middle of the
conversation is replaced by a summary the model writes. The pieces, in the order an engine
uses them:

1. `shrink_tool_results(...)` / `elide_old_images(...)`: cheap, no model call. Old, large tool
   outputs become a short head and a note; old inline images become a note naming their ref.
2. `plan_compaction(...)` decides whether to compact and where to cut: a `CompactionPlan`.
3. `summary_request(to_summarize(messages, plan), facts)` is the request for the summarizing
   model (the transcript rendered as text, no tools).
4. `apply(messages, plan, summary_text, facts=...)` is the compacted conversation.

Shape of a compacted conversation (alternation user/assistant is kept, so no provider ever
merges or rejects turns)::

    user:      <the kickoff's own blocks, untouched> + <one text block: SUMMARY_MARKER ...>
    assistant: <the first kept turn, verbatim>
    ...        <the most recent turns, verbatim>

The cut is always just before an assistant message, after every tool_use before it has had its
tool_result, so no pair is ever split; the summary is a user text block marked with
SUMMARY_MARKER, so a later compaction finds it, feeds it to the summarizer and replaces it.
The raw transcript is the engine's business: these functions return new lists and never
modify their inputs (messages are frozen anyway).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from cofounder.agent.context.size import TokenEstimator, chars_to_tokens, estimate_tokens
from cofounder.agent.context.summarizer import (
    DEFAULT_SUMMARY_TOKENS,
    PinnedFacts,
    is_summary_block,
    summary_block,
)
from cofounder.llm.messages import Message, ToolResultBlock, ToolUseBlock, summarized_turns

DEFAULT_THRESHOLD = 0.8
DEFAULT_TARGET = 0.5
DEFAULT_KEEP_TURNS = 4


class CompactionPlan(BaseModel):
    """Whether to compact, and where.

    With `compact`, messages[1:replace_until] are replaced by a summary (merged into the first
    user message after the kickoff's own blocks) and messages[kept_tail_from:] are kept verbatim;
    kept_tail_from == replace_until, and messages[kept_tail_from] is an assistant message.
    Without it, replace_until == kept_tail_from == 1 and nothing changes. `message_count` is
    the length of the list it was planned for (apply refuses any other).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    compact: bool
    reason: str
    message_count: int
    replace_until: int
    kept_tail_from: int
    estimated_tokens_before: int
    estimated_tokens_after: int
    window_tokens: int
    threshold_tokens: int


def _assistant_indices(messages: Sequence[Message]) -> list[int]:
    return [i for i, m in enumerate(messages) if m.role == "assistant"]


def tail_start(messages: Sequence[Message], keep_turns: int) -> int:
    """Index of the first message of the most recent `keep_turns` turns (a turn starts with an
    assistant message); 1 when there are no more turns than that (keep all but the kickoff)."""
    assistants = [i for i in _assistant_indices(messages) if i >= 1]
    if len(assistants) <= keep_turns:
        return 1
    return assistants[-keep_turns]


def _safe_cut(messages: Sequence[Message], cut: int) -> bool:
    """True when cutting before `cut` leaves every tool_use and its tool_result on one side."""
    if cut < 1 or cut > len(messages) or messages[cut - 1].role != "user":
        return False
    if cut < len(messages) and messages[cut].role != "assistant":
        return False
    before_uses = {b.id for m in messages[:cut] for b in m.content if isinstance(b, ToolUseBlock)}
    before_results = {
        b.tool_use_id for m in messages[:cut] for b in m.content if isinstance(b, ToolResultBlock)
    }
    after_uses = {b.id for m in messages[cut:] for b in m.content if isinstance(b, ToolUseBlock)}
    after_results = {
        b.tool_use_id for m in messages[cut:] for b in m.content if isinstance(b, ToolResultBlock)
    }
    return not (before_uses & after_results) and not (after_uses & before_results)


def _summary_message_estimate(
    kickoff: Message, summary_tokens: int, estimator: TokenEstimator, facts: PinnedFacts | None
) -> int:
    own = [b for b in kickoff.content if not is_summary_block(b)]
    pinned = chars_to_tokens(len(facts.render())) if facts else 0
    return estimator(Message(role="user", content=own)) + summary_tokens + pinned


def plan_compaction(
    messages: Sequence[Message],
    *,
    window_tokens: int,
    threshold: float = DEFAULT_THRESHOLD,
    target: float = DEFAULT_TARGET,
    keep_turns: int = DEFAULT_KEEP_TURNS,
    overhead_tokens: int = 0,
    summary_tokens: int = DEFAULT_SUMMARY_TOKENS,
    estimator: TokenEstimator = estimate_tokens,
    facts: PinnedFacts | None = None,
    force: bool = False,
) -> CompactionPlan:
    """Decide whether `messages` (plus `overhead_tokens`: system prompt, tools, max_tokens)
    reach `threshold` of the window, and if so where to cut.

    The cut keeps the kickoff and at least the last `keep_turns` turns; among the safe cuts it
    keeps as many recent turns as fit in `target` of the window (with the summary budgeted at
    `summary_tokens`), else just the last `keep_turns`. `force` plans a cut even below the
    threshold (after a cheaper trim already ran and was not enough).
    """
    if not 0 < threshold <= 1 or not 0 < target <= 1:
        raise ValueError("threshold and target are fractions of the window in (0, 1]")
    if keep_turns < 1 or window_tokens < 1:
        raise ValueError("keep_turns and window_tokens must be at least 1")
    sizes = [estimator(m) for m in messages]
    before = overhead_tokens + sum(sizes)
    threshold_tokens = math.floor(window_tokens * threshold)

    def no(reason: str) -> CompactionPlan:
        return CompactionPlan(
            compact=False,
            reason=reason,
            message_count=len(messages),
            replace_until=1,
            kept_tail_from=1,
            estimated_tokens_before=before,
            estimated_tokens_after=before,
            window_tokens=window_tokens,
            threshold_tokens=threshold_tokens,
        )

    if not messages or messages[0].role != "user":
        return no("the conversation does not start with the kickoff")
    if before < threshold_tokens and not force:
        return no(f"below the threshold ({before} < {threshold_tokens} tokens)")
    latest_cut = tail_start(messages, keep_turns)
    cuts = [c for c in range(3, latest_cut + 1) if _safe_cut(messages, c)]
    if not cuts:
        return no(f"nothing to compact outside the kickoff and the last {keep_turns} turns")
    head = overhead_tokens + _summary_message_estimate(
        messages[0], summary_tokens, estimator, facts
    )
    target_tokens = math.floor(window_tokens * target)

    def after(cut: int) -> int:
        return head + sum(sizes[cut:])

    fitting = [c for c in cuts if after(c) <= target_tokens]
    cut = fitting[0] if fitting else cuts[-1]
    return CompactionPlan(
        compact=True,
        reason=f"at {before} of {window_tokens} tokens (threshold {threshold_tokens})",
        message_count=len(messages),
        replace_until=cut,
        kept_tail_from=cut,
        estimated_tokens_before=before,
        estimated_tokens_after=after(cut),
        window_tokens=window_tokens,
        threshold_tokens=threshold_tokens,
    )


def to_summarize(messages: Sequence[Message], plan: CompactionPlan) -> list[Message]:
    """What the summarizer must read: an earlier summary (if any), then the replaced messages."""
    if not plan.compact:
        return []
    earlier = [b for b in messages[0].content if is_summary_block(b)]
    prefix = [Message(role="user", content=earlier)] if earlier else []
    return prefix + list(messages[1 : plan.replace_until])


def apply(
    messages: Sequence[Message],
    plan: CompactionPlan,
    summary_text: str,
    *,
    facts: PinnedFacts | None = None,
) -> list[Message]:
    """The compacted conversation: kickoff (own blocks) + summary block, then the kept tail."""
    if not plan.compact:
        return list(messages)
    if (
        len(messages) != plan.message_count
        or plan.replace_until != plan.kept_tail_from
        or not _safe_cut(messages, plan.kept_tail_from)
    ):
        raise ValueError("the plan does not fit these messages; plan again")
    kickoff = messages[0]
    own = [b for b in kickoff.content if not is_summary_block(b)]
    turns = summarized_turns(list(messages)) + sum(
        1 for m in messages[1 : plan.kept_tail_from] if m.role == "assistant"
    )
    block = summary_block(summary_text, facts, turns=turns)
    first = Message(role="user", content=[*own, block])
    return [first, *messages[plan.kept_tail_from :]]
