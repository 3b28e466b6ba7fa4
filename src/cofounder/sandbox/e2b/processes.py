"""Background processes of an `E2BSandbox`: dev servers and watchers that outlive one tool call.

Each one is an envd process started with the SDK's `commands.run(background=True)`; we keep
its `CommandHandle`. The sync SDK does not stream a background command's output by itself (it
hands `on_stdout`/`on_stderr` only to `wait`), so a daemon thread per process sits in
`handle.wait(on_stdout=..., on_stderr=...)`: that drains the stream into a capped in-memory
ring (endless output costs bounded memory and never stalls the stream) and records the exit
code from envd's end event.

Every background process carries its own marker variable, `COFOUNDER_BG_ID`, and never the
exec marker, so the reaper that runs after each `exec` leaves it alone, while `stop` kills
everything the process started (envd's kill signals only the shell it started).
"""

from __future__ import annotations

import contextlib
import shlex
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from cofounder.sandbox.processes import MAX_BACKGROUND, ProcessRegistry
from cofounder.sandbox.protocol import BackgroundInfo, SandboxError

if TYPE_CHECKING:
    from e2b import CommandHandle
    from e2b import Sandbox as RemoteSandbox

BG_MARKER_ENV = "COFOUNDER_BG_ID"
RING_BYTES = 1024 * 1024
KILLED_EXIT_CODE = 137
_JOIN_S = 5.0
_NL = ord("\n")
_REAP_TIMEOUT_S = 30.0
GONE_NOTE = (
    "\n[the cloud sandbox this process ran in is gone (its time ran out or E2B failed); "
    "start the process again]\n"
)
KEEPALIVE_EVERY_S = 30.0  # how often listing the processes may extend the sandbox's TTL
# envd reports a process killed by a signal as exit code -1 with Go's "signal: <name>" error.
_GO_SIGNALS = {"hangup": 1, "interrupt": 2, "aborted": 6, "killed": 9, "terminated": 15}


def sdk_error(action: str, exc: BaseException) -> SandboxError:
    """An SDK failure as the SandboxError the agent sees."""
    text = str(exc).strip() or "no details"
    return SandboxError(f"E2B failed while {action}: {type(exc).__name__}: {text}")


def reap_command(marker_env: str, token: str) -> str:
    """Shell that SIGKILLs every process whose environment carries `marker_env=token`."""
    marker = shlex.quote(f"{marker_env}={token}")
    return (
        "for _ in 1 2; do for p in /proc/[0-9]*; do "
        f'grep -qzxF {marker} "$p/environ" 2>/dev/null && kill -9 "${{p#/proc/}}" 2>/dev/null; '
        "done; done; true"
    )


def exit_status(exit_code: int, error: str | None) -> int:
    """envd's end event as a shell would report it: a signal N becomes 128 + N."""
    if exit_code == -1 and error and error.startswith("signal: "):
        signum = _GO_SIGNALS.get(error.removeprefix("signal: ").strip())
        if signum is not None:
            return 128 + signum
    return exit_code


class OutputRing:
    """The last `cap` bytes of a process's output (stdout and stderr in arrival order),
    starting at a line boundary once older output has fallen out."""

    def __init__(self, cap: int = RING_BYTES) -> None:
        self._cap = cap
        self._data = bytearray()
        self._lock = threading.Lock()
        self.total = 0

    def feed(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        with self._lock:
            self.total += len(data)
            self._data += data
            excess = len(self._data) - self._cap
            if excess > 0:
                mid_line = self._data[excess - 1] != _NL
                del self._data[:excess]
                if mid_line:
                    del self._data[: _line_start(self._data)]

    def tail(self, max_bytes: int) -> str:
        """The last `max_bytes` or less: whole lines, unless one line is longer than that."""
        with self._lock:
            if len(self._data) <= max_bytes:
                data = bytes(self._data)
            else:
                data = bytes(self._data[-max_bytes:]) if max_bytes > 0 else b""
                if self._data[-max_bytes - 1] != _NL:
                    data = data[_line_start(data) :]
        return data.decode("utf-8", errors="replace")


def _line_start(data: bytes | bytearray) -> int:
    """Where the first whole line of `data` starts (0 when it holds no complete line end)."""
    newline = data.find(b"\n")
    return newline + 1 if 0 <= newline < len(data) - 1 else 0


class RemoteProcess:
    """One background process in the cloud sandbox, watched by a pump thread."""

    def __init__(
        self,
        label: str,
        name: str,
        command: str,
        token: str,
        handle: CommandHandle[None],
        remote: RemoteSandbox,
    ) -> None:
        self.id = label
        self.name = name
        self.command = command
        self.token = token
        self.remote = remote
        self._handle = handle
        self._ring = OutputRing()
        self._started = time.monotonic()
        self._ended: float | None = None
        self._exit_code: int | None = None
        self._stopping = False  # we killed it: a dropped stream is expected, not news
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, name=f"e2b-bg-{label}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        from e2b import CommandExitException, SandboxNotRunningException

        code: int | None = None
        try:
            result = self._handle.wait(on_stdout=self._ring.feed, on_stderr=self._ring.feed)
            code = exit_status(result.exit_code, result.error)
        except CommandExitException as exc:
            code = exit_status(exc.exit_code, exc.error)
        except SandboxNotRunningException:
            if not self._stopping:
                self._ring.feed(GONE_NOTE)
        except Exception as exc:
            if not self._stopping:
                self._ring.feed(
                    f"\n[lost the connection to this process ({type(exc).__name__}: {exc}); "
                    "it may still be running in the cloud sandbox: stop it and start it again]\n"
                )
        self._finish(code)

    def _finish(self, code: int | None) -> None:
        with self._lock:
            if self._ended is None:
                self._ended = time.monotonic()
                self._exit_code = code

    @property
    def running(self) -> bool:
        return self._ended is None

    def info(self) -> BackgroundInfo:
        with self._lock:
            ended, code = self._ended, self._exit_code
        end = ended if ended is not None else time.monotonic()
        return BackgroundInfo(
            id=self.id,
            name=self.name,
            command=self.command,
            running=ended is None,
            exit_code=code,
            uptime_s=round(end - self._started, 1),
            log_bytes=self._ring.total,
        )

    def tail(self, max_bytes: int) -> str:
        return self._ring.tail(max_bytes)

    def stop(self, reap: Callable[[str], None]) -> BackgroundInfo:
        """Kill its shell and every process carrying its marker; wait for the end event.

        `reap` runs the marker reaper in the cloud sandbox; SDK errors surface from it.
        """
        if self.running:
            self._stopping = True
            try:
                self._handle.kill()
                reap(self.token)
            except Exception:
                self._stopping = False
                raise
            self._thread.join(timeout=_JOIN_S)
            self._finish(KILLED_EXIT_CODE)  # no end event came: it is dead all the same
        return self.info()

    def abandon(self, note: str | None) -> None:
        """Mark it ended without asking the cloud: its sandbox is gone or being killed."""
        if not self.running:
            return
        self._stopping = True
        if note:
            self._ring.feed(note)
        self._finish(None if note else KILLED_EXIT_CODE)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout=timeout)


