"""What a tool run produces: the result the model sees plus effects the engine applies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cofounder.questions import Question
from cofounder.sandbox.preview_types import PreviewOutcome


class ImageRef(BaseModel):
    """An image a tool produced, stored by content; the conversation carries only this."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ref: str
    media_type: str
    label: str
    width: int
    height: int


class ToolImage(BaseModel):
    """An image a tool produced, with its bytes: the act step stores it and keeps the ref."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    media_type: str
    data: bytes
    label: str
    width: int
    height: int


class ToolResult(BaseModel):
    """Failures are data (ok=False) so guards and healing can see them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool_use_id: str
    ok: bool
    content: str
    exit_code: int | None = None
    truncated: bool = False
    duration_ms: int = 0
    images: list[ImageRef] = Field(default_factory=list)


class PhaseEffect(BaseModel):
    """`narrate` with a phase name: close the current phase, open this one."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["phase"] = "phase"
    phase_name: str


class NarrationEffect(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["narration"] = "narration"
    message: str


class DocumentEffect(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["document"] = "document"
    section: Literal["overview", "features", "getting_started", "faq"]
    content: str


class EscalationEffect(BaseModel):
    """`ask_founder`: a question the engine records (numbering its key) and waits on."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["escalation"] = "escalation"
    question: Question


class PreviewEffect(BaseModel):
    """`preview`: the app was started (or failed to); the engine records it on the session."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["preview"] = "preview"
    outcome: PreviewOutcome


ToolEffect = Annotated[
    PhaseEffect | NarrationEffect | DocumentEffect | EscalationEffect | PreviewEffect,
    Field(discriminator="kind"),
]


class ToolRun(BaseModel):
    """One executed tool call: its result, a human label and summary for the feed, and effects."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    result: ToolResult
    label: str
    summary: str
    effects: list[ToolEffect] = Field(default_factory=list)
    images: list[ToolImage] = Field(default_factory=list)
