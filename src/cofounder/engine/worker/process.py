"""A worker: one DBOS instance serving the `sessions` queue, any number of sessions at once.

It registers itself (a unique name, its heartbeat), then runs three things side by side:
DBOS's queue runner (which starts runs up to `concurrency`), a heartbeat that keeps its lease,
and the dispatcher (wakes, admission, takeover). Stopping drains: nothing new starts, each
running session finishes the iteration it is in and goes back to the queue.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

import structlog

from cofounder.config import Settings
from cofounder.engine.live import live_sessions
from cofounder.engine.runtime import Runtime
from cofounder.engine.worker import durable
from cofounder.engine.worker.dispatch import Dispatcher
from cofounder.engine.worker.fence import Fence
from cofounder.engine.worker.names import default_concurrency, default_name
from cofounder.engine.worker.options import WorkerOptions
from cofounder.pids import process_exists
from cofounder.storage.workers import WorkerRecord

log = structlog.get_logger(__name__)

DISPATCH_SECONDS = 0.1  # wake and admission: a due session is queued within this
SWEEP_SECONDS = 1.0  # takeover of dead workers, lost enqueues


def _warn_if_workspaces_show_host_paths(settings: Settings, on_volume: bool) -> None:
    """A service should not run hostile code over plain folders of the host's disk: say so."""
    if settings.sandbox == "bwrap" and not on_volume:
        log.warning(
            "workspaces_on_host_filesystem",
            sessions=str(settings.sessions_dir()),
            note="sandboxed processes can read each workspace's path on the host's disk in "
            "/proc/self/mountinfo, and builds share its free space; set "
            "COFOUNDER_WORKSPACE_VOLUME_SIZE (README: Workspace volume)",
        )


class Worker:
    """Start with `start()` (or as a context manager), stop with `stop()`."""

    def __init__(self, rt: Runtime, options: WorkerOptions | None = None) -> None:
        self.rt = rt
        self.options = options or WorkerOptions()
        self.me: WorkerRecord | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._heartbeat_stop = threading.Event()

    @property
    def name(self) -> str:
        assert self.me is not None, "the worker has not started"
        return self.me.name

    def __enter__(self) -> Worker:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> WorkerRecord:
        settings = self.rt.settings
        dead_after = settings.worker_dead_after_seconds
        concurrency = self.options.concurrency or default_concurrency()
        self.me = self.rt.workers.register(
            self.options.name or default_name(),
            host=socket.gethostname(),
            pid=os.getpid(),
            concurrency=concurrency,
            version=durable.WORKFLOW_VERSION,
            dead_after=dead_after,
            process_exists=process_exists,
        )
        # The lease is trusted for 2/3 of the time after which others take over, renewed
        # six times in that span: a stopped or starved worker stops itself first.
        fence = Fence(valid_for=dead_after * 2 / 3)
        self._fence = fence
        # Beat from here on: DBOS's launch takes seconds on a busy machine, and neither the
        # lease (which its first runs check) nor the row (which other reapers read) may lapse.
        self._spawn("cofounder-heartbeat", self._heartbeat, min(2.0, dead_after / 6))
        live_sessions.worker = self.me.name
        live_sessions.draining = False
        live_sessions.check_lease = fence.check
        live_sessions.on_lost_lease = fence.trip
        self.rt.db.before_transaction = fence.check
        effective = durable.launch(
            settings,
            executor_id=self.me.name,
            engine=self.rt.dbos_engine,
            concurrency=concurrency,
            sets_concurrency=self.options.sets_concurrency,
        )
        if effective != concurrency:
            log.warning(
                "worker_concurrency_differs",
                worker=self.me.name,
                asked=concurrency,
                queue=effective,
                note="every worker on a database runs the queue's number at once",
            )
        if effective != self.me.concurrency:  # what the capacity count reads
            self.me = self.rt.workers.set_concurrency(self.me.name, effective)
        self.dispatcher = Dispatcher(
            self.rt,
            me=self.me,
            enqueue=durable.enqueue_run,
            take_over=durable.take_over,
            run_status=durable.run_status,
        )
        self._spawn("cofounder-dispatch", self._dispatch)
        structlog.contextvars.bind_contextvars(worker=self.me.name)
        log.info("worker_started", worker=self.me.name, concurrency=concurrency)
        if self.options.serves_others:
            _warn_if_workspaces_show_host_paths(settings, self.rt.volume_dir() is not None)
        return self.me

    def stop(self, drain_seconds: int | None = None) -> None:
        """Drain and stop: running sessions hand themselves back at their next commit."""
        if self.me is None:
            return
        name = self.me.name
        self._stop.set()
        live_sessions.draining = True
        self.rt.workers.set_state(name, "draining")
        busy = live_sessions.count()
        wait = self.options.drain_seconds if drain_seconds is None else drain_seconds
        log.info("worker_draining", worker=name, running=busy)
        durable.shut_down(wait if busy else 0)
        self._heartbeat_stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        left = live_sessions.count()
        if left:
            # Runs still in flight: the next live worker takes them over at once.
            log.warning("worker_left_runs", worker=name, runs=left)
            self.rt.workers.expire(name)
        else:
            self.rt.workers.set_state(name, "stopped")
        self.rt.db.before_transaction = None
        live_sessions.reset()
        self.me = None
        log.info("worker_stopped", worker=name)

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _heartbeat(self, every: float) -> None:
        assert self.me is not None
        name = self.me.name
        while not self._heartbeat_stop.wait(every):
            asked = time.monotonic()
            try:
                alive = self.rt.workers.heartbeat(name)
            except Exception:  # the lease runs out unless a later beat gets through
                log.exception("heartbeat_failed", worker=name)
                continue
            if not alive:
                self._fence.trip("this worker was declared dead and its sessions taken over")
            self._fence.renew(asked)

    def _dispatch(self) -> None:
        last_sweep = 0.0
        while not self._stop.wait(DISPATCH_SECONDS):
            try:
                self.dispatcher.tick()
                if time.monotonic() - last_sweep >= SWEEP_SECONDS:
                    last_sweep = time.monotonic()
                    self.dispatcher.sweep()
            except Exception:  # logged; the next tick tries again
                log.exception("dispatch_failed", worker=self.name)
