"""Resource limits for one sandbox: what a runaway command may consume before it is stopped."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

GIB = 1024**3
MIB = 1024**2
KIB = 1024

NetworkMode = Literal["none", "egress"]
"""`none`: only loopback. `egress`: outside addresses through pasta; host and private ranges not."""

NETWORK_MODES: tuple[NetworkMode, ...] = get_args(NetworkMode)


def parse_network_mode(value: str) -> NetworkMode:
    """`value` as a NetworkMode (case-insensitive), or ValueError naming the accepted modes."""
    mode = value.strip().lower()
    for known in NETWORK_MODES:
        if mode == known:
            return known
    raise ValueError(f"unknown network mode {value!r}; use one of: {', '.join(NETWORK_MODES)}")


class SandboxLimits(BaseModel):
    """Per-process rlimits, whole-sandbox cgroup limits, and the sandbox's own caps.

    rlimits apply to every process in the sandbox separately (they are inherited), so they
    stop a single runaway process, not a fork bomb; `memory_bytes` and `max_processes` cover
    the whole sandbox, through a cgroup when this host lets us create one (see
    `BwrapSandbox.active_limits`). The address-space default is generous because node
    reserves several GiB of virtual memory at start and refuses to run under about 1 GiB.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_seconds: int = Field(default=600, gt=0, description="RLIMIT_CPU per process")
    address_space_bytes: int = Field(default=8 * GIB, ge=1 * GIB, description="RLIMIT_AS")
    file_size_bytes: int = Field(default=1 * GIB, gt=0, description="RLIMIT_FSIZE")
    open_files: int = Field(default=8192, ge=64, description="RLIMIT_NOFILE")
    memory_bytes: int = Field(
        default=4 * GIB, ge=64 * MIB, description="memory of the whole sandbox (memory cgroup)"
    )
    max_processes: int = Field(
        default=1024, ge=16, description="processes and threads of the whole sandbox (pids cgroup)"
    )
    tmp_size_bytes: int = Field(default=1 * GIB, gt=0, description="size of the /tmp tmpfs")
    shm_size_bytes: int = Field(default=64 * MIB, gt=0, description="size of the /dev/shm tmpfs")
    workspace_bytes: int = Field(
        default=5 * GIB, ge=1 * MIB, description="disk the workspace may use (checked)"
    )
    workspace_files: int = Field(
        default=500_000, ge=100, description="files and directories the workspace may hold"
    )
    min_host_free_bytes: int = Field(
        default=512 * MIB,
        ge=0,
        description="a command that grows the workspace is stopped below this much free disk",
    )
    output_limit_bytes: int = Field(
        default=64 * KIB, ge=1 * KIB, description="cap on captured stdout, and on stderr"
    )
    default_timeout_s: float = Field(default=120.0, gt=0)
    max_timeout_s: float = Field(default=600.0, gt=0)

    @model_validator(mode="after")
    def _default_within_max(self) -> SandboxLimits:
        if self.default_timeout_s > self.max_timeout_s:
            raise ValueError(
                f"default_timeout_s ({self.default_timeout_s}) exceeds "
                f"max_timeout_s ({self.max_timeout_s})"
            )
        return self
