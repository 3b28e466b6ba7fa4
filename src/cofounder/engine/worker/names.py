"""Worker names, without importing DBOS."""

from __future__ import annotations

import os
import socket


def default_name() -> str:
    """Unique per process on this host; give `--name` for a name that survives restarts (a
    restarted worker of the same name recovers its own unfinished runs at once)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def default_concurrency() -> int:
    """One session per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)))
