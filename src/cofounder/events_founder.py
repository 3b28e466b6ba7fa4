"""Events of the founder's side of a build: the questions it asks, their answers, and what
the founder says to it unasked."""

from __future__ import annotations

from typing import Literal

from cofounder.event_base import AtIteration, BaseEvent, Timestamp
from cofounder.questions import Option


class Escalated(AtIteration):
    """A question was recorded. Flat, with `default` (the stored `default_option`): the
    published shape predates `Question`; its options are the same `Option`s."""

    type: Literal["escalated"] = "escalated"
    id: str
    reason: str
    problem: str
    error: str
    tried: list[str]
    recommendation: str
    options: list[Option]
    default: str
    deadline: Timestamp
    can_continue: bool


class WaitingForInput(BaseEvent):
    """`blocking`: the build stops until the answer (or the deadline's default)."""

    type: Literal["waiting_for_input"] = "waiting_for_input"
    escalation_id: str
    deadline: Timestamp
    blocking: bool


class Resolved(AtIteration):
    type: Literal["resolved"] = "resolved"
    escalation_id: str
    choice: str | None
    guidance: str | None
    defaulted: bool
    by: str | None


class FounderMessage(AtIteration):
    """Something the founder said to the build (`cofounder say`, the dashboard), as the
    model received it at the start of `iteration`."""

    type: Literal["founder_message"] = "founder_message"
    message_id: str
    text: str
    by: str
