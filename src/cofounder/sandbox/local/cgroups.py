"""Per-sandbox cgroups: one memory and one process-count budget for everything a sandbox runs.

rlimits are per process, so they cannot stop a fork bomb, nor ten processes that each stay
under the per-process memory cap. A cgroup can. We use whatever this host lets us write:
cgroup v2 when its `memory` and `pids` controllers can be delegated to a child of our own
group, else the v1 hierarchies (the hybrid layout of this project's machines), else nothing,
and we say which. A command joins the group (by writing `cgroup.procs`) before it execs
bubblewrap, so nothing the sandbox starts is ever outside it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cofounder.hostfs.mounts import parse_mounts
from cofounder.pids import process_exists

CgroupVersion = Literal["v1", "v2"]
CONTROLLERS = ("memory", "pids")
GROUP_PREFIX = "cofounder-sb-"


class CgroupUnavailable(Exception):
    """No per-sandbox cgroup can be made here; the message says why (shown in limit reports)."""


@dataclass(frozen=True)
class CgroupSupport:
    """Where sandbox groups can be created: controller -> our own group's directory."""

    version: CgroupVersion | None
    bases: dict[str, Path] = field(default_factory=dict)
    reason: str = ""

    @property
    def controllers(self) -> tuple[str, ...]:
        return tuple(c for c in CONTROLLERS if c in self.bases)


@dataclass(frozen=True)
class CgroupCounters:
    oom_kills: int = 0
    pids_refused: int = 0


def _mounts(mountinfo: str) -> list[tuple[str, str, str, set[str]]]:
    """(root, mount point, fstype, super options) of every cgroup mount in `mountinfo`."""
    return [
        (m.root, m.mount_point, m.fstype, set(m.super_options))
        for m in parse_mounts(mountinfo)
        if m.fstype in ("cgroup", "cgroup2")
    ]


def _own_groups(proc_cgroup: str) -> dict[str, str]:
    """Controller (or "" for the unified hierarchy) -> our group's path in that hierarchy."""
    groups: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for name in controllers.split(",") if controllers else [""]:
            groups[name] = path
    return groups


def _under(mount_root: str, mount_point: str, group: str) -> Path | None:
    """The directory of `group` below a mount of the hierarchy at `mount_root`, if visible."""
    if mount_root != "/" and group != mount_root and not group.startswith(mount_root + "/"):
        return None
    rel = group[len(mount_root) :] if mount_root != "/" else group
    return Path(mount_point) / rel.lstrip("/")


def detect(proc_self: Path = Path("/proc/self")) -> CgroupSupport:
    """Which cgroup version and controllers we could use, without changing anything."""
    try:
        mountinfo = (proc_self / "mountinfo").read_text()
        own = _own_groups((proc_self / "cgroup").read_text())
    except OSError as exc:
        return CgroupSupport(None, reason=f"cannot read cgroup information: {exc}")
    mounts = _mounts(mountinfo)
    v2: dict[str, Path] = {}
    for root, point, fstype, _ in mounts:
        if fstype != "cgroup2" or "" not in own:
            continue
        base = _under(root, point, own[""])
        if base is None or not os.access(base, os.W_OK):
            continue
        with contextlib.suppress(OSError):
            available = (base / "cgroup.controllers").read_text().split()
            v2 = {c: base for c in CONTROLLERS if c in available}
        break
    v1: dict[str, Path] = {}
    for root, point, fstype, opts in mounts:
        for ctl in CONTROLLERS:
            if fstype == "cgroup" and ctl in opts and ctl in own and ctl not in v1:
                base = _under(root, point, own[ctl])
                if base is not None and os.access(base, os.W_OK):
                    v1[ctl] = base
    if v2 and len(v2) >= len(v1):
        return CgroupSupport("v2", v2, _missing(v2))
    if v1:
        return CgroupSupport("v1", v1, _missing(v1))
    return CgroupSupport(None, reason="no writable cgroup with the memory or pids controller")


