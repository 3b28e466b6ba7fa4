"""Aggregate reads for the service's metrics, and a session's events of chosen types.

Everything here is computed from rows every process writes once (sessions, the ledger,
escalations, events), so any process reading it sees the same figures, and a replayed
workflow (which records nothing twice) cannot inflate them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select

from cofounder.storage.db import Database
from cofounder.storage.events import Event
from cofounder.storage.tables import EscalationRow, EventRow, LedgerRow, SessionRow

_SLICE = 200  # sessions per query when reading several sessions' new events


@dataclass(frozen=True)
class LedgerTotal:
    """Recorded model calls of one tier, model and purpose, and what they used and cost."""

    tier: str
    model_spec: str
    purpose: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_microdollars: int


class Stats:
    def __init__(self, db: Database) -> None:
        self._db = db

    def sessions_by_state(self) -> dict[str, int]:
        with self._db.transaction() as session:
            rows = session.execute(
                select(SessionRow.state, func.count()).group_by(SessionRow.state)
            ).all()
        return {str(state): int(count) for state, count in rows}

    def open_escalations(self) -> int:
        with self._db.transaction() as session:
            return int(
                session.execute(
                    select(func.count()).where(EscalationRow.state == "open")
                ).scalar_one()
            )

    def ledger_totals(self) -> list[LedgerTotal]:
        """Every ledger row, summed by tier (its session's; "unknown" if the session is gone),
        model and purpose."""
        tier = func.coalesce(SessionRow.tier, "unknown")
        query = (
            select(
                tier,
                LedgerRow.model_spec,
                LedgerRow.purpose,
                func.count(),
                func.sum(LedgerRow.input_tokens),
                func.sum(LedgerRow.output_tokens),
                func.sum(LedgerRow.cache_read_tokens),
                func.sum(LedgerRow.cache_write_tokens),
                func.sum(LedgerRow.cost_microdollars),
            )
            .select_from(LedgerRow)
            .outerjoin(SessionRow, SessionRow.id == LedgerRow.session_id)
            .group_by(tier, LedgerRow.model_spec, LedgerRow.purpose)
        )
        with self._db.transaction() as session:
            rows = session.execute(query).all()
        return [
            LedgerTotal(str(t), str(m), str(p), *(int(n or 0) for n in numbers))
            for t, m, p, *numbers in rows
        ]

    def event_heads(self) -> dict[str, int]:
        """Each session's last event seq."""
        with self._db.transaction() as session:
            rows = session.execute(
                select(EventRow.session_id, func.max(EventRow.seq)).group_by(EventRow.session_id)
            ).all()
        return {str(sid): int(seq) for sid, seq in rows}

    def events_since(
        self, marks: Mapping[str, int], types: Sequence[str], *, upto: Mapping[str, int]
    ) -> list[Event]:
        """The events of `types` after each session's mark (0 when it has none) and at most
        its `upto` seq, by session then seq. Bounded above so a reader that moves its marks
        to `upto` never skips a row written meanwhile."""
        found: list[Event] = []
        ids = sorted(upto)
        for start in range(0, len(ids), _SLICE):
            ranges = [
                _seq_range(sid, marks.get(sid, 0), upto[sid]) for sid in ids[start : start + _SLICE]
            ]
            found.extend(self._read(or_(*ranges), types))
        return found

    def events_of_types(self, session_id: str, types: Iterable[str]) -> list[Event]:
        """One session's events of `types`, in order."""
        return self._read(EventRow.session_id == session_id, list(types))

    def _read(self, where: ColumnElement[bool], types: Sequence[str]) -> list[Event]:
        query = (
            select(EventRow)
            .where(where, EventRow.type.in_(types))
            .order_by(EventRow.session_id, EventRow.seq)
        )
        with self._db.transaction() as session:
            rows = session.scalars(query).all()
            return [
                Event.stored(r.session_id, r.seq, r.type, r.ts, json.loads(r.payload_json))
                for r in rows
            ]


def _seq_range(session_id: str, after: int, upto: int) -> ColumnElement[bool]:
    return and_(EventRow.session_id == session_id, EventRow.seq > after, EventRow.seq <= upto)
