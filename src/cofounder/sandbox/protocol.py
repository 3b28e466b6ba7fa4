"""The sandbox seam: run commands in an isolated workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class ExecResult(BaseModel):
    """What one command did. `limit_exceeded` names a sandbox limit it ran into (workspace
    size, memory, process count), also noted at the end of stderr so the model sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False
    duration_ms: int = 0
    limit_exceeded: str | None = None


class Sandbox(Protocol):
    """An isolated place to run the agent's commands.

    `workspace` is the host path of the one writable directory; inside the sandbox it is
    `/workspace`. Everything started by `exec` dies when it returns, times out or `close` runs.
    """

    @property
    def workspace(self) -> Path: ...

    def exec(self, command: str, *, timeout_s: float) -> ExecResult:
        """Run `command` with bash in /workspace; never raises for a failing command."""
        ...

    def close(self) -> None: ...


class SandboxError(Exception):
    """The sandbox itself could not be set up or used (not a failing command)."""
