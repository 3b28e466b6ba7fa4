"""What every worker does a few times a second besides running sessions: wake the sessions
that are due, give free slots to queued ones (fairly, by tier), and take over the sessions of
workers that died. Any number of workers may do it at once: each step is a conditional update
or runs under the queue's lock, and enqueueing a run twice is harmless."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from cofounder.config import TIER_PRIORITY
from cofounder.engine.holders import live_workers
from cofounder.engine.outcomes import record_outcome
from cofounder.engine.runtime import Runtime
from cofounder.pids import process_exists
from cofounder.storage.queue import Admitted, Slots
from cofounder.storage.workers import SERVING, WorkerRecord

log = structlog.get_logger(__name__)

# An admitted run no worker claimed for this long is enqueued again (a lost enqueue).
UNCLAIMED_AFTER = timedelta(seconds=5)


class Dispatcher:
    def __init__(
        self,
        rt: Runtime,
        *,
        me: WorkerRecord,
        enqueue: Callable[[str, int, str], str | None],
        take_over: Callable[[str], int],
        run_status: Callable[[str, int], str | None] | None = None,
    ) -> None:
        self.rt = rt
        self.me = me
        self._enqueue = enqueue
        self._take_over = take_over
        # Without DBOS to ask (tests), every unclaimed run counts as lost.
        self._run_status = run_status or (lambda _session_id, _run: None)
        # Workers declared dead by this one whose runs are not recovered yet: heartbeat age
        # and whether the process was seen gone, for the log.
        self._owed: dict[str, tuple[float, bool]] = {}

    def tick(self, *, admit: bool = True) -> None:
        """One round: due sessions join the queue, free slots are given out, runs enqueued."""
        self.rt.queue.wake_due()
        if admit:
            admitted = self.rt.queue.admit(self._slots, TIER_PRIORITY, capacity=self._capacity)
            self._start(admitted)

    def sweep(self) -> None:
        """The slower round: dead workers' sessions, and admitted runs nobody picked up whose
        enqueue was lost (a run DBOS holds, queued or started, is left alone)."""
        self.reap()
        lost = [
            run
            for run in self.rt.queue.unclaimed_running(UNCLAIMED_AFTER)
            if self._run_status(run.session_id, run.run_number) is None
        ]
        self._start(lost)

    def _capacity(self) -> int:
        """Sessions the live workers run at once, all together."""
        return sum(w.concurrency for w in live_workers(self.rt))

    def reap(self) -> list[str]:
        """Declare dead every worker whose heartbeat is stale (or, on this host, whose process
        is gone) and put its unfinished runs back on the queue; the names taken over."""
        now = datetime.now(UTC)
        dead_after = self.rt.settings.worker_dead_after_seconds
        for other in self.rt.workers.list():
            if other.name == self.me.name or other.state not in SERVING:
                continue
            gone = other.host == self.me.host and not process_exists(other.pid)
            if not gone and other.heartbeat_age(now) <= dead_after:
                continue
            if not self.rt.workers.declare_dead(other.name, other.heartbeat_at):
                continue  # another worker took it, or it came back
            self._owed[other.name] = (round(other.heartbeat_age(now), 3), gone)
        return self._recover_owed()

    def _recover_owed(self) -> list[str]:
        """Recover the runs of the workers this one declared dead. A recovery that failed is
        tried again at the next sweep: no other worker will, the dead one is no longer serving."""
        taken: list[str] = []
        for name, (age, gone) in list(self._owed.items()):
            try:
                runs = self._take_over(name)
            except Exception:
                log.exception("take_over_failed", worker=self.me.name, dead_worker=name)
                continue
            del self._owed[name]
            log.warning(
                "worker_taken_over",
                worker=self.me.name,
                dead_worker=name,
                heartbeat_age_s=age,
                process_gone=gone,
                runs=runs,
            )
            taken.append(name)
        return taken

    def _slots(self, tier: str) -> Slots:
        limits = self.rt.settings.limits_for(tier)
        return Slots(per_owner=limits.per_owner, per_project=limits.per_project)

    def _start(self, admitted: list[Admitted]) -> None:
        for run in admitted:
            try:
                dead = self._enqueue(run.session_id, run.run_number, run.tier)
            except Exception:  # the sweep enqueues it again; the next run must not be lost
                log.exception("enqueue_failed", session_id=run.session_id, worker=self.me.name)
                continue
            if dead is not None:  # DBOS gave up on this run: say so, once
                record_outcome(
                    self.rt, run.session_id, "failed", f"the durable workflow ended {dead}"
                )
