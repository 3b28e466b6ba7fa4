"""The workspace size limit: measured while a command runs and after it, with a clear message.

The workspace is an ordinary host directory (it must outlive the sandbox and be snapshotted),
so no mount can cap its size without privileges we do not want to need. Instead we walk it:
during a command, every so often (less often when the walk is expensive), stopping the command
once the workspace is over its limit or the host disk is nearly full; and after every command,
so the model is told in the result and can delete files. Allocated blocks are counted, so
sparse files cost what they really use, and hard links count once.

The same walk drops setuid/setgid bits: the sandbox uid maps to the uid running bubblewrap
(root here), so `chmod u+s` inside would otherwise leave a setuid-root file on the host.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cofounder.hostfs import Entry, open_regular_at, walk

MIB = 1024**2
_MIN_INTERVAL_S = 0.25
_MAX_INTERVAL_S = 5.0
_COST_FACTOR = 20  # spend at most ~5% of the time walking


_PRIVILEGED_BITS = stat.S_ISUID | stat.S_ISGID


@dataclass(frozen=True)
class Usage:
    bytes: int
    files: int
    stripped: int = 0  # files whose setuid/setgid bits this walk removed


def _strip(found: Entry) -> bool:
    """Drop setuid/setgid from the file `found` names, through an fd: never by path, which a
    process in the sandbox could have turned into a link to a host file meanwhile."""
    try:
        fd, st = open_regular_at(found.dir_fd, found.name)
    except OSError:
        return False
    try:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~_PRIVILEGED_BITS)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def measure(root: Path, *, strip_privileged: bool = True) -> Usage:
    """Bytes allocated and entries (files, dirs, links) below `root`; vanishing entries skipped.

    With `strip_privileged`, regular files lose their setuid and setgid bits on the way. The
    walk goes by directory fds and follows no link, so a tree changed under it is still only
    ever the workspace.
    """
    total, files, stripped = 0, 0, 0
    seen: set[tuple[int, int]] = set()
    try:
        start = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return Usage(0, 0)
    try:
        for found in walk(start):
            st = found.st
            files += 1
            if strip_privileged and stat.S_ISREG(st.st_mode) and st.st_mode & _PRIVILEGED_BITS:
                stripped += _strip(found)
            if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += st.st_blocks * 512
    finally:
        os.close(start)
    return Usage(total, files, stripped)


def mib(n: int) -> str:
    value = n / MIB
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


class WorkspaceGuard:
    """Checks one workspace against its byte and file limits and the host's free disk."""

    def __init__(
        self, root: Path, *, limit_bytes: int, limit_files: int, min_host_free_bytes: int
    ) -> None:
        self.root = root
        self.limit_bytes = limit_bytes
        self.limit_files = limit_files
        self.min_host_free_bytes = min_host_free_bytes
        self._lock = threading.Lock()
        self._last: Usage | None = None
        self._walk_s = 0.0

    @property
    def last(self) -> Usage | None:
        """The most recent measurement, if any."""
        return self._last

    def measure(self) -> Usage:
        started = time.monotonic()
        usage = measure(self.root)
        with self._lock:
            self._last = usage
            self._walk_s = time.monotonic() - started
        return usage

    @property
    def interval_s(self) -> float:
        """How long to wait between checks during a command: longer when walks are slow."""
        return min(_MAX_INTERVAL_S, max(_MIN_INTERVAL_S, self._walk_s * _COST_FACTOR))

    def over_limit(self, usage: Usage) -> str | None:
        """The message for a workspace over a limit, or None."""
        if usage.bytes > self.limit_bytes:
            return (
                f"the workspace uses {mib(usage.bytes)} MiB, over its "
                f"{mib(self.limit_bytes)} MiB limit"
            )
        if usage.files > self.limit_files:
            return f"the workspace holds {usage.files} files, over its limit of {self.limit_files}"
        return None

    def host_free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def watcher(self) -> Watcher:
        """A fresh watcher for one command (it remembers the usage when the command began)."""
        return Watcher(self)


class Watcher:
    """Called by the runner while a command runs; returns why to stop it, or None."""

    def __init__(self, guard: WorkspaceGuard) -> None:
        self._guard = guard
        self._start = guard.last

    @property
    def interval_s(self) -> float:
        return self._guard.interval_s

    def check(self) -> str | None:
        usage = self._guard.measure()
        if self._start is None:
            self._start = usage
        reason = self._guard.over_limit(usage)
        if reason is not None:
            return f"{reason}; the command was stopped"
        growing = usage.bytes > self._start.bytes
        free = self._guard.host_free_bytes()
        if growing and free < self._guard.min_host_free_bytes:
            return (
                f"the host disk has only {mib(free)} MiB free and this command was still "
                "writing to the workspace; it was stopped to keep the machine healthy"
            )
        return None
