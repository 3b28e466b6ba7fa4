"""The one interface every model provider implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from cofounder.llm.messages import AssistantTurn, Message, ToolSpec

TextSink = Callable[[str], None]


class ModelRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str
    messages: list[Message]
    tools: list[ToolSpec]
    max_tokens: int = 8192
    # A side task (a compaction summary) rather than the agent's next turn; providers send
    # both the same way, the scripted model answers a summary instead of playing a turn.
    purpose: Literal["turn", "summary"] = "turn"


class Model(Protocol):
    """A model that answers one request with one assistant turn.

    `on_text` receives assistant text as it arrives, so faces can stream it.
    """

    @property
    def spec(self) -> str: ...

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> AssistantTurn: ...


class ModelError(Exception):
    """A model could not produce a turn (bad spec, exhausted script, provider failure)."""


class ModelUnavailableError(ModelError):
    """The provider kept failing with transient errors until the retry budget ran out.

    The request itself was fine; trying again later (e.g. `cofounder resume`) may succeed.
    """
