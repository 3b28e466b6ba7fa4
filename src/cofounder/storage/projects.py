"""Projects posted over the API: the founder's spec as JSON, and a count of its builds (each
build is a session, `build_v0_<n>`, continuing from the build before it)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from cofounder.storage.db import Database
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
    """`Idempotency-Key` answers, per owner: a retried POST gets the first result."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, owner: str, key: str) -> tuple[int, str] | None:
        with self._db.transaction() as session:
            row = session.get(IdempotentRequestRow, (owner, key))
            return (row.status, row.body_json) if row else None

    def put(self, owner: str, key: str, status: int, body_json: str) -> tuple[int, str]:
        """Keep the answer; if another request with the key got there first, theirs."""
        from sqlalchemy.exc import IntegrityError

        try:
            with self._db.transaction() as session:
                session.add(
                    IdempotentRequestRow(
                        owner=owner,
                        key=key,
                        status=status,
                        body_json=body_json,
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            first = self.get(owner, key)
            assert first is not None
            return first
        return status, body_json
