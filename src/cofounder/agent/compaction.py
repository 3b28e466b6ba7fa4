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

import json
import math
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from cofounder.llm.messages import (
    ContentBlock,
    ImageBlock,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from cofounder.llm.protocol import ModelRequest

TokenEstimator = Callable[[Message], int]

SUMMARY_MARKER = "[CONVERSATION SUMMARY]"
OMITTED_NOTE = "[{n} chars omitted; rerun the tool to see it again]"
_OMITTED_SUFFIX = " chars omitted; rerun the tool to see it again]"

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4  # role and framing, per message
BLOCK_OVERHEAD_TOKENS = 3
IMAGE_TOKENS = 1_600  # Anthropic's ceiling for one image (~1.15 megapixels)

DEFAULT_THRESHOLD = 0.8
DEFAULT_TARGET = 0.5
DEFAULT_KEEP_TURNS = 4
DEFAULT_SUMMARY_TOKENS = 2_000
# The summarizer sees each tool output at most this long (its own window is finite too).
SUMMARIZER_TOOL_OUTPUT_CHARS = 2_000


def _chars_to_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def _block_tokens(block: ContentBlock) -> int:
    match block:
        case TextBlock():
            size = _chars_to_tokens(len(block.text))
        case ToolUseBlock():
            size = _chars_to_tokens(len(block.name) + len(json.dumps(block.input)))
        case ToolResultBlock():
            size = _chars_to_tokens(len(block.content))
        case ImageBlock():
            size = IMAGE_TOKENS
    return size + BLOCK_OVERHEAD_TOKENS


def estimate_tokens(message: Message) -> int:
    """About chars/4 per text, a flat cost per image, a little framing; errs high, not low."""
    return MESSAGE_OVERHEAD_TOKENS + sum(_block_tokens(b) for b in message.content)


def estimate_conversation(
    messages: Sequence[Message], estimator: TokenEstimator = estimate_tokens
) -> int:
    return sum(estimator(m) for m in messages)


class PinnedFacts(BaseModel):
    """What the agent must not forget, handed to the summarizer and pinned below its summary.

    The engine fills it from what it knows for sure (project spec, phases, notes, tool effects)
    rather than trusting the summary to remember.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    goal: str
    brief: str = ""
    plan: str = ""
    phase: str | None = None
    open_problems: list[str] = Field(default_factory=list)
    preview_url: str | None = None
    files_created: list[str] = Field(default_factory=list)
    decisions: list[str] = Field(default_factory=list)

    def render(self) -> str:
        """The facts as plain text (deterministic: the same facts give the same bytes)."""
        lines = [f"Goal: {self.goal}"]
        if self.brief.strip():
            lines.append(f"Brief: {self.brief.strip()}")
        if self.plan.strip():
            lines.append(f"Plan: {self.plan.strip()}")
        if self.phase:
            lines.append(f"Current phase: {self.phase}")
        if self.preview_url:
            lines.append(f"Preview URL: {self.preview_url}")
        for title, items in (
            ("Files created", self.files_created),
            ("Decisions", self.decisions),
            ("Open problems", self.open_problems),
        ):
            if items:
                lines.append(f"{title}:")
                lines.extend(f"- {item}" for item in items)
        return "\n".join(lines)


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


def is_summary_block(block: ContentBlock) -> bool:
    return isinstance(block, TextBlock) and block.text.startswith(SUMMARY_MARKER)


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
    pinned = _chars_to_tokens(len(facts.render())) if facts else 0
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
) -> CompactionPlan:
    """Decide whether `messages` (plus `overhead_tokens`: system prompt, tools, max_tokens)
    reach `threshold` of the window, and if so where to cut.

    The cut keeps the kickoff and at least the last `keep_turns` turns; among the safe cuts it
    keeps as many recent turns as fit in `target` of the window (with the summary budgeted at
    `summary_tokens`), else just the last `keep_turns`.
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
    if before < threshold_tokens:
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


SUMMARIZER_SYSTEM = """\
You compress the working history of an autonomous software-building agent so it can keep \
working with a shorter context. The agent builds an app for a non-technical founder inside a \
sandboxed workspace, using tools (bash, file reads and writes, narration, documentation). You \
are given the pinned facts and a transcript of the part of its history that will be replaced \
by your summary. The agent will see your summary instead of that history, together with its \
most recent turns, so everything it still needs must be in the summary.

Keep, precisely:
- the brief and the goal, and anything the founder asked for or ruled out;
- the plan: the phases, which are done, which is under way, and what comes next;
- files created or changed, with their paths and what each is for;
- decisions taken and why (libraries, data formats, ports, commands to run the app and its \
tests);
- open problems: failing tests, errors not yet fixed, approaches that were tried and failed \
(so they are not repeated), with the exact error text where it matters;
- the preview URL or port, and how the app is started;
- anything the agent promised to do later.
Drop: greetings, narration already given, full tool outputs (keep only what they showed), \
repeated attempts beyond one line each.

Write plain text under exactly these headings, in this order, each followed by short bullet \
points (write "- none" when a section is empty):
## Goal and brief
## Plan and progress
## Files
## Decisions
## Open problems
## Preview and how to run
## Next step
Do not call tools. Do not add anything before the first heading or after the last section."""


def _render_block(block: ContentBlock, limit: int) -> str:
    match block:
        case TextBlock():
            if is_summary_block(block):
                return "(earlier summary)\n" + block.text.removeprefix(SUMMARY_MARKER).strip()
            return block.text
        case ToolUseBlock():
            return f"-> tool {block.name} {json.dumps(block.input, sort_keys=True)}"
        case ToolResultBlock():
            status = "error" if block.is_error else "ok"
            content = block.content
            if len(content) > limit:
                content = content[:limit] + f"\n[{len(content) - limit} more chars not shown]"
            return f"<- result ({status}):\n{content}"
        case ImageBlock():
            return f"[image {block.media_type}{' ' + block.ref if block.ref else ''}]"


def render_transcript(
    messages: Sequence[Message], *, tool_output_chars: int = SUMMARIZER_TOOL_OUTPUT_CHARS
) -> str:
    """The messages as plain text for the summarizer (tool outputs cut to a head)."""
    parts = []
    for message in messages:
        speaker = "AGENT" if message.role == "assistant" else "USER/TOOLS"
        body = "\n".join(_render_block(b, tool_output_chars) for b in message.content)
        parts.append(f"### {speaker}\n{body}")
    return "\n\n".join(parts)


def summary_request(
    messages_to_summarize: Sequence[Message],
    facts: PinnedFacts,
    *,
    max_tokens: int = DEFAULT_SUMMARY_TOKENS,
    tool_output_chars: int = SUMMARIZER_TOOL_OUTPUT_CHARS,
) -> ModelRequest:
    """The request for the summarizing model: instructions, pinned facts, transcript; no tools
    (the transcript is text, so no tool_use block needs a tool definition)."""
    transcript = render_transcript(messages_to_summarize, tool_output_chars=tool_output_chars)
    text = (
        "# Pinned facts\n"
        f"{facts.render()}\n\n"
        "# Transcript to summarize\n"
        f"{transcript}\n\n"
        "Write the summary now, under the headings given."
    )
    return ModelRequest(
        system=SUMMARIZER_SYSTEM,
        messages=[Message(role="user", content=[TextBlock(text=text)])],
        tools=[],
        max_tokens=max_tokens,
    )


def summary_block(summary_text: str, facts: PinnedFacts | None = None) -> TextBlock:
    """The marked text block that stands for the replaced history."""
    text = (
        f"{SUMMARY_MARKER}\n"
        "The earlier part of this session was compacted. This summary replaces it; the most "
        "recent turns follow verbatim.\n\n"
        f"{summary_text.strip()}"
    )
    if facts is not None:
        text += f"\n\n## Pinned facts\n{facts.render()}"
    return TextBlock(text=text)


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
    first = Message(role="user", content=[*own, summary_block(summary_text, facts)])
    return [first, *messages[plan.kept_tail_from :]]


def _recent_from(messages: Sequence[Message], keep_turns: int) -> int:
    assistants = _assistant_indices(messages)
    return assistants[-keep_turns] if len(assistants) >= keep_turns else 0


def shrink_tool_results(
    messages: Sequence[Message],
    limit_chars: int,
    *,
    keep_turns: int = DEFAULT_KEEP_TURNS,
    head_chars: int = 400,
) -> list[Message]:
    """Old tool outputs longer than `limit_chars` become their first `head_chars` and a note.

    Outputs in the most recent `keep_turns` turns are left alone, and so are outputs already
    shrunk (so shrinking twice changes nothing). The full output stays in the raw transcript.
    """
    if limit_chars < 1:
        raise ValueError("limit_chars must be at least 1")
    head_chars = max(0, min(head_chars, limit_chars))
    recent = _recent_from(messages, keep_turns)
    result = []
    for index, message in enumerate(messages):
        if index >= recent or message.role != "user":
            result.append(message)
            continue
        blocks: list[ContentBlock] = []
        for block in message.content:
            if (
                isinstance(block, ToolResultBlock)
                and len(block.content) > limit_chars
                and not block.content.endswith(_OMITTED_SUFFIX)
            ):
                omitted = len(block.content) - head_chars
                note = OMITTED_NOTE.format(n=omitted)
                block = block.model_copy(
                    update={"content": f"{block.content[:head_chars]}\n{note}"}
                )
            blocks.append(block)
        result.append(
            message if blocks == message.content else Message(role="user", content=blocks)
        )
    return result


def elide_old_images(
    messages: Sequence[Message], *, keep_turns: int = DEFAULT_KEEP_TURNS
) -> list[Message]:
    """Images older than the last `keep_turns` turns become a note naming their stored ref."""
    recent = _recent_from(messages, keep_turns)
    result = []
    for index, message in enumerate(messages):
        if index >= recent or not any(isinstance(b, ImageBlock) for b in message.content):
            result.append(message)
            continue
        blocks: list[ContentBlock] = [
            TextBlock(text=f"[image {b.media_type} {b.ref or ''} omitted from context]".strip())
            if isinstance(b, ImageBlock)
            else b
            for b in message.content
        ]
        result.append(Message(role=message.role, content=blocks))
    return result


def conversation_problems(messages: Sequence[Message]) -> list[str]:
    """What makes a conversation invalid to send: roles not alternating from a user message, a
    tool_use not answered by exactly one tool_result in the next message, an orphan result."""
    problems = []
    if messages and messages[0].role != "user":
        problems.append("the conversation does not start with a user message")
    for index, message in enumerate(messages):
        if index and message.role == messages[index - 1].role:
            problems.append(f"messages {index - 1} and {index} are both {message.role}")
        if not message.content:
            problems.append(f"message {index} is empty")
        results = [b.tool_use_id for b in message.content if isinstance(b, ToolResultBlock)]
        if message.role == "assistant" and results:
            problems.append(f"assistant message {index} holds a tool_result")
        if message.role == "user":
            previous = messages[index - 1] if index else None
            asked = [b.id for b in previous.tool_uses] if previous else []
            for orphan in sorted(set(results) - set(asked)):
                problems.append(f"message {index}: tool_result {orphan} answers no tool_use")
            for dup in sorted({r for r in results if results.count(r) > 1}):
                problems.append(f"message {index}: tool_use {dup} answered more than once")
        if message.role == "assistant" and message.tool_uses and index + 1 < len(messages):
            answered = {
                b.tool_use_id for b in messages[index + 1].content if isinstance(b, ToolResultBlock)
            }
            for missing in [u.id for u in message.tool_uses if u.id not in answered]:
                problems.append(f"message {index}: tool_use {missing} has no tool_result")
    return problems
