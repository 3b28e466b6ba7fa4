"""The summarizer's request: instructions, pinned facts and the replaced history as text."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from cofounder.llm.messages import (
    SUMMARY_MARKER,
    ContentBlock,
    ImageBlock,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    summary_heading,
)
from cofounder.llm.protocol import ModelRequest

DEFAULT_SUMMARY_TOKENS = 2_000
# The summarizer sees each tool output at most this long (its own window is finite too).
SUMMARIZER_TOOL_OUTPUT_CHARS = 2_000


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


def is_summary_block(block: ContentBlock) -> bool:
    return isinstance(block, TextBlock) and block.text.startswith(SUMMARY_MARKER)


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
        purpose="summary",
    )


def summary_block(summary_text: str, facts: PinnedFacts | None = None, *, turns: int) -> TextBlock:
    """The marked text block that stands for the replaced history (`turns` assistant turns)."""
    text = (
        f"{summary_heading(turns)}\n"
        "The earlier part of this session was compacted. This summary replaces it; the most "
        "recent turns follow verbatim.\n\n"
        f"{summary_text.strip()}"
    )
    if facts is not None:
        text += f"\n\n## Pinned facts\n{facts.render()}"
    return TextBlock(text=text)
