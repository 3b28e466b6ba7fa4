"""Resource limits for one sandbox: what a runaway command may consume before it is stopped."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

GIB = 1024**3
MIB = 1024**2
KIB = 1024


class SandboxLimits(BaseModel):
    """Per-process rlimits plus the sandbox's own caps on time, /tmp and captured output.

    rlimits apply to every process in the sandbox separately (they are inherited), so they
    stop a single runaway process, not a fork bomb; a pids/memory cgroup is the tool for that.
    The address-space default is generous because node reserves several GiB of virtual memory
    at start and refuses to run under about 1 GiB.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_seconds: int = Field(default=600, gt=0, description="RLIMIT_CPU per process")
    address_space_bytes: int = Field(default=8 * GIB, ge=1 * GIB, description="RLIMIT_AS")
    file_size_bytes: int = Field(default=1 * GIB, gt=0, description="RLIMIT_FSIZE")
    open_files: int = Field(default=8192, ge=64, description="RLIMIT_NOFILE")
    tmp_size_bytes: int = Field(default=1 * GIB, gt=0, description="size of the /tmp tmpfs")
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
