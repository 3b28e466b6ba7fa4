"""Whether a process exists on this host: shared by the sandbox's cgroup sweep and the
workers' liveness checks (neither may import the other)."""

from __future__ import annotations

import os


def process_exists(pid: int) -> bool:
    """True for a live process of this pid, another user's included (signal 0 probes only)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
