"""Sessions as the API lists them, read a page at a time in SQL: a listing, a dashboard's
poll or a budget lookup costs its rows, not a read of every session ever built."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, or_, select

from cofounder.storage.db import Database
from cofounder.storage.sessions import SessionRecord
from cofounder.storage.tables import SessionRow


@dataclass(frozen=True)
class SessionQuery:
    owner: str | None = None  # None: everyone's (an admin's listing)
    state: str | None = None
    project_id: str | None = None
    after_id: str | None = None  # the last id of the previous page
    limit: int = 50
    newest_first: bool = False


@dataclass(frozen=True)
class SessionPage:
    records: list[SessionRecord]
    more: bool  # another page follows the last record


@dataclass(frozen=True)
class OwnerCounts:
    owner: str
    sessions: int
    unfinished: int
    tier: str  # the tier of the owner's newest session


class SessionPages:
    def __init__(self, db: Database) -> None:
        self._db = db

    def page(self, query: SessionQuery) -> SessionPage:
        """Oldest first (or newest), by creation then id. A cursor that names no session the
        query could return gives an empty page."""
        row = SessionRow
        where = []
        if query.owner is not None:
            where.append(row.owner == query.owner)
        if query.state is not None:
            where.append(row.state == query.state)
        if query.project_id is not None:
            where.append(row.project_id == query.project_id)
        with self._db.transaction() as session:
            if query.after_id is not None:
                cursor = session.scalars(
                    select(row).where(row.id == query.after_id, *where)
                ).first()
                if cursor is None:
                    return SessionPage([], more=False)
                later, tie = (
                    (row.created_at < cursor.created_at, row.id < cursor.id)
                    if query.newest_first
                    else (row.created_at > cursor.created_at, row.id > cursor.id)
                )
                where.append(or_(later, and_(row.created_at == cursor.created_at, tie)))
            order = (
                (row.created_at.desc(), row.id.desc())
                if query.newest_first
                else (row.created_at, row.id)
            )
            rows = session.scalars(
                select(row).where(*where).order_by(*order).limit(query.limit + 1)
            ).all()
            records = [SessionRecord.model_validate(r) for r in rows[: query.limit]]
        return SessionPage(records, more=len(rows) > query.limit)

    def owners(self) -> list[OwnerCounts]:
        """Every owner with a session: how many, how many not finished, and their tier now."""
        row = SessionRow
        newest = (
            select(
                row.owner,
                row.tier,
                func.row_number()
                .over(partition_by=row.owner, order_by=(row.created_at.desc(), row.id.desc()))
                .label("n"),
            )
        ).subquery()
        with self._db.transaction() as session:
            counts = session.execute(
                select(
                    row.owner,
                    func.count(),
                    func.sum(case((row.state != "finished", 1), else_=0)),
                )
                .group_by(row.owner)
                .order_by(row.owner)
            ).all()
            tiers = dict(
                session.execute(select(newest.c.owner, newest.c.tier).where(newest.c.n == 1)).all()
            )
        return [
            OwnerCounts(str(owner), int(total), int(open_ or 0), str(tiers[owner]))
            for owner, total, open_ in counts
        ]

    def tier_of(self, owner: str) -> str | None:
        """The tier of the owner's newest session (None: they have none)."""
        with self._db.transaction() as session:
            return session.scalars(
                select(SessionRow.tier)
                .where(SessionRow.owner == owner)
                .order_by(SessionRow.created_at.desc(), SessionRow.id.desc())
                .limit(1)
            ).first()

    def running_by_worker(self) -> dict[str, list[str]]:
        """The ids of the sessions each worker is running."""
        with self._db.transaction() as session:
            rows = session.execute(
                select(SessionRow.worker, SessionRow.id)
                .where(SessionRow.state == "running", SessionRow.worker.is_not(None))
                .order_by(SessionRow.created_at, SessionRow.id)
            ).all()
        running: dict[str, list[str]] = {}
        for worker, session_id in rows:
            running.setdefault(str(worker), []).append(str(session_id))
        return running
