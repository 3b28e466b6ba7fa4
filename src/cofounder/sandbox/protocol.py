"""The sandbox seam: run commands in an isolated workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from cofounder.sandbox.output import Elision


class ExecResult(BaseModel):
    """What one command did. `limit_exceeded` names a sandbox limit it ran into (workspace
    size, memory, process count), also noted at the end of stderr so the model sees it.
    `stdout_cut`/`stderr_cut` say where the capture cut a stream and how much it dropped, so
    a later cut can report one true total."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False
    duration_ms: int = 0
    limit_exceeded: str | None = None
    stdout_cut: Elision | None = None
    stderr_cut: Elision | None = None


class BackgroundInfo(BaseModel):
    """What one background process is doing, for the model, the feed and status."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    command: str
    running: bool
    exit_code: int | None = None
    uptime_s: float = 0.0
    log_bytes: int = 0


class Sandbox(Protocol):
    """An isolated place to run the agent's commands.

    `workspace` is the host path of the one writable directory; inside the sandbox it is
    `/workspace`. Everything started by `exec` dies when it returns, times out or `close` runs;
    background processes live until stopped or until `close`.
    """

    @property
    def workspace(self) -> Path: ...

    def exec(self, command: str, *, timeout_s: float | None = None) -> ExecResult:
        """Run `command` with bash in /workspace; never raises for a failing command.

        `timeout_s` None means the backend's default; a longer one is clamped to the
        backend's maximum; ValueError for a non-positive one. When it runs out the command
        and everything it started are killed (`timed_out`, exit code 124). SandboxError
        when the sandbox itself fails or is closed."""
        ...

    def start_background(self, command: str, *, name: str) -> BackgroundInfo:
        """Start `command` and return at once; SandboxError when it cannot start."""
        ...

    def list_background(self) -> list[BackgroundInfo]: ...

    def background_output(self, process_id: str, *, max_bytes: int) -> str:
        """The tail of its output; KeyError naming the known ids for an unknown one."""
        ...

    def stop_background(self, process_id: str) -> BackgroundInfo:
        """Kill it and everything it started; KeyError for an unknown id."""
        ...

    def close(self) -> None: ...


class SandboxError(Exception):
    """The sandbox itself could not be set up or used (not a failing command)."""
