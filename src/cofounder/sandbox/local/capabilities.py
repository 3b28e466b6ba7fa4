"""What a sandbox actually enforces on this host, in one typed, printable description.

Limits differ by host (a cgroup may or may not be writable), so the product must be able to
say which ones are real rather than promise what is configured: status pages, `doctor`
output and the tests read this.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from cofounder.sandbox.limits import SandboxLimits
from cofounder.sandbox.local.network import BLOCKED_V4, BLOCKED_V6, DNS_ADDRESS
from cofounder.sandbox.local.seccomp import DENIED

HARDENING = (
    "uid 1000 with no capabilities (bounding set empty) and no_new_privs",
    "no new user namespaces",
    "seccomp filter: EPERM for "
    + ", ".join(d.family for d in DENIED)
    + ", clone/unshare into new namespaces and personality changes",
    "own pid, ipc, uts, cgroup and mount namespaces; host processes invisible",
    "read-only /usr, /proc and /dev; private /tmp, /run and /dev/shm",
    "environment cleared (bubblewrap itself starts with an empty one); hostname `sandbox`",
    "every process reaped: the sandbox's own init is pid 1 and bubblewrap waits for it",
)


def _mib(n: int) -> str:
    return f"{n // 1024**2} MiB" if n >= 1024**2 else f"{n // 1024} KiB"


class ActiveLimits(BaseModel):
    """The limits and isolation in force for one sandbox (or that a new one would get)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cgroup_version: Literal["v1", "v2"] | None
    cgroup_controllers: tuple[str, ...]
    cgroup_note: str = ""
    memory_bytes: int | None  # whole sandbox; None when no memory cgroup
    max_processes: int | None  # whole sandbox; None when no pids cgroup
    cpu_seconds: int
    address_space_bytes: int
    file_size_bytes: int
    open_files: int
    tmp_size_bytes: int
    shm_size_bytes: int
    workspace_bytes: int
    workspace_files: int
    output_limit_bytes: int
    network: Literal["none", "egress"]
    hardening: tuple[str, ...] = HARDENING

    @classmethod
    def build(
        cls,
        limits: SandboxLimits,
        *,
        cgroup_version: Literal["v1", "v2"] | None,
        controllers: tuple[str, ...],
        note: str,
        network: Literal["none", "egress"],
    ) -> ActiveLimits:
        return cls(
            cgroup_version=cgroup_version,
            cgroup_controllers=controllers,
            cgroup_note=note,
            memory_bytes=limits.memory_bytes if "memory" in controllers else None,
            max_processes=limits.max_processes if "pids" in controllers else None,
            cpu_seconds=limits.cpu_seconds,
            address_space_bytes=limits.address_space_bytes,
            file_size_bytes=limits.file_size_bytes,
            open_files=limits.open_files,
            tmp_size_bytes=limits.tmp_size_bytes,
            shm_size_bytes=limits.shm_size_bytes,
            workspace_bytes=limits.workspace_bytes,
            workspace_files=limits.workspace_files,
            output_limit_bytes=limits.output_limit_bytes,
            network=network,
        )

    @property
    def summary(self) -> str:
        """One short line, e.g. `cgroup v1 (memory, pids) + rlimits` or `rlimits only`."""
        if self.cgroup_version is None:
            return "rlimits only"
        return f"cgroup {self.cgroup_version} ({', '.join(self.cgroup_controllers)}) + rlimits"

    def describe(self) -> str:
        """Several lines for people: every limit, how it is enforced, and the network."""
        if self.cgroup_version is None:
            whole = f"whole sandbox: not limited (no cgroup: {self.cgroup_note})"
        else:
            parts = []
            if self.memory_bytes is not None:
                parts.append(f"memory {_mib(self.memory_bytes)}")
            if self.max_processes is not None:
                parts.append(f"{self.max_processes} processes/threads")
            note = f"; {self.cgroup_note}" if self.cgroup_note else ""
            whole = f"whole sandbox (cgroup {self.cgroup_version}): {', '.join(parts)}{note}"
        if self.network == "egress":
            net = (
                "network: egress through pasta; refused: host loopback, the host's own "
                f"addresses and gateways, {', '.join(BLOCKED_V4 + BLOCKED_V6)}; "
                f"DNS via {DNS_ADDRESS}"
            )
        else:
            net = "network: none (loopback only)"
        return "\n".join(
            [
                f"limits: {self.summary}",
                whole,
                f"per process (rlimits): {self.cpu_seconds} s CPU, "
                f"{_mib(self.address_space_bytes)} address space, "
                f"{_mib(self.file_size_bytes)} per file, {self.open_files} open files",
                f"/tmp {_mib(self.tmp_size_bytes)}, /dev/shm {_mib(self.shm_size_bytes)}",
                f"workspace: {_mib(self.workspace_bytes)} and {self.workspace_files} files "
                "(checked while and after each command)",
                f"output: {_mib(self.output_limit_bytes)} per stream (head and tail kept)",
                net,
                "isolation: " + "; ".join(self.hardening),
            ]
        )


def probe_active_limits(
    limits: SandboxLimits | None = None, network: Literal["none", "egress"] = "none"
) -> ActiveLimits:
    """What a new sandbox would enforce here, found by making (and removing) a test cgroup.

    For status pages and `doctor`; needs no workspace. Cheap (a few mkdir/rmdir).
    """
    from cofounder.sandbox.local import cgroups
    from cofounder.sandbox.local.availability import can_disable_userns

    lim = limits or SandboxLimits()
    support = cgroups.detect()
    version, controllers, note = support.version, support.controllers, support.reason
    if version is not None:
        try:
            cgroups.SandboxCgroup.create(
                support, memory_bytes=lim.memory_bytes, max_processes=lim.max_processes
            ).remove()
        except cgroups.CgroupUnavailable as exc:
            version, controllers, note = None, (), str(exc)
    hardening: tuple[str, ...] = HARDENING
    if not can_disable_userns():
        hardening = tuple(h for h in HARDENING if h != "no new user namespaces")
    return ActiveLimits.build(
        lim, cgroup_version=version, controllers=controllers, note=note, network=network
    ).model_copy(update={"hardening": hardening})