def _missing(bases: dict[str, Path]) -> str:
    absent = [c for c in CONTROLLERS if c not in bases]
    return f"controller(s) not available: {', '.join(absent)}" if absent else ""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _counter(path: Path, key: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return 0


class SandboxCgroup:
    """One group (a directory per hierarchy) holding every process of one sandbox."""

    def __init__(self, version: CgroupVersion, dirs: dict[str, Path]) -> None:
        self.version = version
        self.dirs = dirs

    @classmethod
    def create(
        cls, support: CgroupSupport, *, memory_bytes: int, max_processes: int
    ) -> SandboxCgroup:
        """Make and configure the group, or raise CgroupUnavailable saying why."""
        if support.version is None:
            raise CgroupUnavailable(support.reason)
        name = f"{GROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        dirs = {ctl: base / name for ctl, base in support.bases.items()}
        group = cls(support.version, dirs)
        try:
            if support.version == "v2":
                group._delegate(support)
            for path in set(dirs.values()):
                path.mkdir()
            group._configure(memory_bytes, max_processes)
        except OSError as exc:
            group.remove()
            raise CgroupUnavailable(
                f"cgroup {support.version} is not writable here: {exc}"
            ) from exc
        return group

    def _delegate(self, support: CgroupSupport) -> None:
        """v2 only lets a child use controllers that its parent's subtree_control enables."""
        base = next(iter(support.bases.values()))
        enabled = (base / "cgroup.subtree_control").read_text().split()
        wanted = [c for c in support.controllers if c not in enabled]
        if wanted:
            _write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))

    def _configure(self, memory_bytes: int, max_processes: int) -> None:
        mem, pids = self.dirs.get("memory"), self.dirs.get("pids")
        if self.version == "v2":
            if mem is not None:
                _write(mem / "memory.max", str(memory_bytes))
                with contextlib.suppress(OSError):  # absent without swap accounting
                    _write(mem / "memory.swap.max", "0")
        elif mem is not None:
            _write(mem / "memory.limit_in_bytes", str(memory_bytes))
            with contextlib.suppress(OSError):  # memsw must be >= the limit; absent w/o swap
                _write(mem / "memory.memsw.limit_in_bytes", str(memory_bytes))
        if pids is not None:
            _write(pids / "pids.max", str(max_processes))

    @property
    def procs_files(self) -> list[Path]:
        """The files a process writes "0" to in order to join (one per hierarchy)."""
        return [d / "cgroup.procs" for d in sorted(set(self.dirs.values()))]

    def counters(self) -> CgroupCounters:
        """Cumulative OOM kills and refused forks, to tell the model which limit bit."""
        mem, pids = self.dirs.get("memory"), self.dirs.get("pids")
        oom = 0
        if mem is not None:
            events = "memory.events" if self.version == "v2" else "memory.oom_control"
            oom = _counter(mem / events, "oom_kill")
        refused = _counter(pids / "pids.events", "max") if pids is not None else 0
        return CgroupCounters(oom, refused)

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in procs.read_text().split())
        return found

    def kill_all(self, timeout_s: float = 2.0) -> bool:
        """SIGKILL everything in the group until it is empty; True if it emptied in time."""
        if self.version == "v2":
            with contextlib.suppress(OSError):
                _write(next(iter(self.dirs.values())) / "cgroup.kill", "1")
        deadline = time.monotonic() + timeout_s
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() >= deadline:
                return False
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self, timeout_s: float = 2.0) -> None:
        """Kill what is left and delete the group's directories (quietly if already gone)."""
        self.kill_all(timeout_s)
        for path in set(self.dirs.values()):
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:  # EBUSY while the last zombies are released
                    if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                        break
                    time.sleep(0.01)


def sweep_stale(support: CgroupSupport) -> int:
    """Remove groups left by sandbox processes that died without closing; returns how many."""
    removed = 0
    for base in set(support.bases.values()):
        with contextlib.suppress(OSError):
            for entry in base.iterdir():
                if not entry.name.startswith(GROUP_PREFIX) or not entry.is_dir():
                    continue
                owner = entry.name[len(GROUP_PREFIX) :].split("-", 1)[0]
                if not owner.isdigit() or process_exists(int(owner)):
                    continue
                stale = SandboxCgroup(support.version or "v1", {"stale": entry})
                stale.remove(timeout_s=0.5)
                removed += not entry.exists()
    return removed
