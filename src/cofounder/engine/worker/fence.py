"""A worker's own view of its lease: valid for a while after each heartbeat that succeeded.

Other workers declare this one dead when its heartbeat in the database is older than
`dead_after`. This process stops trusting its lease sooner (`valid_for` < `dead_after`), using
the monotonic clock, which keeps counting while the process is stopped (SIGSTOP) or starved. So
a worker that wakes up after others may have taken its sessions over finds its lease expired
before it writes anything, and exits: fail-stop, so no run is ever driven by two workers.
"""

from __future__ import annotations

import os
import threading
import time

import structlog

log = structlog.get_logger(__name__)

EXIT_LEASE_LOST = 75  # EX_TEMPFAIL: a supervisor may restart the worker


class Fence:
    def __init__(self, valid_for: float) -> None:
        self.valid_for = valid_for
        self._until = time.monotonic() + valid_for
        self._lock = threading.Lock()

    def renew(self, asked_at: float) -> None:
        """A heartbeat sent at `asked_at` (monotonic) was recorded."""
        with self._lock:
            self._until = max(self._until, asked_at + self.valid_for)

    def check(self) -> None:
        """Before a write that only the lease holder may make."""
        if time.monotonic() > self._until:
            self.trip("the worker's lease expired (no heartbeat recorded in time)")

    def trip(self, why: str) -> None:
        log.critical("worker_fenced", reason=why)
        os._exit(EXIT_LEASE_LOST)
