"""Conversation data that crosses seams: plain, typed and JSON-serialisable.

Provider SDK objects never leave `cofounder.llm`; everything stored or passed around is one of
these.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TextBlock(_Frozen):
    type: Literal["text"] = "text"
    text: str


class ToolUseBlock(_Frozen):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(_Frozen):
    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: str
    is_error: bool = False


class ImageBlock(_Frozen):
    """An image, by reference when stored (data is only filled in when sent to a model)."""

    type: Literal["image"] = "image"
    media_type: str
    data: str | None = None
    ref: str | None = None


ContentBlock = Annotated[
    TextBlock | ToolUseBlock | ToolResultBlock | ImageBlock, Field(discriminator="type")
]


class Message(_Frozen):
    role: Literal["user", "assistant"]
    content: list[ContentBlock]

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        return [b for b in self.content if isinstance(b, ToolUseBlock)]


class Usage(_Frozen):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal"]


class AssistantTurn(_Frozen):
    blocks: list[ContentBlock]
    stop_reason: StopReason
    usage: Usage = Usage()
    model: str

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.blocks if isinstance(b, TextBlock))

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        return [b for b in self.blocks if isinstance(b, ToolUseBlock)]

    def as_message(self) -> Message:
        return Message(role="assistant", content=list(self.blocks))


class ToolSpec(_Frozen):
    """What a model is told about one tool: its name, purpose and JSON schema."""

    name: str
    description: str
    input_schema: dict[str, Any]


# A compacted conversation opens with a user text block that starts with this marker and the
# number of assistant turns it stands for. Providers see plain text; the scripted model reads
# the count so it plays the right turn after a compaction.
SUMMARY_MARKER = "[CONVERSATION SUMMARY]"
_SUMMARY_HEAD = re.compile(re.escape(SUMMARY_MARKER) + r" \((\d+) earlier turns?\)")


def summary_heading(turns: int) -> str:
    return f"{SUMMARY_MARKER} ({turns} earlier turn{'' if turns == 1 else 's'})"


def summarized_turns(messages: list[Message]) -> int:
    """How many assistant turns the summary at the start of `messages` replaced (0 if none)."""
    if not messages:
        return 0
    for block in messages[0].content:
        if isinstance(block, TextBlock):
            match = _SUMMARY_HEAD.match(block.text)
            if match:
                return int(match.group(1))
    return 0
