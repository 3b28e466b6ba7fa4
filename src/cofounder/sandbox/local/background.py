"""Long-running processes of one sandbox (dev servers, watchers) that outlive a tool call.

Each runs as its own bubblewrap sandbox sharing the workspace, cgroup and network namespace of
the session's sandbox, so a server it starts answers the next command's `curl localhost:PORT`.
Its output (stdout and stderr together) is pumped by a host thread into a capped log file, so
endless output costs bounded disk and never blocks the process. The table kills them all when
the sandbox closes; `--die-with-parent` kills them when the worker dies.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cofounder.sandbox.local.runner import Running, kill_tree
from cofounder.sandbox.local.teardown import child_pid, kill_sandbox, settle
from cofounder.sandbox.processes import MAX_BACKGROUND, ProcessRegistry
from cofounder.sandbox.protocol import BackgroundInfo, SandboxError

LOG_CAP_BYTES = 2 * 1024 * 1024  # per file; one older file is kept beside it
_SETUP_TIMEOUT_S = 5.0
_CHUNK = 65536


@dataclass(frozen=True)
class Spawn:
    """A started bwrap: its process and the read end of its `--json-status-fd` pipe."""

    proc: subprocess.Popen[bytes]
    status_fd: int


SpawnFn = Callable[[str], Spawn]


class CappedLog:
    """An append-only log that rotates once it reaches its cap: `path` plus `path.1`."""

    def __init__(self, path: Path, cap_bytes: int = LOG_CAP_BYTES) -> None:
        self.path = path
        self._cap = cap_bytes
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("wb")
        self._size = 0
        self.total = 0

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._file.closed:
                return
            if self._size + len(data) > self._cap:
                self._file.close()
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                self._file = self.path.open("wb")
                self._size = 0
            self._file.write(data)
            self._file.flush()
            self._size += len(data)
            self.total += len(data)

    def tail(self, max_bytes: int) -> str:
        """The last `max_bytes` of output, starting at a line boundary when it was cut."""
        with self._lock:
            parts = [self.path.with_name(self.path.name + ".1"), self.path]
            data = b"".join(p.read_bytes() for p in parts if p.exists())
        if len(data) > max_bytes:
            data = data[-max_bytes:]
            newline = data.find(b"\n")
            if 0 <= newline < len(data) - 1:
                data = data[newline + 1 :]
        return data.decode("utf-8", errors="replace")

    def close(self) -> None:
        with self._lock:
            self._file.close()


class BackgroundProcess:
    """One supervised process: a pump thread feeds its log and records its exit."""

    def __init__(self, pid_label: str, name: str, command: str, spawn: Spawn, log: CappedLog):
        self.id = pid_label
        self.name = name
        self.command = command
        self._spawn = spawn
        self._running = Running(spawn.proc)
        self._log = log
        self._started = time.monotonic()
        self._ended: float | None = None
        self._setup = threading.Event()
        self._thread = threading.Thread(target=self._pump, name=f"bg-{pid_label}", daemon=True)
        self._thread.start()

    def await_setup(self) -> None:
        """Wait until bwrap has set the sandbox up; SandboxError with its message if it failed."""
        self._setup.wait(_SETUP_TIMEOUT_S)
        if child_pid(bytes(self._running.status)) is None and self._spawn.proc.poll() is not None:
            self._thread.join(timeout=1)
            raise SandboxError(
                f"bubblewrap failed to start the background process "
                f"(exit {self._spawn.proc.returncode}): {self._log.tail(2000).strip()}"
            )

    def _pump(self) -> None:
        proc = self._spawn.proc
        assert proc.stdout is not None
        out_fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(out_fd, selectors.EVENT_READ)
            sel.register(self._spawn.status_fd, selectors.EVENT_READ)
            while sel.get_map():
                for key, _ in sel.select(timeout=1.0):
                    fd = int(key.fd)
                    try:
                        chunk = os.read(fd, _CHUNK)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        sel.unregister(fd)
                        if fd == self._spawn.status_fd:
                            self._setup.set()
                    elif fd == out_fd:
                        self._log.write(chunk)
                    else:
                        self._running.status.extend(chunk)
                        if child_pid(bytes(self._running.status)) is not None:
                            self._setup.set()
        proc.wait()
        self._ended = time.monotonic()
        with contextlib.suppress(OSError):
            os.close(self._spawn.status_fd)
        proc.stdout.close()
        self._setup.set()

    @property
    def running(self) -> bool:
        return self._spawn.proc.poll() is None

    def info(self) -> BackgroundInfo:
        rc = self._spawn.proc.poll()
        end = self._ended if self._ended is not None else time.monotonic()
        return BackgroundInfo(
            id=self.id,
            name=self.name,
            command=self.command,
            running=rc is None,
            exit_code=(128 - rc if rc < 0 else rc) if rc is not None else None,
            uptime_s=round(end - self._started, 1),
            log_bytes=self._log.total,
        )

    def tail(self, max_bytes: int) -> str:
        return self._log.tail(max_bytes)

    def stop(self) -> BackgroundInfo:
        """Kill its whole sandbox (every process it started) and wait until they are gone."""
        if self._spawn.proc.poll() is None:
            kill_sandbox(self._running)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._spawn.proc.wait(timeout=5)
            if self._spawn.proc.poll() is None:
                kill_tree(self._spawn.proc)
                self._spawn.proc.wait(timeout=5)
        self._thread.join(timeout=5)  # it has read bwrap's status to the end by then
        settle(bytes(self._running.status))
        self._log.close()
        return self.info()


class ProcessTable(ProcessRegistry[BackgroundProcess]):
    """The background processes of one sandbox, by id (`p1`, `p2`, ...)."""

    def __init__(self, spawn: SpawnFn, log_dir: Path) -> None:
        self._spawn = spawn
        self._log_dir = log_dir
        super().__init__()
        self._starting = 0  # slots taken by starts still spawning (the limit counts them)
        self._counter = 0
        self._closed = False
        # bwrap's --die-with-parent is tied to the *thread* that forked it (PR_SET_PDEATHSIG):
        # spawned from a caller's pooled thread, the app would die when that thread exits.
        # One long-lived thread of the table's own does every spawn instead.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bg-spawn")

    def start(self, command: str, *, name: str) -> BackgroundInfo:
        with self._lock:
            if self._closed:
                raise SandboxError("sandbox is closed")
            live = [p for p in self._procs.values() if p.running]
            if len(live) + self._starting >= MAX_BACKGROUND:
                raise SandboxError(
                    f"{MAX_BACKGROUND} background processes are already running "
                    f"({', '.join(p.id for p in live) or 'starting'}); stop one first"
                )
            self._counter += 1
            self._starting += 1
            pid_label = f"p{self._counter}"
        try:
            log = CappedLog(self._log_dir / f"{pid_label}.log")
            try:
                spawn = self._spawner.submit(self._spawn, command).result()
            except BaseException:
                log.close()
                raise
            process = BackgroundProcess(pid_label, name, command, spawn, log)
            with self._lock:
                self._procs[pid_label] = process
                closed = self._closed
        finally:
            with self._lock:
                self._starting -= 1
        if closed:  # close() ran while this one was spawning: it must not survive
            process.stop()
            raise SandboxError("sandbox is closed")
        process.await_setup()
        return process.info()

    def close(self) -> list[BackgroundInfo]:
        """Stop everything still running; later starts fail. Returns what was stopped."""
        with self._lock:
            self._closed = True
            procs = list(self._procs.values())
        stopped: list[BackgroundInfo] = []
        for process in procs:
            was_running = process.running
            info = process.stop()  # also closes the log of one that already ended
            if was_running:
                stopped.append(info)
        self._spawner.shutdown(wait=True)
        return stopped
