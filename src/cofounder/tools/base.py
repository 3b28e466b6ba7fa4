"""The shape every tool implementation shares, so the ToolBox can dispatch them uniformly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cofounder.sandbox.preview_types import PreviewHost
from cofounder.sandbox.protocol import Sandbox
from cofounder.tools.types import ToolEffect, ToolImage


class ToolFailure(Exception):
    """An expected failure (missing file, ambiguous edit): becomes ok=False with this message."""

    def __init__(self, message: str, summary: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.summary = summary or message.splitlines()[0][:120]


@dataclass(frozen=True)
class ToolContext:
    sandbox: Sandbox
    output_limit_chars: int
    preview: PreviewHost | None = None

    @property
    def workspace(self) -> Path:
        return self.sandbox.workspace


@dataclass(frozen=True)
class ToolOutput:
    content: str
    summary: str
    ok: bool = True
    exit_code: int | None = None
    truncated: bool = False
    effects: tuple[ToolEffect, ...] = field(default_factory=tuple)
    images: tuple[ToolImage, ...] = field(default_factory=tuple)


Args = dict[str, Any]


@dataclass(frozen=True)
class ToolDef:
    """A tool: what the model is told (name, description, schema) and what runs.

    `label` gets the validated input and says what is happening, for the live feed.
    `read_only`: it never changes the workspace, so a batch of only such calls needs no
    snapshot afterwards.
    """

    name: str
    description: str
    schema: dict[str, Any]
    label: Callable[[Args], str]
    run: Callable[[ToolContext, Args], ToolOutput]
    read_only: bool = False


def clip(text: str, width: int) -> str:
    """One line of at most `width` characters, for labels and summaries."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """`1 line`, `2 lines`; give `nouns` for irregular plurals (`match`, `matches`)."""
    return f"{n} {noun}" if n == 1 else f"{n} {nouns or noun + 's'}"
