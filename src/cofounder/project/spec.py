"""The ProjectSpec: what a founder wants built, validated once at the edge.

Everything downstream (prompt, engine, budget) trusts these fields, so the constraints live here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

PROJECT_FILENAME = "cofounder.yaml"

NAME_MAX_CHARS = 100
TEXT_MAX_CHARS = 20_000
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MODEL_SPEC_PATTERN = r"^[a-z][a-z0-9_-]*:\S.*$"

Tier = Literal["bootstrapper", "partner", "cto_scale"]
TIERS: tuple[Tier, ...] = ("bootstrapper", "partner", "cto_scale")

ProjectName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=NAME_MAX_CHARS, pattern=r"^[^\r\n\t]+$"
    ),
]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX_CHARS)
]
OwnerId = Annotated[str, StringConstraints(pattern=OWNER_PATTERN)]
ModelSpecText = Annotated[str, StringConstraints(strip_whitespace=True, pattern=MODEL_SPEC_PATTERN)]


class _Strict(BaseModel):
    # strict: a number is not silently accepted where text is expected (YAML `name: 2024`).
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class QnA(_Strict):
    """One question of the understanding interview and the founder's answer."""

    question: Text
    answer: Text


class ProjectSpec(_Strict):
    """A project: the idea, what the founder told us, and what 'done' means."""

    name: ProjectName
    idea_brief: Annotated[dict[str, JsonValue], Field(min_length=1)]
    understanding_qna: list[QnA] = Field(default_factory=list)
    goal: Text
    tier: Tier = "bootstrapper"
    owner: OwnerId = "founder"
    model: ModelSpecText | None = None
    # `egress` lets the app's setup reach package registries (never host or private addresses).
    network: Literal["none", "egress"] = "none"
