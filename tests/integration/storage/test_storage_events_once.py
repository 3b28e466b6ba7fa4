"""A step that runs again after a crash emits its events again; `Occurrences` keeps the log
showing each one once, and still lets through what the earlier attempt never reached."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cf_support import Backend, app_db_url
from cofounder.events import AnyEvent, IterationCommitted, Narration, Thinking, ToolStarted
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


def test_a_redo_late_in_a_long_session_still_sees_its_attempt_past_other_rows(
    log: EventLog,
) -> None:
    """The look-back stops at the previous iteration's commit, not at the first older row: an
    event of an earlier iteration written between the crash and the redo (a top-up's budget
    line, say) does not hide what the crashed attempt wrote."""
    for iteration in range(1, 400):
        log.append_all("s1", _batch(iteration)[0], once=Occurrences())
        log.append("s1", _committed(iteration))
    flushes = _batch(400)
    log.append_all("s1", flushes[0] + flushes[1], once=Occurrences())  # dies here
    log.append("s1", ToolStarted(iteration=399, tool_use_id="late", name="bash"))
    again = Occurrences()
    for events in flushes:
        log.append_all("s1", events, once=again)
    at_400 = [e for e in log.read("s1", limit=100_000) if e.payload.get("iteration") == 400]
    assert [e.payload.get("tool_use_id", e.payload.get("message")) for e in at_400] == [
        "a",
        "b",
        "same",
        "same",
    ]


def _committed(iteration: int) -> AnyEvent:
    return IterationCommitted(
        iteration=iteration, tool_calls=1, input_tokens=1, output_tokens=1, cost_microdollars=0
    )


def test_an_attempt_that_wrote_more_than_a_page_is_seen_whole(log: EventLog) -> None:
    """The look-back reads in pages: a crashed attempt of 250 events is still all found."""
    log.append("s1", _committed(1))
    flushes = [[Narration(iteration=2, message=f"line {n}")] for n in range(250)]
    crashed = Occurrences()
    for events in flushes:
        log.append_all("s1", events, once=crashed)
    again = Occurrences()
    for events in [*flushes, [Narration(iteration=2, message="one more")]]:
        log.append_all("s1", events, once=again)
    assert len([e for e in log.read("s1", limit=1000) if e.type == "narration"]) == 251
