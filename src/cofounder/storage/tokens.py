"""API tokens: `cof_` + 256 random bits, shown once; only the SHA-256 is stored.

A fast hash is enough for a machine-made secret of this size (nobody can guess it), and it
makes the lookup one indexed equality."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update

from cofounder.storage.db import Database
from cofounder.storage.tables import ApiTokenRow

PREFIX = "cof_"


class TokenRecord(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    owner: str
    prefix: str  # the first characters, to tell tokens apart in a list
    is_admin: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, owner: str, *, admin: bool) -> tuple[TokenRecord, str]:
        """A new token for `owner`: its record and the secret (never stored, shown once)."""
        secret = PREFIX + secrets.token_urlsafe(32)
        row = ApiTokenRow(
            id="tok_" + secrets.token_hex(6),
            owner=owner,
            sha256=_digest(secret),
            prefix=secret[:10],
            is_admin=admin,
            created_at=datetime.now(UTC),
            last_used_at=None,
            revoked_at=None,
        )
        with self._db.transaction() as session:
            session.add(row)
            session.flush()
            return TokenRecord.model_validate(row), secret

    def verify(self, secret: str) -> TokenRecord | None:
        """The live token this secret is, or None (unknown, malformed or revoked)."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        with self._db.transaction() as session:
            row = session.scalars(
                select(ApiTokenRow).where(ApiTokenRow.sha256 == _digest(secret))
            ).first()
            if row is None or row.revoked_at is not None:
                return None
            return TokenRecord.model_validate(row)

    def live(self, token_id: str) -> TokenRecord | None:
        """The token with this id unless it was revoked (a dashboard cookie names one)."""
        with self._db.transaction() as session:
            row = session.get(ApiTokenRow, token_id)
            if row is None or row.revoked_at is not None:
                return None
            return TokenRecord.model_validate(row)

    def touch(self, token_id: str) -> None:
        with self._db.transaction() as session:
            session.execute(
                update(ApiTokenRow)
                .where(ApiTokenRow.id == token_id)
                .values(last_used_at=datetime.now(UTC))
            )

    def list(self) -> list[TokenRecord]:
        with self._db.transaction() as session:
            rows = session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.created_at)).all()
            return [TokenRecord.model_validate(r) for r in rows]

    def revoke(self, token_id: str) -> bool:
        """False when there is no such live token."""
        with self._db.transaction() as session:
            done = session.execute(
                update(ApiTokenRow)
                .where(ApiTokenRow.id == token_id, ApiTokenRow.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]
