"""Conversation data that crosses seams: plain, typed and JSON-serialisable.

Provider SDK objects never leave `cofounder.llm`; everything stored or passed around is one of
these.
"""

from __future__ import annotations

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