class RemoteProcessTable(ProcessRegistry[RemoteProcess]):
    """The background processes of one E2BSandbox, by id (`p1`, `p2`, ...), and the SDK calls
    that start and stop them as `user` in `cwd`."""

    def __init__(self, *, cwd: str, user: str) -> None:
        self._cwd = cwd
        self._user = user
        super().__init__()
        self._counter = 0
        self._closed = False
        self._kept_alive_at = float("-inf")

    def reserve(self) -> str:
        """The next id, or SandboxError when closed or MAX_BACKGROUND already run."""
        with self._lock:
            if self._closed:
                raise SandboxError("sandbox is closed")
            live = [p for p in self._procs.values() if p.running]
            if len(live) >= MAX_BACKGROUND:
                raise SandboxError(
                    f"{MAX_BACKGROUND} background processes are already running "
                    f"({', '.join(p.id for p in live)}); stop one first"
                )
            self._counter += 1
            return f"p{self._counter}"

    def start(self, remote: RemoteSandbox, label: str, command: str, name: str) -> BackgroundInfo:
        """Start `command` under the id `reserve` gave; SandboxError when E2B cannot."""
        token = uuid.uuid4().hex
        try:
            handle = remote.commands.run(
                command,
                background=True,
                cwd=self._cwd,
                envs={BG_MARKER_ENV: token, "LANG": "C.UTF-8", "TERM": "dumb"},
                user=self._user,
                timeout=0,  # no deadline on the stream: the process lives until stopped
                retain_output=False,
            )
        except Exception as exc:
            raise sdk_error(f"starting background process {label}", exc) from exc
        process = RemoteProcess(label, name, command, token, handle, remote)
        with self._lock:
            self._procs[label] = process
            closed = self._closed
        if closed:  # close() raced with this start: the sandbox kill ends it
            process.abandon(None)
        return process.info()

    def stop(self, process_id: str) -> BackgroundInfo:
        """Kill it and everything it started; KeyError for an unknown id."""
        process = self.get(process_id)

        def reap(token: str) -> None:
            command = reap_command(BG_MARKER_ENV, token)
            process.remote.commands.run(command, user=self._user, timeout=_REAP_TIMEOUT_S)

        from e2b import NotFoundException, SandboxNotRunningException

        try:
            return process.stop(reap)
        except (NotFoundException, SandboxNotRunningException):
            process.abandon(GONE_NOTE)  # nothing left to kill
            return process.info()
        except Exception as exc:
            raise sdk_error(f"stopping background process {process_id}", exc) from exc

    def output(self, process_id: str, max_bytes: int) -> str:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        return self.get(process_id).tail(max_bytes)

    def keep_alive(self, remote: RemoteSandbox, ttl_s: int) -> None:
        """While any process runs, extend the sandbox's TTL to `ttl_s`, at most every
        KEEPALIVE_EVERY_S, so a dev server outlives a quiet spell between tool calls.

        Best effort: a sandbox that cannot be reached is noticed by the next exec.
        """
        with self._lock:
            running = any(p.running for p in self._procs.values())
            due = time.monotonic() - self._kept_alive_at >= KEEPALIVE_EVERY_S
            if not (running and due):
                return
            self._kept_alive_at = time.monotonic()
        with contextlib.suppress(Exception):
            remote.set_timeout(ttl_s)

    def lose(self, remote: RemoteSandbox) -> None:
        """The cloud sandbox `remote` is gone: so is every process that ran in it."""
        with self._lock:
            procs = [p for p in self._procs.values() if p.remote is remote]
        for process in procs:
            process.abandon(GONE_NOTE)

    def close(self) -> None:
        """Mark everything still running as killed; later starts fail. The caller kills the
        cloud sandbox, which is what ends them."""
        with self._lock:
            self._closed = True
            procs = list(self._procs.values())
        for process in procs:
            process.abandon(None)

    def join(self, timeout_s: float) -> None:
        """Give the pump threads, together, up to `timeout_s` to see their streams end."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            procs = list(self._procs.values())
        for process in procs:
            process.join(max(0.0, deadline - time.monotonic()))
