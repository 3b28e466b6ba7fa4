"""A founder's question: the one type that the healing policy drafts, `ask_founder` carries,
the engine records, storage keeps and the faces show.

It lives at the top of the package and imports nothing of it, so every layer may use it
(`agent` may not import storage, `tools` may not import the agent). A stored escalation adds
its storage fields to it (`cofounder.storage.escalations.Escalation`); the `escalated` event
keeps its own flat, published shape but reuses `Option`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

QuestionReason = Literal["attempts_exhausted", "never_retry", "loop", "no_progress", "asked"]
"""Why it is asked: the healing policy's four reasons, or `asked` by the agent itself."""

ASKED_KEY = "ask"
"""The key `ask_founder` gives its question; the engine numbers it `ask:<iteration>:<n>`."""


class Option(BaseModel):
    """One answer a question offers (`cofounder resolve ID --choice KEY`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    label: str
    description: str = ""


class Question(BaseModel):
    """What the founder is asked. `key` names the problem it is about (the healing signature,
    or `ask:<iteration>:<n>`), so that its answer clears exactly that problem; the default
    applies when nobody answers by the deadline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    reason: QuestionReason
    problem: str
    error: str = ""
    tried: tuple[str, ...]
    recommendation: str
    options: tuple[Option, ...]
    default_option: str
    can_continue: bool = False  # the build keeps working on other parts meanwhile

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)
