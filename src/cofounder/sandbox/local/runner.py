"""Run one supervised process: capture output incrementally, enforce a deadline, kill the tree.

Kept apart from bubblewrap specifics so the capture/timeout logic has one home. The process is
started in its own session (its own process group), so a timeout can kill the group; with
bubblewrap, killing its pid also tears down the sandbox's pid namespace and everything in it.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cofounder.sandbox.output import Captured, OutputCapture

_READ_CHUNK = 65536
_KILL_GRACE_S = 5.0
TIMEOUT_EXIT_CODE = 124  # what coreutils `timeout` reports, familiar to models and people


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    stdout: Captured
    stderr: Captured
    timed_out: bool
    duration_ms: int
    status: bytes  # whatever arrived on the extra status pipe, if one was given
    stopped_reason: str | None = None  # set when a Watch stopped the command


@dataclass(eq=False)  # identity-hashed: the sandbox keeps a set of what is running
class Running:
    """A started process, plus what its status pipe has said so far (filled while it runs)."""

    proc: subprocess.Popen[bytes]
    status: bytearray = field(default_factory=bytearray)


Killer = Callable[[Running], None]


class Watch(Protocol):
    """Looked at every `interval_s` while a command runs; `check` returns why to stop it."""

    @property
    def interval_s(self) -> float: ...

    def check(self) -> str | None: ...


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group led by `proc` and `proc` itself; quiet if already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def kill_group(running: Running) -> None:
    kill_tree(running.proc)


def _exit_code(returncode: int) -> int:
    """Shell convention: death by signal N reads as 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def run_supervised(
    argv: Sequence[str],
    *,
    timeout_s: float,
    output_limit_bytes: int,
    pass_fds: Sequence[int] = (),
    status_fd: int | None = None,
    killer: Killer = kill_group,
    on_start: Callable[[Running], None] | None = None,
    on_end: Callable[[Running], None] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    watch: Watch | None = None,
) -> RunOutcome:
    """Run `argv` to completion or until `timeout_s`, whichever comes first.

    `status_fd` (the read end of a pipe whose write end is in `pass_fds`) is drained alongside
    the output into `Running.status`; it is closed here, as are `pass_fds` after the start. On
    timeout `killer` runs first (it may end the tree more gently than a group kill, e.g. so the
    process can reap its own children); whatever is still alive after a grace period is
    killed as a group. `env` and `cwd` replace ours when given. A `watch` that reports a
    reason stops the command the same way, and the reason is in the outcome.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    out_cap = OutputCapture(output_limit_bytes)
    err_cap = OutputCapture(output_limit_bytes)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
            close_fds=True,
            env=env,
            cwd=cwd,
        )
    finally:
        for fd in pass_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
    running = Running(proc)
    if on_start is not None:
        on_start(running)
    timed_out = False
    stopped: list[str] = []
    try:
        assert proc.stdout is not None and proc.stderr is not None
        sinks: dict[int, Callable[[bytes], None]] = {
            proc.stdout.fileno(): out_cap.feed,
            proc.stderr.fileno(): err_cap.feed,
        }
        if status_fd is not None:
            sinks[status_fd] = running.status.extend
        timed_out = _pump(sinks, deadline, lambda: killer(running), watch, stopped)
        killed = timed_out or bool(stopped)
        try:
            proc.wait(timeout=_KILL_GRACE_S if killed else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            if not killed:
                timed_out = True
                killer(running)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=_KILL_GRACE_S)
    finally:
        if proc.poll() is None:
            kill_tree(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=_KILL_GRACE_S)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        if status_fd is not None:
            with contextlib.suppress(OSError):
                os.close(status_fd)
        if on_end is not None:
            on_end(running)
    rc = proc.returncode if proc.returncode is not None else -signal.SIGKILL
    return RunOutcome(
        exit_code=TIMEOUT_EXIT_CODE if timed_out else _exit_code(rc),
        stdout=out_cap.result(),
        stderr=err_cap.result(),
        timed_out=timed_out,
        duration_ms=int((time.monotonic() - started) * 1000),
        status=bytes(running.status),
        stopped_reason=stopped[0] if stopped else None,
    )


def _pump(
    sinks: dict[int, Callable[[bytes], None]],
    deadline: float,
    kill: Callable[[], None],
    watch: Watch | None = None,
    stopped: list[str] | None = None,
) -> bool:
    """Read every fd to EOF, feeding its sink. On the deadline, kill and drain briefly.

    Returns whether the deadline passed. Reading never blocks past the deadline, and memory is
    bounded by the sinks, however much is written. When `watch` says stop, the reason goes to
    `stopped`, the tree is killed and the pipes are drained as after a timeout.
    """
    timed_out = False
    draining = False  # the tree was killed; the pipes get a grace period to close
    next_watch = time.monotonic() + watch.interval_s if watch is not None else float("inf")
    with selectors.DefaultSelector() as sel:
        for fd in sinks:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                if draining:
                    break  # the killed tree still holds a pipe open after the grace period
                timed_out = draining = True
                kill()
                deadline = time.monotonic() + _KILL_GRACE_S
                continue
            if watch is not None and not draining and now >= next_watch:
                reason = watch.check()
                if reason is not None:
                    if stopped is not None:
                        stopped.append(reason)
                    draining = True
                    kill()
                    deadline = time.monotonic() + _KILL_GRACE_S
                    continue
                next_watch = time.monotonic() + watch.interval_s
            until = deadline if watch is None or draining else min(deadline, next_watch)
            for key, _ in sel.select(timeout=max(0.0, until - time.monotonic())):
                fd = int(key.fd)
                try:
                    chunk = os.read(fd, _READ_CHUNK)
                except BlockingIOError:
                    continue
                if chunk:
                    sinks[fd](chunk)
                else:
                    sel.unregister(fd)
    return timed_out
