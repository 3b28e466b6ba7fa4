"""Projects posted over the API: the founder's spec as JSON, and a count of its builds (each
build is a session, `build_v0_<n>`, continuing from the build before it)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from cofounder.storage.db import Database
from cofounder.storage.sessions import SessionRecord
from cofounder.storage.tables import IdempotentRequestRow, ProjectRow, SessionRow


class ProjectRecord(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    owner: str
    name: str
    spec_json: str
    builds: int
    created_at: datetime


class NextBuild(BaseModel):
    """The version the next build gets, and the build it continues from (None: the first)."""

    model_config = ConfigDict(frozen=True)

    version: str
    previous_session_id: str | None


def build_version(n: int) -> str:
    return f"build_v0_{n}"


class Projects:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, owner: str, name: str, spec_json: str) -> ProjectRecord:
        row = ProjectRow(
            id="prj_" + secrets.token_hex(6),
            owner=owner,
            name=name,
            spec_json=spec_json,
            builds=0,
            created_at=datetime.now(UTC),
        )
        with self._db.transaction() as session:
            session.add(row)
            session.flush()
            return ProjectRecord.model_validate(row)

    def get(self, project_id: str) -> ProjectRecord | None:
        with self._db.transaction() as session:
            row = session.get(ProjectRow, project_id)
            return ProjectRecord.model_validate(row) if row else None

    def list(self, owner: str | None = None) -> list[ProjectRecord]:
        with self._db.transaction() as session:
            query = select(ProjectRow).order_by(ProjectRow.created_at)
            if owner is not None:
                query = query.where(ProjectRow.owner == owner)
            return [ProjectRecord.model_validate(r) for r in session.scalars(query).all()]

    def latest_builds(
        self, owner: str | None = None, project_id: str | None = None
    ) -> dict[str, SessionRecord]:
        """The newest build of each project of `owner`'s (None: everyone's), or of just
        `project_id`, by project id; a project with no build has none. Newest as a
        newest-first listing orders them (creation, then id), and only `owner`'s sessions:
        one query however many projects, so a list of them costs no request per project."""
        newest = select(SessionRow.id).where(SessionRow.project_id == ProjectRow.id)
        if owner is not None:
            newest = newest.where(SessionRow.owner == owner)
        newest_id = (
            newest.order_by(SessionRow.created_at.desc(), SessionRow.id.desc())
            .limit(1)
            .correlate(ProjectRow)
            .scalar_subquery()
        )
        query = select(ProjectRow.id, SessionRow).join(SessionRow, SessionRow.id == newest_id)
        if owner is not None:
            query = query.where(ProjectRow.owner == owner)
        if project_id is not None:
            query = query.where(ProjectRow.id == project_id)
        with self._db.transaction() as session:
            return {
                pid: SessionRecord.model_validate(row) for pid, row in session.execute(query).all()
            }

    def active_build(self, project_id: str) -> str | None:
        """The project's build that has not ended yet, if any."""
        with self._db.transaction() as session:
            return session.scalars(
                select(SessionRow.id).where(
                    SessionRow.project_id == project_id, SessionRow.state != "finished"
                )
            ).first()

    def next_build(self, project_id: str) -> NextBuild:
        """Claim the next version number (a retried call claims another: the caller keeps the
        first result under its idempotency key)."""
        with self._db.transaction() as session:
            row = session.get(ProjectRow, project_id, with_for_update=True)
            if row is None:
                raise KeyError(project_id)
            previous = session.scalars(
                select(SessionRow.id)
                .where(SessionRow.project_id == project_id)
                .order_by(SessionRow.created_at.desc())
            ).first()
            row.builds += 1
            return NextBuild(version=build_version(row.builds), previous_session_id=previous)


class IdempotentRequests:
    """`Idempotency-Key` answers, per owner: a retried POST gets the first result.

    A request claims its key before it acts (a row with no answer yet), so two requests sent
    at once with one key cannot both act: the second waits for the first's answer. A claim
    whose request died before answering is taken over after `STALE_SECONDS`."""

    PENDING = 0  # the status of a claimed key whose request has not answered yet
    STALE_SECONDS = 120

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, owner: str, key: str) -> tuple[int, str] | None:
        with self._db.transaction() as session:
            row = session.get(IdempotentRequestRow, (owner, key))
            return (row.status, row.body_json) if row else None

    def claim(self, owner: str, key: str) -> tuple[int, str] | None:
        """None when this request now holds the key; else what the key holds (its answer,
        or `PENDING` while the request that claimed it is still at work)."""
        now = datetime.now(UTC)
        self._drop_claim(owner, key, made_before=now - timedelta(seconds=self.STALE_SECONDS))
        try:
            with self._db.transaction() as session:
                session.add(
                    IdempotentRequestRow(
                        owner=owner, key=key, status=self.PENDING, body_json="", created_at=now
                    )
                )
        except IntegrityError:
            held = self.get(owner, key)
            return held if held is not None else (self.PENDING, "")  # released meanwhile
        return None

    def answer(self, owner: str, key: str, status: int, body_json: str) -> None:
        """Keep the answer of the request that holds the key."""
        with self._db.transaction() as session:
            session.execute(
                update(IdempotentRequestRow)
                .where(IdempotentRequestRow.owner == owner, IdempotentRequestRow.key == key)
                .values(status=status, body_json=body_json)
            )

    def release(self, owner: str, key: str) -> None:
        """Give a claimed key back unanswered (the request failed: a retry may act)."""
        self._drop_claim(owner, key)

    def _drop_claim(self, owner: str, key: str, *, made_before: datetime | None = None) -> None:
        row = IdempotentRequestRow
        unanswered = [row.owner == owner, row.key == key, row.status == self.PENDING]
        if made_before is not None:
            unanswered.append(row.created_at < made_before)
        with self._db.transaction() as session:
            session.execute(delete(row).where(*unanswered))
