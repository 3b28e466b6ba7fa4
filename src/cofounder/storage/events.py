"""The append-only, per-session event log with a gap-free `seq`.

Events go in as their models (`cofounder.events`) and come back as them; the payload is kept
as stored too, for JSON output that stays what it always was."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ARRAY, Table, Text, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cofounder.events import AnyEvent, event_payload, parse_event
from cofounder.redaction import redact_value
from cofounder.storage.db import Database, hold_sqlite_writer
from cofounder.storage.tables import EventRow

# C1 controls, bidi controls and line/paragraph separators: a terminal or editor showing
# `events --json` would act on them raw. As JSON `\u` escapes the text stays the same.
_JSON_UNSAFE = re.compile("[\x80-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _json_escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


class Event(BaseModel):
    """A stored event: `body` is its model, `payload` the JSON object as stored."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    seq: int
    ts: datetime
    body: AnyEvent
    payload: dict[str, Any]

    @property
    def type(self) -> str:
        return self.body.type

    @classmethod
    def stored(
        cls, session_id: str, seq: int, type_: str, ts: datetime, payload: dict[str, Any]
    ) -> Event:
        """A row read back: its payload parsed to the event's model (ValidationError if it
        is not one)."""
        body = parse_event(type_, payload)
        return cls(session_id=session_id, seq=seq, ts=ts, body=body, payload=payload)

    def to_json_line(self) -> str:
        """One JSON object per line; controls a terminal would obey are `\\u` escaped."""
        line = json.dumps(
            {
                "session_id": self.session_id,
                "seq": self.seq,
                "type": self.type,
                "ts": self.ts.isoformat(),
                "payload": self.payload,
            },
            ensure_ascii=False,
        )
        return _JSON_UNSAFE.sub(_json_escaped, line)


_EVENTS = cast(Table, EventRow.__table__)
_LAST_SEQ = select(func.coalesce(func.max(EventRow.seq), 0)).where(
    EventRow.session_id == bindparam("session_id")
)

# First key of the PostgreSQL advisory locks that serialise one session's appenders ("CFEV").
_EVENT_LOCK_CLASS = 0x43464556


