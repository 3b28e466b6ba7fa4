"""The per-session event log on real databases: `seq` is 1..N with no gaps or duplicates, also
under concurrent writers, resumes exactly from a client's last seq, and never stores a secret."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text

from cf_support import Backend, app_db_url
from cofounder.events import (
    CancelRequested,
    IterationCommitted,
    Narration,
    PhaseStarted,
    PreviewFailed,
    SessionResumed,
    SessionStarted,
    ToolCalled,
    Waking,
)
from cofounder.storage import Database, EventLog
from cofounder.storage.events import append_in
from cofounder.storage.tables import EventRow

THREADS = 4
PER_THREAD = 50


@pytest.fixture
def db(backend: Backend) -> Iterator[Database]:
    database = Database(app_db_url(backend))
    database.migrate()
    yield database
    database.close()


def _note(n: int, message: str = "x") -> Narration:
    return Narration(iteration=n, message=message)


def _phase(name: str) -> PhaseStarted:
    return PhaseStarted(iteration=0, phase=name)


def _phases(log: EventLog, session_id: str) -> list[tuple[int, str]]:
    return [(e.seq, e.body.phase) for e in log.read(session_id) if isinstance(e.body, PhaseStarted)]


def _seqs(log: EventLog, session_id: str) -> list[int]:
    return [e.seq for e in log.read(session_id, limit=100_000)]


def _run_threads(worker: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            worker(index)
        except BaseException as exc:  # reported on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "an appender hung"
    assert not errors, f"appenders failed: {errors!r}"


def test_seq_starts_at_one_and_is_gap_free(db: Database) -> None:
    log = EventLog(db)
    events = [log.append("s1", _note(n, f"tick {n}")) for n in range(1, 8)]
    assert [e.seq for e in events] == list(range(1, 8))
    stored = log.read("s1")
    assert [(e.seq, e.type, e.payload, e.body) for e in stored] == [
        (n, "narration", {"iteration": n, "message": f"tick {n}"}, _note(n, f"tick {n}"))
        for n in range(1, 8)
    ]
    assert all(e.ts.utcoffset() == timedelta(0) for e in [*events, *stored])
    assert [e.ts for e in stored] == [e.ts for e in events]
    assert [e.ts for e in stored] == sorted(e.ts for e in stored)


def test_sessions_are_independent(db: Database) -> None:
    log = EventLog(db)
    for n in range(5):
        log.append("a", _note(n))
        log.append("b", _note(n))
        if n % 2:
            log.append("b", _phase("y"))
    assert _seqs(log, "a") == [1, 2, 3, 4, 5]
    assert _seqs(log, "b") == list(range(1, 8))
    assert log.read("nobody") == []
    assert log.append("c", _phase("first")).seq == 1


def test_rolled_back_append_leaves_no_gap(db: Database) -> None:
    log = EventLog(db)
    log.append("s", _phase("one"))
    with pytest.raises(RuntimeError), db.transaction() as session:
        event = append_in(session, "s", _phase("doomed"))
        assert event.seq == 2
        raise RuntimeError("the iteration failed before commit")
    assert _seqs(log, "s") == [1]
    with db.transaction() as session:
        assert append_in(session, "s", _phase("two")).seq == 2
        assert append_in(session, "s", _phase("three")).seq == 3  # several in one transaction
    assert _phases(log, "s") == [(1, "one"), (2, "two"), (3, "three")]


def test_seq_continues_after_reopening_the_database(backend: Backend) -> None:
    url = app_db_url(backend)
    first = Database(url)
    first.migrate()
    EventLog(first).append("s", _phase("before"))
    EventLog(first).append("s", _phase("before"))
    first.close()
    second = Database(url)
    second.migrate()
    try:
        assert EventLog(second).append("s", _phase("after")).seq == 3
        assert _seqs(EventLog(second), "s") == [1, 2, 3]
    finally:
        second.close()


def test_read_after_seq_resumes_exactly(db: Database) -> None:
    log = EventLog(db)
    for n in range(1, 26):
        log.append("s", _note(n))
    assert [e.seq for e in log.read("s", after_seq=10, limit=5)] == [11, 12, 13, 14, 15]
    assert log.read("s", after_seq=25) == []
    assert [e.seq for e in log.read("s", after_seq=24)] == [25]
    # A client paging with its last seen seq gets everything once, in order.
    seen: list[int] = []
    last = 0
    while page := log.read("s", after_seq=last, limit=7):
        seen.extend(e.seq for e in page)
        last = page[-1].seq
        if last == 14:
            log.append("s", _phase("late"))  # arrives while the client is paging
    assert seen == list(range(1, 27))


def _assert_all_appended(log: EventLog, session_id: str) -> None:
    events = log.read(session_id, limit=100_000)
    assert [e.seq for e in events] == list(range(1, THREADS * PER_THREAD + 1))
    by_thread: dict[int, list[int]] = {}
    for e in events:
        assert isinstance(e.body, Narration)
        by_thread.setdefault(int(e.body.message), []).append(e.body.iteration)
    # Every append landed exactly once, and each thread's appends kept their order.
    assert by_thread == {t: list(range(PER_THREAD)) for t in range(THREADS)}


@pytest.mark.parametrize("shared", [True, False], ids=["shared-db", "db-per-thread"])
def test_concurrent_appenders_get_exactly_one_to_n(backend: Backend, shared: bool) -> None:
    url = app_db_url(backend)
    main = Database(url)
    main.migrate()
    barrier = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        db = main if shared else Database(url)
        try:
            log = EventLog(db)
            barrier.wait()
            for n in range(PER_THREAD):
                log.append("hot", _note(n, str(t)))
                if n % 10 == 0:
                    log.append(f"own-{t}", _note(n))
        finally:
            if not shared:
                db.close()

    try:
        _run_threads(worker)
        log = EventLog(main)
        _assert_all_appended(log, "hot")
        for t in range(THREADS):
            assert _seqs(log, f"own-{t}") == list(range(1, PER_THREAD // 10 + 1))
    finally:
        main.close()


def test_concurrent_append_in_inside_larger_transactions(backend: Backend) -> None:
    """The engine appends inside its commit transaction while e.g. `cancel` appends from
    another process; neither may fail or produce a duplicate or a gap."""
    url = app_db_url(backend)
    main = Database(url)
    main.migrate()
    barrier = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        db = Database(url)
        try:
            barrier.wait()
            for n in range(PER_THREAD):
                if t % 2:
                    EventLog(db).append("hot", _note(n, str(t)))
                else:
                    with db.transaction() as session:
                        session.scalars(
                            select(EventRow.seq).limit(1)
                        ).all()  # reads first, as steps do
                        append_in(session, "hot", _note(n, str(t)))
        finally:
            db.close()

    try:
        _run_threads(worker)
        _assert_all_appended(EventLog(main), "hot")
    finally:
        main.close()


# Run in a child process: secret-named environment variables are read once per process.
_APPEND_WITH_SECRETS = """
import json, sys
from cofounder.events import ToolCalled
from cofounder.storage import Database, EventLog
db = Database(sys.argv[1])
event = EventLog(db).append("s", ToolCalled.model_validate_json(sys.stdin.read()))
print(json.dumps(event.payload))
"""


def test_secrets_are_redacted_before_storage(db: Database, backend: Backend) -> None:
    env_secret = "vendor-secret-value-8c1f2e9a"
    anthropic_key = "sk-ant-api03-" + "A1b2C3d4" * 6
    event = ToolCalled(
        iteration=3,
        tool_use_id="toolu_1",
        name="bash",
        label=f"curl -H 'x-key: {env_secret}' https://acme.example",
        summary=f"deploy --token-file {anthropic_key}",
        ok=True,
        exit_code=0,
        duration_ms=12,
    )
    child = subprocess.run(
        [sys.executable, "-c", _APPEND_WITH_SECRETS, app_db_url(backend)],
        input=event.model_dump_json(),
        env=backend.env(ACME_API_KEY=env_secret),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    returned = child.stdout.strip()

    with db.transaction() as session:
        raw = session.execute(
            text("SELECT payload_json FROM events WHERE session_id = 's'")
        ).scalar_one()
    for stored in (raw, returned, json.dumps(EventLog(db).read("s")[0].payload)):
        assert env_secret not in stored
        assert "A1b2C3d4" not in stored
        assert "sk-ant-api03" not in stored
    stored_payload = json.loads(raw)
    assert stored_payload == {
        "iteration": 3,
        "tool_use_id": "toolu_1",
        "name": "bash",
        "label": "curl -H 'x-key: [REDACTED]' https://acme.example",
        "summary": "deploy --token-file [REDACTED]",
        "ok": True,
        "exit_code": 0,
        "duration_ms": 12,
    }
    assert json.loads(returned) == stored_payload
    assert EventLog(db).read("s")[0].body == event.model_copy(
        update={"label": stored_payload["label"], "summary": stored_payload["summary"]}
    )


def _insert_raw(db: Database, session_id: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Rows as the code before typed events wrote them: a type name and a dict."""
    with db.transaction() as session:
        for seq, (type_, payload) in enumerate(rows, start=1):
            session.add(
                EventRow(
                    session_id=session_id,
                    seq=seq,
                    type=type_,
                    ts=datetime.now(UTC),
                    payload_json=json.dumps(payload),
                )
            )


