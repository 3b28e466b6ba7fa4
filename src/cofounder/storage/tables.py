"""Application tables. The migrations in `migrations/` are the source of truth for the schema;
these mappings must match them (a test compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_state_wake", "state", "wake_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(100), index=True)
    tier: Mapped[str] = mapped_column(String(40))
    model_spec: Mapped[str] = mapped_column(Text)
    project_json: Mapped[str] = mapped_column(Text)
    workspace: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    outcome_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    iteration: Mapped[int] = mapped_column(Integer, default=0)
    tool_calls: Mapped[int] = mapped_column(Integer, default=0)
    phase: Mapped[str | None] = mapped_column(String(200), nullable=True)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    spend_microdollars: Mapped[int] = mapped_column(BigInteger, default=0)
    max_tool_calls: Mapped[int] = mapped_column(Integer)
    max_wall_seconds: Mapped[float] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Each run is one DBOS workflow; a paused session continues in run n+1.
    run_number: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    wake_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    network_mode: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    # How to run the app (JSON PreviewSpec) once the agent started one, and its URL while live.
    preview_spec_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    preview_url: Mapped[str | None] = mapped_column(String(200), nullable=True)
    wake_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The worker running it now (its lease, valid while that worker's heartbeat is fresh).
    worker: Mapped[str | None] = mapped_column(String(120), nullable=True, index=True)
    # When it last joined the queue: FIFO within a tier.
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # Started over the API: its project and version (build_v0_1, _2, ...).
    project_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    build_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Asked to pause (over the API): the run pauses before its next model call.
    pause_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    parent_session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    forked_from_iteration: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class MessageRow(Base):
    """The immutable transcript: one row per message, appended by committed iterations only."""

    __tablename__ = "messages"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    iteration: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    content_json: Mapped[str] = mapped_column(Text)


class CheckpointRow(Base):
    __tablename__ = "checkpoints"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    iteration: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_count: Mapped[int] = mapped_column(Integer)
    snapshot_id: Mapped[str] = mapped_column(String(80))
    guard_state_json: Mapped[str] = mapped_column(Text)
    healing_state_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    phase: Mapped[str | None] = mapped_column(String(200), nullable=True)
    elapsed_seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EventRow(Base):
    __tablename__ = "events"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    ts: Mapped[datetime] = mapped_column(UtcDateTime())
    payload_json: Mapped[str] = mapped_column(Text)


class DocumentRow(Base):
    """A section's text as an iteration left it; the newest per section is the current one."""

    __tablename__ = "documents"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    section: Mapped[str] = mapped_column(String(40), primary_key=True)
    iteration: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ContextSummaryRow(Base):
    __tablename__ = "context_summaries"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    iteration: Mapped[int] = mapped_column(Integer, primary_key=True)
    raw_cut: Mapped[int] = mapped_column(Integer)
    summarized_turns: Mapped[int] = mapped_column(Integer)
    trimmed_before: Mapped[int] = mapped_column(Integer)
    summary_text: Mapped[str] = mapped_column(Text)
    model_spec: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LedgerRow(Base):
    """One priced model call; the key makes recording it twice impossible."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_owner_window", "owner", "window_start"),)

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    iteration: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    model_spec: Mapped[str] = mapped_column(Text)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime())
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger)
    cost_microdollars: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReservationRow(Base):
    __tablename__ = "budget_reservations"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    iteration: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100), index=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime())
    amount_microdollars: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TopUpRow(Base):
    __tablename__ = "budget_topups"
    __table_args__ = (Index("ix_topups_owner_window", "owner", "window_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(100))
    window_start: Mapped[datetime] = mapped_column(UtcDateTime())
    amount_microdollars: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EscalationRow(Base):
    """A question to the founder: open until answered (or its deadline applies the default),
    then delivered to the model exactly once (`delivered_iteration`)."""

    __tablename__ = "escalations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), index=True)
    iteration: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(40))
    problem: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    tried_json: Mapped[str] = mapped_column(Text)
    recommendation: Mapped[str] = mapped_column(Text)
    options_json: Mapped[str] = mapped_column(Text)
    default_option: Mapped[str] = mapped_column(String(40))
    can_continue: Mapped[bool] = mapped_column(Boolean)
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(String(20))
    choice: Mapped[str | None] = mapped_column(String(40), nullable=True)
    guidance: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    delivered_iteration: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WorkerRow(Base):
    """A worker process serving the queue; its heartbeat is its lease on the sessions it runs."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    concurrency: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    version: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiTokenRow(Base):
    """An owner's API token: only its SHA-256 is stored (the token is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    is_admin: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ProjectRow(Base):
    """A founder's project as posted (the spec), and how many builds it has had."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    spec_json: Mapped[str] = mapped_column(Text)
    builds: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class IdempotentRequestRow(Base):
    """The first answer to a POST sent with an `Idempotency-Key`, replayed to its retries."""

    __tablename__ = "idempotent_requests"

    owner: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[int] = mapped_column(Integer)
    body_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class FounderMessageRow(Base):
    """Something a founder said to a build; `delivered_iteration` once the model has it."""

    __tablename__ = "founder_messages"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), index=True)
    by: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered_iteration: Mapped[int | None] = mapped_column(Integer, nullable=True)
