"""The wake poller in bulk, on SQLite and PostgreSQL: more sessions due at once than one batch
(a budget window that ends for everyone at the same hour) all join the queue in one call, the
most overdue first, each with its next run number and exactly one `waking` event that follows
its log's last seq; a waiter whose questions are answered joins too; nobody not yet due does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from queue_support import Build, open_runtime, queue_builds, states
from sqlalchemy import update

from cf_support import Backend
from cofounder.engine.runtime import Runtime
from cofounder.events import Narration
from cofounder.storage.queue import WAKE_BATCH
from cofounder.storage.tables import SessionRow


@pytest.fixture
def rt(backend: Backend) -> Iterator[Runtime]:
    opened = open_runtime(backend)
    yield opened
    opened.close()


def _asleep_until(rt: Runtime, ids: list[str], wake_at: list[datetime]) -> None:
    with rt.db.transaction() as session:
        for session_id, at in zip(ids, wake_at, strict=True):
            session.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(state="sleeping", wake_at=at, iteration=3, run_number=2)
            )


def test_more_than_a_batch_due_at_once_all_wake_in_one_call(rt: Runtime) -> None:
    now = datetime.now(UTC)
    n = WAKE_BATCH * 2 + 7
    due = queue_builds(rt, [Build(f"o{i}", "partner") for i in range(n)])
    # The most overdue are the last ones made: the order woken is not the order made.
    _asleep_until(rt, due, [now - timedelta(seconds=n - i) for i in range(n)][::-1])
    later = queue_builds(rt, [Build("later")])
    _asleep_until(rt, later, [now + timedelta(hours=1)])
    waiter = queue_builds(rt, [Build("asked")], state="waiting")  # nothing open: answered
    for session_id in due[:3]:  # some already have a log
        rt.events.append(session_id, Narration(iteration=3, message="before the sleep"))
        rt.events.append(session_id, Narration(iteration=3, message="and again"))
    woken = rt.queue.wake_due(now)
    assert sorted(woken) == sorted(due + waiter)
    assert woken[: len(due)] == due[::-1]  # most overdue first
    assert set(states(rt, due + waiter).values()) == {"queued"}
    assert states(rt, later) == {later[0]: "sleeping"}
    for session_id in [*due[:3], due[-1]]:
        record = rt.sessions.get(session_id)
        assert record is not None
        assert (record.run_number, record.wake_at, record.worker) == (3, None, None)
        assert record.queued_at is not None and record.queued_at >= now
        events = rt.events.read(session_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [e.type for e in events][-1] == "waking"
        assert [e.type for e in events].count("waking") == 1
        assert events[-1].payload["run"] == 3 and events[-1].payload["iteration"] == 3
    assert rt.events.read(waiter[0]) == []  # a waiter's resolution is its own event
    assert rt.queue.wake_due(now) == []  # nothing left, nothing twice


def test_a_requested_wake_is_due_now_and_says_so(rt: Runtime) -> None:
    ids = queue_builds(rt, [Build("a"), Build("b")])
    later = datetime.now(UTC) + timedelta(hours=5)
    _asleep_until(rt, ids, [later, later])
    rt.sessions.request_wake(ids[0])
    assert rt.queue.wake_due() == [ids[0]]
    waking = rt.events.read(ids[0])[-1]
    assert (waking.type, waking.payload["on_request"]) == ("waking", True)
    record = rt.sessions.get(ids[0])
    assert record is not None and not record.wake_requested
    assert states(rt, ids) == {ids[0]: "queued", ids[1]: "sleeping"}


def test_requeue_moves_only_from_the_states_named(rt: Runtime) -> None:
    paused = queue_builds(rt, [Build("p")], state="paused")[0]
    running = queue_builds(rt, [Build("r")], state="running")[0]
    assert rt.queue.requeue(paused, from_states=("paused",))
    assert not rt.queue.requeue(running, from_states=("paused",))
    assert not rt.queue.requeue("no-such-session", from_states=("paused",))
    record = rt.sessions.get(paused)
    assert record is not None and (record.state, record.run_number) == ("queued", 2)
    assert states(rt, [running]) == {running: "running"}
