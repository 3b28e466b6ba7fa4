"""Finding sessions and asking them to stop: everything a face needs that is not running one.

Kept free of DBOS so read-only commands start fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from cofounder.agent.loop import PAUSED
from cofounder.config import TIER_PRIORITY, Settings
from cofounder.engine import runtime
from cofounder.engine.errors import BadInputError, NotFoundError, SessionFinishedError
from cofounder.engine.holders import holder, is_served, live_workers
from cofounder.engine.outcomes import record_outcome, record_pause
from cofounder.engine.runtime import Runtime
from cofounder.events import CancelRequested
from cofounder.storage import SessionRecord

if TYPE_CHECKING:
    from cofounder.budget import BudgetStatus
    from cofounder.engine.serve import ServedPreview
    from cofounder.sandbox import SandboxLimits
    from cofounder.storage import Checkpoint, Event, SnapshotStore
    from cofounder.storage.escalations import Escalation
    from cofounder.storage.founder_messages import FounderMessageRecord
    from cofounder.storage.queue import QueueDepth
    from cofounder.storage.stats import Stats
    from cofounder.storage.tokens import TokenRecord
    from cofounder.storage.workers import WorkerRecord


class Catalog:
    """Read and steer sessions; one per process."""

    def __init__(self, settings: Settings) -> None:
        self.rt = Runtime.open(settings)
        runtime.install(self.rt)

    def close(self) -> None:
        self.rt.close()

    def resolve_session(self, prefix: str) -> SessionRecord:
        return by_prefix(self.rt.sessions.find(prefix), prefix, "session")

    def workspace_path(self, session_id: str) -> Path:
        """Where the session's project files live on this machine."""
        return self.rt.files(session_id).workspace

    def resolve_escalation(self, prefix: str) -> Escalation:
        """The one question a typed id prefix names; BadInputError otherwise."""
        return by_prefix(self.rt.escalations.find(prefix), prefix, "escalation")

    def owner_status(self, owner: str, tier: str) -> BudgetStatus:
        """The owner's allowance, spend and reservations in the current window."""
        from cofounder.engine.budget import owner_status

        return owner_status(self.rt, owner, tier)

    def top_up(self, owner: str, microdollars: int) -> None:
        """Add to the owner's allowance for the current window (serialised per owner)."""
        from cofounder.engine.budget import current_window
        from cofounder.storage.ledger import lock_owner, top_up_in

        with self.rt.db.transaction() as session:
            lock_owner(session, owner)
            top_up_in(session, owner, current_window(self.rt.settings), microdollars)
        for record in self.rt.sessions.list():  # asleep for its budget: due now
            if record.owner == owner and record.state == "sleeping":
                self.rt.sessions.request_wake(record.id)

    def serve_preview(
        self, session_id: str, port: int | None = None
    ) -> AbstractContextManager[ServedPreview]:
        """Serve the session's app from its last committed state while the block runs (see
        `engine.serve`); the session's lock is held meanwhile."""
        from cofounder.engine.serve import serve_preview

        return serve_preview(self.rt, session_id, port)

    # The faces' reads and requests, as typed records: no face reaches into the runtime.

    @property
    def settings(self) -> Settings:
        """The settings this process opened with (allowances, owners, paths)."""
        return self.rt.settings

    def workspaces_root(self) -> Path:
        """The folder whose filesystem holds the workspaces (the volume, or `sessions/`)."""
        return self.rt.workspaces_root()

    @property
    def sandbox_limits(self) -> SandboxLimits:
        """The local sandbox's configured resource limits (before probing what the host allows)."""
        return self.rt.sandbox_limits

    @property
    def snapshots(self) -> SnapshotStore:
        """The workspace snapshot store, opened on first use; ConfigurationError naming the
        setting when the object store cannot be opened."""
        return self.rt.snapshots

    def sessions(self) -> list[SessionRecord]:
        """Every session, oldest first."""
        return self.rt.sessions.list()

    def session(self, session_id: str) -> SessionRecord | None:
        """The session with exactly this id; None when there is none."""
        return self.rt.sessions.get(session_id)

    def events_after(self, session_id: str, after_seq: int, *, limit: int = 1000) -> list[Event]:
        """Up to `limit` of the session's events with a seq above `after_seq`, in order: a reader
        that passes the last seq it saw misses nothing."""
        return self.rt.events.read(session_id, after_seq=after_seq, limit=limit)

    def documents(self, session_id: str, *, as_of: int | None = None) -> dict[str, str]:
        """The documentation the agent wrote for the founder, by section, as last written (or
        as iteration `as_of` left it: an export of that iteration's code goes with it)."""
        return self.rt.documents.all(session_id, as_of=as_of)

    def escalations(
        self, session_id: str | None = None, *, open_only: bool = False
    ) -> list[Escalation]:
        """The questions one session (every session when None) asked, oldest first; with
        `open_only` just the unanswered ones."""
        found = self.rt.escalations.for_session(session_id)
        return [e for e in found if not open_only or e.state == "open"]

    def blocking_escalations(self, session_id: str) -> list[Escalation]:
        """The open questions the session must wait for (those it cannot work around)."""
        return self.rt.escalations.blocking_open(session_id)

    def answer_escalation(
        self, escalation_id: str, *, choice: str, guidance: str | None, by: str
    ) -> Escalation:
        """Record the founder's answer; EscalationError when the question is no longer open
        or `choice` is not one of its options."""
        return self.rt.escalations.resolve(escalation_id, choice=choice, guidance=guidance, by=by)

    def image(self, ref: str) -> bytes:
        """A screenshot's bytes, verified against its reference (ImageStoreError otherwise)."""
        return self.rt.images.get(ref)

    def checkpoint(self, session_id: str, iteration: int | None = None) -> Checkpoint | None:
        """The checkpoint that iteration committed (the latest when `iteration` is None)."""
        if iteration is None:
            return self.rt.transcript.latest_checkpoint(session_id)
        return self.rt.transcript.checkpoint(session_id, iteration)

    def request_wake(self, session_id: str) -> None:
        """Ask a sleeping session to wake now: its runner, or the next resume, sees it."""
        self.rt.sessions.request_wake(session_id)

    def say(self, session_id: str, text: str, *, by: str) -> FounderMessageRecord:
        """Keep what the founder says to a build (redacted); the model reads it at the next
        iteration boundary — a sleeping or waiting build's, when it runs again."""
        from cofounder.redaction import redact
        from cofounder.storage.founder_messages import MAX_CHARS, FounderMessages

        text = text.strip()
        if not text:
            raise BadInputError("the message is empty")
        if len(text) > MAX_CHARS:
            raise BadInputError(
                f"the message is too long ({len(text)} characters; the limit is {MAX_CHARS})"
            )
        record = self.rt.sessions.get(session_id)
        if record is None:
            raise NotFoundError(f"no session with id {session_id!r}")
        if record.state == "finished":
            raise SessionFinishedError(
                f"session {session_id} has ended ({record.outcome}): nobody would read it; "
                "start a new build"
            )
        return FounderMessages(self.rt.db).add(session_id, by, redact(text))

    def founder_messages(self, session_id: str) -> list[FounderMessageRecord]:
        """What the founder said to the session, oldest first, with when each was read."""
        from cofounder.storage.founder_messages import FounderMessages

        return FounderMessages(self.rt.db).of(session_id)

    def is_active(self, session_id: str) -> bool:
        """Whether a live worker runs the session, or will carry it on by itself."""
        record = self.rt.sessions.get(session_id)
        return record is not None and is_served(self.rt, record)

    def held_by(self, session_id: str) -> WorkerRecord | None:
        """The live worker running the session now, if any."""
        record = self.rt.sessions.get(session_id)
        return None if record is None else holder(self.rt, record)

    def create_token(self, owner: str, *, admin: bool) -> tuple[TokenRecord, str]:
        """A new API token for `owner`: its record and the secret, which is shown only now."""
        return self.rt.tokens.create(owner, admin=admin)

    def tokens(self) -> list[TokenRecord]:
        return self.rt.tokens.list()

    def revoke_token(self, token_id: str) -> bool:
        return self.rt.tokens.revoke(token_id)

    def readiness(self) -> dict[str, bool]:
        """Whether this service can do its job: the database answers with the current schema,
        and some worker serves the queue."""
        from cofounder.storage.db import SCHEMA_HEAD, schema_revision

        try:
            schema = schema_revision(self.rt.db.engine) == SCHEMA_HEAD
        except Exception:  # an unreachable database: not ready (said, not raised)
            schema = False
        workers = schema and bool(live_workers(self.rt))
        return {"database": schema, "worker": workers}

    def live_workers(self) -> list[WorkerRecord]:
        """Workers serving the queue now."""
        return live_workers(self.rt)

    def workers(self) -> list[WorkerRecord]:
        """Every worker the database knows, live or not (newest last)."""
        return self.rt.workers.list()

    def queue_depth(self) -> QueueDepth:
        return self.rt.queue.depth()

    def interrupted_sessions(self) -> list[SessionRecord]:
        """Unfinished sessions no live worker will carry on by itself."""
        return [
            s
            for s in self.rt.sessions.list()
            if s.state != "finished" and not is_served(self.rt, s)
        ]

    def unfinished(self, session_id: str) -> SessionRecord:
        """The session, which must exist and not have ended yet."""
        record = self.rt.sessions.get(session_id)
        if record is None:
            raise BadInputError(f"no session with id {session_id!r}")
        if record.state == "finished":
            raise SessionFinishedError(
                f"session {session_id} already finished with outcome {record.outcome}"
            )
        return record

    def request_pause(self, session_id: str) -> str | None:
        """Ask a session to pause before its next model call; pause one no run holds at once.
        Returns "paused" when it paused here, None when its run will pause it."""
        record = self.unfinished(session_id)
        if record.state == "paused":
            return "paused"
        self.rt.sessions.request_pause(session_id)
        if record.state == "running" and is_served(self.rt, record):
            return None
        return record_pause(
            self.rt, session_id, PAUSED, from_states=("queued", "sleeping", "waiting", "running")
        )

    def requeue_paused(self, session_id: str) -> bool:
        """A paused session joins the queue again (a live worker runs it); False if it was not
        paused."""
        return self.rt.queue.requeue(session_id, from_states=("paused",))

    def request_cancel(self, session_id: str) -> str | None:
        """Ask a running session to stop; end an interrupted one at once.

        Returns the outcome when the session was ended here, None when its runner will stop it.
        """
        self.unfinished(session_id)
        self.rt.sessions.request_cancel(session_id)
        self.rt.events.append(session_id, CancelRequested())
        record = self.unfinished(session_id)
        if record.state == "running" and is_served(self.rt, record):
            return None  # its worker stops it before the next model call
        # Queued, asleep, waiting, paused or orphaned: no run will see the request.
        return record_outcome(self.rt, session_id, "cancelled", "cancelled by request")

    def queue_positions(self) -> dict[str, int]:
        """Each queued session's place in line (1 = next), in the order admission takes them
        (`storage.queue.SessionQueue.admit`): higher tier first, then the longest waiting. One
        over its owner's or project's running limit keeps its place while later ones pass."""
        queued = [s for s in self.rt.sessions.list() if s.state == "queued"]
        queued.sort(
            key=lambda s: (TIER_PRIORITY.get(s.tier, 99), s.queued_at or s.created_at, s.id)
        )
        return {s.id: n for n, s in enumerate(queued, start=1)}

    @property
    def stats(self) -> Stats:
        """Aggregate reads of the database (sessions by state, ledger totals, new events),
        the same from every process: what /metrics shows."""
        from cofounder.storage.stats import Stats

        return Stats(self.rt.db)

    def events_of_types(self, session_id: str, types: Sequence[str]) -> list[Event]:
        """The session's events of these types (e.g. its screenshots), in order."""
        return self.stats.events_of_types(session_id, types)


class HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=HasId)


def by_prefix(matches: Sequence[T], prefix: str, noun: str) -> T:
    """The one record a typed id prefix names (an exact id wins); BadInputError otherwise."""
    if not prefix.strip():  # "" is a prefix of every id: it must not pick one
        raise BadInputError(f"an empty {noun} id names no {noun}; give its id or a unique prefix")
    exact = [m for m in matches if m.id == prefix]
    if exact:
        return exact[0]
    if not matches:
        raise BadInputError(f"no {noun} with id {prefix!r}")
    if len(matches) > 1:
        raise BadInputError(f"{prefix!r} matches {len(matches)} {noun}s; give more of the id")
    return matches[0]
