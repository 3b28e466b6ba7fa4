"""One founder's question for the tests to ask, store and answer, changed where a test needs."""

from __future__ import annotations

from typing import Any

from cofounder.questions import ASKED_KEY, Option, Question

WEEKENDS = Question(
    key=ASKED_KEY,
    reason="asked",
    problem="Should streaks count weekends? «📅»",
    tried=("counted every day", "counted weekdays"),
    recommendation="Count every day.",
    options=(
        Option(key="simpler", label="Every day counts", description="Weekends too."),
        Option(key="weekdays", label="Only weekdays"),
    ),
    default_option="simpler",
    can_continue=True,
)


def question(**changes: Any) -> Question:
    """`WEEKENDS` with `changes`, validated again."""
    return Question.model_validate({**dict(WEEKENDS), **changes})