def _lock_session_events(session: Session, session_id: str) -> None:
    """Hold, until this transaction ends, the right to append to `session_id`'s log.

    Without it two writers both compute `max(seq) + 1` and one fails on the primary key; that
    cannot be retried when the append is part of a caller's larger transaction (a commit step),
    and `EventLog.append`'s retries starve under contention.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            select(func.pg_advisory_xact_lock(_EVENT_LOCK_CLASS, func.hashtext(session_id)))
        )
    elif dialect == "sqlite":
        # SQLite has one writer at a time, but a transaction only takes that lock at its first
        # write: take it before the read below.
        hold_sqlite_writer(session)


# How far back a step's re-run looks for the events its earlier attempt already wrote.
_RECENT = 2000
_PAGE = 100
_COMMITTED = "iteration_committed"  # IterationCommitted: no later iteration writes before it


class Occurrences:
    """What one run of a step has emitted so far, per (type, iteration, tool use): a step that
    runs again after a crash emits the same events in the same order, and those its earlier
    attempt already wrote are skipped, so the founder never sees them twice."""

    def __init__(self) -> None:
        self._emitted: Counter[tuple[str, int, str]] = Counter()  # skipped ones included
        self._written: Counter[tuple[str, int, str]] = Counter()  # stored by this run

    def fresh(
        self, events: Sequence[AnyEvent], stored: Counter[tuple[str, int, str]]
    ) -> list[AnyEvent]:
        """The events an earlier attempt did not write; `stored` counts every stored one."""
        emitted = Counter(self._emitted)
        out = []
        for event in events:
            key = _identity(event.type, event_payload(event))
            earlier = stored[key] - self._written[key]
            if emitted[key] >= earlier:
                out.append(event)
            emitted[key] += 1
        return out

    def record(self, events: Sequence[AnyEvent], written: Sequence[AnyEvent]) -> None:
        for event in events:
            self._emitted[_identity(event.type, event_payload(event))] += 1
        for event in written:
            self._written[_identity(event.type, event_payload(event))] += 1


def _identity(type_: str, payload: dict[str, Any]) -> tuple[str, int, str]:
    return (type_, int(payload.get("iteration", -1)), str(payload.get("tool_use_id", "")))


def _written_before(
    session: Session, session_id: str, last: int, events: Sequence[AnyEvent]
) -> Counter[tuple[str, int, str]]:
    """The stored events an earlier attempt of this step could have written: read newest
    first, back to the commit of the iteration before the earliest one in `events` (no attempt
    of a later iteration writes before that commit), so the cost is about one iteration's
    events rather than the last `_RECENT`, however long the session."""
    oldest = min(_identity(e.type, event_payload(e))[1] for e in events)
    types = {e.type for e in events}
    found: Counter[tuple[str, int, str]] = Counter()
    before = last + 1
    # In pages, newest first: one page holds an iteration's events in the usual case, and no
    # driver fetches the rest of the window (psycopg reads a whole result at once).
    while True:
        rows = session.execute(
            select(EventRow.seq, EventRow.type, EventRow.payload_json)
            .where(
                EventRow.session_id == session_id,
                EventRow.seq > last - _RECENT,
                EventRow.seq < before,
                EventRow.type.in_(types | {_COMMITTED}),
            )
            .order_by(EventRow.seq.desc())
            .limit(_PAGE)
        ).all()
        for seq, type_, payload in rows:
            key = _identity(type_, json.loads(payload))
            if type_ == _COMMITTED and 0 <= key[1] < oldest:
                return found
            if type_ in types:
                found[key] += 1
            before = seq
        if len(rows) < _PAGE:
            return found


def append_in(session: Session, session_id: str, event: AnyEvent) -> Event:
    """Append inside an open transaction, so an event commits atomically with other writes."""
    return append_all_in(session, session_id, [event])[0]


def append_all_in(
    session: Session,
    session_id: str,
    events: Sequence[AnyEvent],
    *,
    once: Occurrences | None = None,
) -> list[Event]:
    """Append `events` in order inside an open transaction: one lock and one `max(seq)` for
    all of them. With `once` (a step's record of what it emitted), events an earlier attempt
    of the same step already wrote are left out."""
    if not events:
        return []
    _lock_session_events(session, session_id)
    last = session.scalar(_LAST_SEQ, {"session_id": session_id})
    assert last is not None
    emitted = events
    if once is not None:
        events = once.fresh(events, _written_before(session, session_id, int(last), events))
        if not events:
            once.record(emitted, [])
            return []
    texts = [_stored_text(e) for e in events]
    appended = [
        # As stored: redacted, through JSON, read back as its model.
        Event.stored(session_id, int(last) + n, event.type, datetime.now(UTC), json.loads(text))
        for n, (event, text) in enumerate(zip(events, texts, strict=True), start=1)
    ]
    # A plain INSERT (no ORM unit of work): nothing in the transaction reads these rows back.
    session.execute(
        insert(_EVENTS),
        [
            {"session_id": session_id, "seq": e.seq, "type": e.type, "ts": e.ts, "payload_json": t}
            for e, t in zip(appended, texts, strict=True)
        ],
    )
    if once is not None:
        once.record(emitted, events)
    return appended


def _stored_text(event: AnyEvent) -> str:
    """The payload as the events table keeps it: redacted JSON."""
    return json.dumps(redact_value(event_payload(event)), ensure_ascii=False)


def append_each_in(session: Session, events: Sequence[tuple[str, AnyEvent]]) -> None:
    """One event each for many sessions (a session at most once) inside an open transaction:
    their locks, last seqs and rows in a statement each, not in three per session (the poller
    waking a thousand sleepers at once)."""
    if not events:
        return
    ids = sorted(session_id for session_id, _ in events)
    assert len(set(ids)) == len(ids), "one event per session"
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # In one order for every caller that takes several: they cannot deadlock each other.
        ordered = (
            select(func.unnest(bindparam("ids", ids, type_=ARRAY(Text))).label("id"))
            .order_by("id")
            .subquery()
        )
        session.execute(
            select(func.pg_advisory_xact_lock(_EVENT_LOCK_CLASS, func.hashtext(ordered.c.id)))
        )
    elif dialect == "sqlite":
        hold_sqlite_writer(session)  # its one writer lock covers every session's log
    last = dict(
        session.execute(
            select(EventRow.session_id, func.max(EventRow.seq))
            .where(EventRow.session_id.in_(ids))
            .group_by(EventRow.session_id)
        ).all()
    )
    now = datetime.now(UTC)
    session.execute(
        insert(_EVENTS),
        [
            {
                "session_id": session_id,
                "seq": int(last.get(session_id) or 0) + 1,
                "type": event.type,
                "ts": now,
                "payload_json": _stored_text(event),
            }
            for session_id, event in events
        ],
    )


class EventLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def append(self, session_id: str, event: AnyEvent) -> Event:
        """Append in its own transaction; a concurrent writer's seq clash is retried."""
        return self.append_all(session_id, [event])[0]

    def append_all(
        self, session_id: str, events: Sequence[AnyEvent], *, once: Occurrences | None = None
    ) -> list[Event]:
        """`append_all_in`, in a transaction of its own; a seq clash is retried."""
        for attempt in range(20):
            try:
                with self._db.transaction() as session:
                    return append_all_in(session, session_id, events, once=once)
            except IntegrityError:
                if attempt == 19:
                    raise
        raise AssertionError("unreachable")

    def read(self, session_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        with self._db.transaction() as session:
            rows = session.scalars(
                select(EventRow)
                .where(EventRow.session_id == session_id, EventRow.seq > after_seq)
                .order_by(EventRow.seq)
                .limit(limit)
            ).all()
            return [_to_event(r) for r in rows]

    def of_type(self, session_id: str, type_: str) -> list[Event]:
        """Every event of one type, oldest first (a fork looks back for its parent's)."""
        with self._db.transaction() as session:
            rows = session.scalars(
                select(EventRow)
                .where(EventRow.session_id == session_id, EventRow.type == type_)
                .order_by(EventRow.seq)
            ).all()
            return [_to_event(r) for r in rows]


def _to_event(row: EventRow) -> Event:
    return Event.stored(row.session_id, row.seq, row.type, row.ts, json.loads(row.payload_json))
