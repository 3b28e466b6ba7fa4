"""The cloud sandbox: an E2B microVM behind the same `Sandbox` protocol as bubblewrap.

Design: a mirrored workspace. `workspace` is a real host directory, as with bubblewrap, so the
file tools, snapshots and restores work on it unchanged; the E2B sandbox holds a copy at
`/workspace`. Around every `exec`, `WorkspaceMirror` pushes host changes (one tar, one shell
step) and pulls back what the command changed (one listing, one tar). The host copy is the
source of truth between commands, which buys two things: a cloud sandbox that dies (its time
ran out, the session slept) is replaced by a fresh one seeded from the host, and a sleeping
session holds no cloud sandbox at all. Rebuildable folders (`node_modules`, `.venv`, ...) stay
remote-only, as they stay out of snapshots.

Lifecycle: the E2B sandbox is created on first use (not in `__init__`, so a session that wakes
only to sleep again costs nothing); its time-to-live is extended before each command to the
command's timeout plus `idle_ttl_s`, capped at `max_ttl_s`, so a crashed worker's sandbox
dies on its own; `close` kills it. Nothing a command starts outlives it: every command runs
with a fresh marker variable in its environment and afterwards every process still carrying
it is killed (best effort inside the VM; the VM itself dies on close).

Background processes (dev servers, see `e2b_processes`) are the exception: they carry their own
marker, so that reaper spares them, and live until stopped or until `close`. While any runs,
listing them also extends the cloud sandbox's time to live, as each exec does.

The `e2b` SDK is imported lazily: install it with `pip install 'cofounder[e2b]'`.
"""

from __future__ import annotations

import math
import os
import shlex
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

from cofounder.sandbox.e2b.mirror import WorkspaceMirror
from cofounder.sandbox.e2b.processes import RemoteProcessTable, exit_status, reap_command
from cofounder.sandbox.e2b.processes import sdk_error as _sdk_error
from cofounder.sandbox.e2b.remote import (
    API_KEY_ENV,
    SYNC_TIMEOUT_S,
    E2BOptions,
    MirrorOps,
    load_sdk,
)

__all__ = ["E2BOptions", "E2BSandbox"]
from cofounder.sandbox.output import OutputCapture
from cofounder.sandbox.protocol import BackgroundInfo, ExecResult, SandboxError

if TYPE_CHECKING:
    from e2b import Sandbox as RemoteSandbox

TIMEOUT_EXIT_CODE = 124  # as the local sandbox and coreutils `timeout` report it
KILLED_EXIT_CODE = 137
MARKER_ENV = "COFOUNDER_EXEC_ID"
_T = TypeVar("_T")


