"""Whether a new build may join the queue: the global queue cap and the owner's daily cap.

A build over a *running* limit (per owner, per project) is not refused: it waits in the queue
and starts when a slot frees (`storage.queue.SessionQueue.admit`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from cofounder.engine.errors import DailyCapError, QueueFullError
from cofounder.engine.runtime import Runtime
from cofounder.storage.queue import depth_in, started_since_in

# A rough length of one run, for the "retry after" estimate when the queue is full.
TYPICAL_RUN_SECONDS = 600


def check_room(rt: Runtime, owner: str, tier: str, session: Session | None = None) -> None:
    """Raise QueueFullError or DailyCapError (both carry `retry_after_s`) when the build must
    be refused now. Given the inserting transaction (holding the queue's lock), the counts
    are the ones the insert will change: two builds at the edge cannot both pass."""
    if session is None:
        with rt.db.transaction() as own:
            check_room(rt, owner, tier, own)
        return
    settings = rt.settings
    now = datetime.now(UTC)
    per_day = settings.limits_for(tier).per_day
    if per_day is not None:
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        started = started_since_in(session, owner, midnight)
        if started >= per_day:
            tomorrow = midnight + timedelta(days=1)
            raise DailyCapError(
                f"owner {owner!r} has started {started} builds today, the {tier} tier's daily "
                f"cap; more from {tomorrow:%Y-%m-%d %H:%M} UTC",
                retry_after_s=math.ceil((tomorrow - now).total_seconds()),
            )
    waiting = depth_in(session).queued
    if waiting >= settings.queue_cap:
        dead_after = settings.worker_dead_after_seconds
        capacity = sum(w.concurrency for w in rt.workers.list() if w.is_live(now, dead_after))
        rounds = math.ceil((waiting - settings.queue_cap + 1) / max(1, capacity))
        retry_after = rounds * TYPICAL_RUN_SECONDS
        raise QueueFullError(
            f"busy: {waiting} builds are waiting (the queue holds {settings.queue_cap}); retry "
            f"after about {math.ceil(retry_after / 60)} minutes",
            retry_after_s=retry_after,
        )