def test_rows_written_before_typed_events_read_back_as_their_models(db: Database) -> None:
    old: list[tuple[str, dict[str, Any]]] = [
        # before the network mode, cache tokens and the run number were recorded
        (
            "session_started",
            {"name": "n", "goal": "g", "owner": "o", "model": "m", "workspace": "/w",
             "max_tool_calls": 50},
        ),
        ("session_resumed", {"iteration": 4}),
        (
            "iteration_committed",
            {"iteration": 4, "tool_calls": 9, "input_tokens": 10, "output_tokens": 2,
             "cost_microdollars": 30},
        ),
        # today's shapes: a preview that failed before its app ran, a wake on request
        ("preview_failed", {"iteration": 2, "restarted": True, "hint": "sandbox error: x"}),
        (
            "waking",
            {"iteration": 5, "run": 3, "on_request": True, "wake_at": "2025-06-01T14:00:00+00:00"},
        ),
        ("cancel_requested", {}),
    ]  # fmt: skip
    _insert_raw(db, "old", old)
    events = EventLog(db).read("old")
    assert [(e.type, e.payload) for e in events] == old  # `events --json` prints them as stored
    started, resumed, committed, failed, waking, cancel = (e.body for e in events)
    assert isinstance(started, SessionStarted) and started.network == "none"
    assert isinstance(resumed, SessionResumed) and resumed.run is None
    assert isinstance(committed, IterationCommitted) and committed.cache_read_tokens == 0
    assert isinstance(failed, PreviewFailed) and failed.command is None
    assert failed.hint == "sandbox error: x"
    assert waking == Waking(
        iteration=5, run=3, on_request=True, wake_at=datetime(2025, 6, 1, 14, tzinfo=UTC)
    )
    assert cancel == CancelRequested()


@pytest.mark.parametrize(
    ("type_", "payload"),
    [
        ("tick", {"n": 1}),  # no such event
        ("narration", {"iteration": 1, "message": "m", "mood": "happy"}),  # an unknown key
        ("narration", {"iteration": "first", "message": "m"}),  # a wrong value
    ],
)
def test_a_row_no_event_model_reads_is_an_error_never_skipped(
    db: Database, type_: str, payload: dict[str, Any]
) -> None:
    _insert_raw(db, "bad", [("narration", {"iteration": 0, "message": "fine"}), (type_, payload)])
    with pytest.raises(ValidationError):
        EventLog(db).read("bad")