class E2BSandbox:
    """A `Sandbox` whose commands run in an E2B cloud sandbox over a mirrored host workspace.

    `exec` calls are serialised (the mirror syncs one command at a time); `close` may come from
    another thread and kills the cloud sandbox, which ends a running command.
    """

    def __init__(self, workspace: Path, options: E2BOptions | None = None) -> None:
        load_sdk()
        self._options = options or E2BOptions()
        key = self._options.api_key.get_secret_value() if self._options.api_key else None
        key = key or os.environ.get(API_KEY_ENV, "")
        if not key.strip():
            raise SandboxError(
                f"the E2B sandbox backend needs an API key: set {API_KEY_ENV} "
                "(from the E2B dashboard) or pass E2BOptions(api_key=...)"
            )
        self._api_key = key.strip()
        ws = Path(os.path.realpath(workspace))
        if not ws.is_dir():
            raise SandboxError(f"workspace {workspace} does not exist or is not a directory")
        self._workspace = ws
        self._mirror = WorkspaceMirror(
            ws,
            self._options.remote_workspace,
            remote_only=self._options.remote_only,
            max_file_bytes=self._options.max_mirror_file_bytes,
            scratch_dir=self._options.remote_scratch,
        )
        self._exec_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._remote: RemoteSandbox | None = None
        self._closed = False
        self._processes = RemoteProcessTable(
            cwd=self._options.remote_workspace, user=self._options.user
        )

    @property
    def workspace(self) -> Path:
        return self._workspace

    @property
    def options(self) -> E2BOptions:
        return self._options

    @property
    def sandbox_id(self) -> str | None:
        """The E2B id of the live cloud sandbox, if one has been started."""
        remote = self._remote
        return remote.sandbox_id if remote is not None else None

    def start(self) -> None:
        """Create the cloud sandbox now rather than at the first exec (which uploads the tree)."""
        with self._exec_lock:
            if self._closed:
                raise SandboxError("sandbox is closed")
            self._live_remote(self._options.default_timeout_s)

    def exec(self, command: str, *, timeout_s: float | None = None) -> ExecResult:
        """Run `command` with bash in /workspace in the cloud; failures of the command are data.

        Raises SandboxError when E2B itself fails; the cloud sandbox is then dropped and the
        next call starts a fresh one from the host copy.
        """
        timeout = self._options.default_timeout_s if timeout_s is None else timeout_s
        if timeout <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        timeout = min(timeout, self._options.max_timeout_s)
        with self._exec_lock:
            if self._closed:
                raise SandboxError("sandbox is closed")
            if not self._workspace.is_dir():
                raise SandboxError(f"workspace {self._workspace} has disappeared")
            remote = self._live_remote(timeout)
            ops = MirrorOps(remote, self._options.user)
            self._guard(remote, "uploading the workspace", lambda: self._mirror.push(ops))
            token = uuid.uuid4().hex
            result = self._run(remote, command, timeout, token)
            if self._closed:
                return result
            notes = self._guard(
                remote,
                "downloading the workspace",
                lambda: self._mirror.pull(ops, prelude=reap_command(MARKER_ENV, token)),
            )
        if notes:
            stderr = result.stderr + ("" if result.stderr.endswith("\n") else "\n")
            result = result.model_copy(update={"stderr": stderr + "\n".join(notes) + "\n"})
        return result

    def push_workspace(self) -> None:
        """Upload host changes now, when a cloud sandbox is running.

        A dev server sees edits made by the file tools only once they are pushed, which
        otherwise happens at the next exec; call this before looking at the app.
        """
        with self._exec_lock:
            remote = self._remote
            if self._closed or remote is None:
                return
            ops = MirrorOps(remote, self._options.user)
            self._guard(remote, "uploading the workspace", lambda: self._mirror.push(ops))

    # --- background processes ---------------------------------------------------------------

    def start_background(self, command: str, *, name: str) -> BackgroundInfo:
        """Start `command` with bash in /workspace in the cloud and return at once.

        The workspace is pushed first, so the process sees the host's latest files. It runs
        until stopped or `close`; SandboxError when E2B cannot start it.
        """
        with self._exec_lock:
            if self._closed:
                raise SandboxError("sandbox is closed")
            if not self._workspace.is_dir():
                raise SandboxError(f"workspace {self._workspace} has disappeared")
            label = self._processes.reserve()  # fails before paying for a cloud sandbox
            remote = self._live_remote(self._options.default_timeout_s)
            ops = MirrorOps(remote, self._options.user)
            self._guard(remote, "uploading the workspace", lambda: self._mirror.push(ops))
            return self._processes.start(remote, label, command, name)

    def list_background(self) -> list[BackgroundInfo]:
        """Every background process started so far; also keeps the cloud sandbox alive."""
        remote = self._remote
        if remote is not None and not self._closed:
            self._processes.keep_alive(remote, self._ttl(self._options.default_timeout_s))
        return self._processes.infos()

    def background_output(self, process_id: str, *, max_bytes: int) -> str:
        """The tail of its output; KeyError naming the known ids for an unknown one."""
        return self._processes.output(process_id, max_bytes)

    def stop_background(self, process_id: str) -> BackgroundInfo:
        """Kill it and everything it started; KeyError for an unknown id."""
        return self._processes.stop(process_id)

    def preview_url(self, port: int) -> str:
        """The public https URL E2B serves for `port` of the running cloud sandbox."""
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be 1-65535, got {port}")
        remote = self._remote
        if remote is None:
            raise SandboxError("no E2B sandbox is running yet; run a command first")
        return f"https://{remote.get_host(port)}"

    def close(self) -> None:
        """Kill the cloud sandbox and with it every background process; later `exec` calls
        fail. Safe to call more than once."""
        with self._state_lock:
            self._closed = True
            remote, self._remote = self._remote, None
        self._processes.close()
        if remote is not None:
            _kill_quietly(remote)
        self._processes.join(timeout_s=1.0)  # their streams end with the sandbox

    def __enter__(self) -> E2BSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals --------------------------------------------------------------------------

    def _ttl(self, timeout_s: float) -> int:
        return min(self._options.max_ttl_s, math.ceil(timeout_s) + self._options.idle_ttl_s)

    def _live_remote(self, timeout_s: float) -> RemoteSandbox:
        """The cloud sandbox with its TTL covering this command, recreated if it has expired."""
        from e2b import NotFoundException

        ttl = self._ttl(timeout_s)
        remote = self._remote
        if remote is not None:
            try:
                remote.set_timeout(ttl)
                return remote
            except NotFoundException:
                self._forget(remote)  # its time ran out: start over from the host copy
            except Exception as exc:
                raise _sdk_error("extending the sandbox's time to live", exc) from exc
        return self._create(ttl)

    def _create(self, ttl: int) -> RemoteSandbox:
        import e2b

        opts = self._options
        try:
            remote = e2b.Sandbox.create(
                template=opts.template,
                timeout=ttl,
                allow_internet_access=opts.internet,
                metadata={"app": "cofounder", "workspace": self._workspace.name},
                api_key=self._api_key,
            )
        except Exception as exc:
            what = f"template {opts.template!r}" if opts.template else "the default template"
            raise _sdk_error(f"creating a sandbox from {what}", exc) from exc
        with self._state_lock:
            if self._closed:
                _kill_quietly(remote)
                raise SandboxError("sandbox is closed")
            self._remote = remote
        self._mirror.reset()
        root = shlex.quote(opts.remote_workspace)
        setup = f"mkdir -p {root} && chown {shlex.quote(opts.user)}: {root}"
        self._guard(remote, "preparing /workspace", lambda: _run_as_root(remote, setup))
        return remote

    def _run(self, remote: RemoteSandbox, command: str, timeout: float, token: str) -> ExecResult:
        from e2b import (
            CommandExitException,
            SandboxNotRunningException,
            SandboxUnreachableException,
            TimeoutException,
        )

        limit = self._options.output_limit_bytes
        out, err = OutputCapture(limit), OutputCapture(limit)
        timed_out = False
        started = time.monotonic()
        try:
            done = remote.commands.run(
                command,
                cwd=self._options.remote_workspace,
                envs={MARKER_ENV: token, "LANG": "C.UTF-8", "TERM": "dumb"},
                user=self._options.user,
                timeout=timeout,
                on_stdout=lambda s: out.feed(s.encode("utf-8", "replace")),
                on_stderr=lambda s: err.feed(s.encode("utf-8", "replace")),
                retain_output=False,
            )
            exit_code = done.exit_code
        except CommandExitException as exc:  # envd: -1 and `signal: killed` for a signal
            exit_code = exit_status(exc.exit_code, exc.error)
        except (SandboxNotRunningException, SandboxUnreachableException) as exc:
            if not self._closed:
                self._lost(remote, "running the command", exc)
            exit_code = KILLED_EXIT_CODE
        except TimeoutException:  # the command's own deadline (the subclasses are above)
            timed_out, exit_code = True, TIMEOUT_EXIT_CODE
        except Exception as exc:
            self._lost(remote, "running the command", exc)
        duration_ms = int((time.monotonic() - started) * 1000)
        stdout, stderr = out.result(), err.result()
        note = ""
        if self._closed:
            note = "\n[the sandbox was closed; the command and its processes were killed]\n"
        return ExecResult(
            exit_code=exit_code,
            stdout=stdout.text,
            stderr=stderr.text + note,
            timed_out=timed_out,
            truncated=stdout.truncated or stderr.truncated,
            duration_ms=duration_ms,
            stdout_cut=stdout.cut,
            stderr_cut=stderr.cut,
        )

    def _guard(self, remote: RemoteSandbox, action: str, step: Callable[[], _T]) -> _T:
        """Run a setup or sync step; on any failure drop the cloud sandbox.

        A half-done sync leaves the two copies apart in unknown ways, so the next exec starts
        a fresh sandbox from the host copy rather than trusting either side's bookkeeping.
        """
        try:
            return step()
        except Exception as exc:
            cause = exc.__cause__ if isinstance(exc, SandboxError) and exc.__cause__ else exc
            self._lost(remote, action, cause)

    def _lost(self, remote: RemoteSandbox, action: str, exc: BaseException) -> NoReturn:
        self._forget(remote)
        raise SandboxError(
            f"the E2B sandbox failed while {action} ({type(exc).__name__}: {exc}); the workspace "
            "on this machine keeps what was last synced, and the next command starts a fresh "
            "cloud sandbox from it"
        ) from exc

    def _forget(self, remote: RemoteSandbox) -> None:
        with self._state_lock:
            if self._remote is remote:
                self._remote = None
        self._mirror.reset()
        self._processes.lose(remote)
        _kill_quietly(remote)


def _run_as_root(remote: RemoteSandbox, command: str) -> str:
    from e2b import CommandExitException

    try:
        return remote.commands.run(command, user="root", timeout=SYNC_TIMEOUT_S).stdout
    except CommandExitException as exc:
        raise SandboxError(f"could not prepare the workspace: {exc}") from exc
    except Exception as exc:
        raise _sdk_error("preparing the workspace", exc) from exc


def _kill_quietly(remote: RemoteSandbox) -> None:
    """Best effort: a sandbox we cannot reach to kill dies when its TTL runs out."""
    try:
        remote.kill()
    except Exception:
        return
