"""A step that runs again after a crash emits its events again; `Occurrences` keeps the log
showing each one once, and still lets through what the earlier attempt never reached."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cf_support import Backend, app_db_url
from cofounder.events import AnyEvent, Narration, Thinking, ToolStarted
from cofounder.storage import Database, EventLog
from cofounder.storage.events import Occurrences


@pytest.fixture
def log(backend: Backend) -> Iterator[EventLog]:
    database = Database(app_db_url(backend))
    database.migrate()
    yield EventLog(database)
    database.close()


def _batch(iteration: int) -> list[list[AnyEvent]]:
    """A batch's flushes: two tools, the second narrating twice (same text both times)."""
    return [
        [ToolStarted(iteration=iteration, tool_use_id="a", name="bash")],
        [ToolStarted(iteration=iteration, tool_use_id="b", name="narrate")],
        [
            Narration(iteration=iteration, message="same"),
            Narration(iteration=iteration, message="same"),
        ],
    ]


def _shown(log: EventLog) -> list[tuple[str, str]]:
    return [
        (e.type, str(e.payload.get("tool_use_id", e.payload.get("message", ""))))
        for e in log.read("s1", limit=1000)
    ]


def test_a_redone_step_adds_only_what_its_crashed_attempt_never_wrote(log: EventLog) -> None:
    flushes = _batch(3)
    first = Occurrences()
    log.append_all("s1", flushes[0], once=first)  # ... and the worker dies here
    again = Occurrences()
    for events in flushes:
        log.append_all("s1", events, once=again)
    assert _shown(log) == [
        ("tool_started", "a"),
        ("tool_started", "b"),
        ("narration", "same"),
        ("narration", "same"),  # twice in the step itself: both are real
    ]


def test_a_third_attempt_after_two_crashes_adds_nothing_twice(log: EventLog) -> None:
    flushes = _batch(1)
    for upto in (1, 2, 3):
        attempt = Occurrences()
        for events in flushes[:upto]:
            log.append_all("s1", events, once=attempt)
    assert len(_shown(log)) == 4


def test_other_iterations_and_plain_appends_are_not_affected(log: EventLog) -> None:
    log.append("s1", Thinking(iteration=1, context_tokens=10))
    log.append_all("s1", [Thinking(iteration=2, context_tokens=10)], once=Occurrences())
    log.append_all("s1", [Thinking(iteration=2, context_tokens=10)], once=Occurrences())
    log.append("s1", Thinking(iteration=2, context_tokens=10))  # not a step's re-run: kept
    assert [e.payload["iteration"] for e in log.read("s1")] == [1, 2, 2]
