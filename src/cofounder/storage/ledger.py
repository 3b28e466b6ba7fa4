"""The spend ledger, reservations and top-ups: per owner, per allowance window.

Every function that decides on an owner's money takes that owner's lock for the rest of the
transaction (a PostgreSQL advisory lock; SQLite's single writer lock), so two sessions of one
owner reserving at once see each other's reservations and cannot overshoot the allowance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Table, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from cofounder.budget import BudgetStatus, BudgetWindow
from cofounder.llm.messages import Usage
from cofounder.storage.db import hold_sqlite_writer
from cofounder.storage.tables import LedgerRow, ReservationRow, TopUpRow

# First key of the PostgreSQL advisory locks that serialise one owner's budget ("CFBU").
_BUDGET_LOCK_CLASS = 0x43464255


class CallKey(BaseModel):
    """Which model call: the turn of an iteration, or the compaction summary before it."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    iteration: int
    purpose: str  # "turn" | "summary"


def lock_owner(session: Session, owner: str) -> None:
    """Hold `owner`'s budget until this transaction ends."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            select(func.pg_advisory_xact_lock(_BUDGET_LOCK_CLASS, func.hashtext(owner)))
        )
    elif dialect == "sqlite":
        hold_sqlite_writer(session)  # SQLite's one writer lock, now rather than at a write


def _window_total(amount: Any, owner: Any, window_start: Any) -> Any:
    return (
        select(func.coalesce(func.sum(amount), 0))
        .where(owner == bindparam("owner"), window_start == bindparam("window_start"))
        .scalar_subquery()
    )


# Built once (this runs twice per iteration): spent, reserved and topped up, in one round trip.
_STANDING = select(
    _window_total(LedgerRow.cost_microdollars, LedgerRow.owner, LedgerRow.window_start),
    _window_total(
        ReservationRow.amount_microdollars, ReservationRow.owner, ReservationRow.window_start
    ),
    _window_total(TopUpRow.amount_microdollars, TopUpRow.owner, TopUpRow.window_start),
)


def status_in(
    session: Session, owner: str, window: BudgetWindow, base_allowance: int
) -> BudgetStatus:
    """The owner's standing in `window`."""
    spent, reserved, topped = session.execute(
        _STANDING, {"owner": owner, "window_start": window.start}
    ).one()
    return BudgetStatus(
        owner=owner,
        window_start=window.start,
        window_end=window.end,
        allowance=base_allowance + int(topped or 0),
        spent=int(spent or 0),
        reserved=int(reserved or 0),
    )


def reservation_in(session: Session, key: CallKey) -> ReservationRow | None:
    return session.get(ReservationRow, (key.session_id, key.iteration, key.purpose))


def reserve_in(
    session: Session, key: CallKey, owner: str, window: BudgetWindow, amount: int
) -> None:
    session.add(
        ReservationRow(
            session_id=key.session_id,
            iteration=key.iteration,
            purpose=key.purpose,
            owner=owner,
            window_start=window.start,
            amount_microdollars=amount,
            created_at=datetime.now(UTC),
        )
    )
    session.flush()


def record_spend_in(
    session: Session,
    key: CallKey,
    *,
    owner: str,
    model_spec: str,
    usage: Usage,
    cost: int,
    window: BudgetWindow,
) -> int | None:
    """Write the call's cost once and release its reservation; returns the amount that was
    reserved (0 if none), or None when the call was already recorded.

    The cost counts in the window its reservation was made in (where the call was allowed).
    """
    # Plain statements, not the ORM unit of work: this runs in every iteration's commit.
    ledger, reservations = _LEDGER, _RESERVATIONS
    if session.execute(select(ledger.c.iteration).where(*_key_is(ledger, key))).first():
        return None
    held = session.execute(
        select(reservations.c.window_start, reservations.c.amount_microdollars).where(
            *_key_is(reservations, key)
        )
    ).first()
    if held is not None:
        session.execute(delete(reservations).where(*_key_is(reservations, key)))
    session.execute(
        insert(ledger).values(
            session_id=key.session_id,
            iteration=key.iteration,
            purpose=key.purpose,
            owner=owner,
            model_spec=model_spec,
            window_start=held.window_start if held is not None else window.start,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost_microdollars=cost,
            created_at=datetime.now(UTC),
        )
    )
    return int(held.amount_microdollars) if held is not None else 0


_LEDGER = cast(Table, LedgerRow.__table__)
_RESERVATIONS = cast(Table, ReservationRow.__table__)


def _key_is(table: Table, key: CallKey) -> tuple[ColumnElement[bool], ...]:
    return (
        table.c.session_id == key.session_id,
        table.c.iteration == key.iteration,
        table.c.purpose == key.purpose,
    )


def release_session_in(session: Session, session_id: str) -> int:
    """Drop a session's open reservations (it ended); returns how many."""
    rows = session.scalars(
        select(ReservationRow).where(ReservationRow.session_id == session_id)
    ).all()
    for row in rows:
        session.delete(row)
    return len(rows)


def top_up_in(session: Session, owner: str, window: BudgetWindow, amount: int) -> None:
    session.add(
        TopUpRow(
            owner=owner,
            window_start=window.start,
            amount_microdollars=amount,
            created_at=datetime.now(UTC),
        )
    )
    session.flush()


def session_spend_in(session: Session, session_id: str) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerRow.cost_microdollars), 0)).where(
            LedgerRow.session_id == session_id
        )
    )
    return int(total or 0)
