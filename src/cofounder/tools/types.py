"""What a tool run produces: the result the model sees plus effects the engine applies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ToolResult(BaseModel):
    """Failures are data (ok=False) so guards and healing can see them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool_use_id: str
    ok: bool
    content: str
    exit_code: int | None = None
    truncated: bool = False
    duration_ms: int = 0


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


class EscalationOption(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    key: str
    label: str


class EscalationEffect(BaseModel):
    """`ask_founder`: a structured question the engine records and waits on."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["escalation"] = "escalation"
    problem: str
    tried: list[str]
    recommendation: str
    options: list[EscalationOption]
    default: str
    can_continue: bool = False


ToolEffect = Annotated[
    PhaseEffect | NarrationEffect | DocumentEffect | EscalationEffect,
    Field(discriminator="kind"),
]


class ToolRun(BaseModel):
    """One executed tool call: its result, a human label and summary for the feed, and effects."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    result: ToolResult
    label: str
    summary: str
    effects: list[ToolEffect] = Field(default_factory=list)
