"""The local sandbox: bubblewrap namespaces + prlimit rlimits around `bash -c`.

Inside: uid 1000, read-only /usr, a private /proc, /dev and /tmp, the workspace read-write at
/workspace, a cleared environment and no network but `lo`. `--die-with-parent` and the pid
namespace mean nothing started by a command outlives `exec` (bwrap's pid 1 exits when bash
does, and the kernel kills the rest of the namespace).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from cofounder.sandbox.availability import require_bwrap
from cofounder.sandbox.limits import SandboxLimits
from cofounder.sandbox.protocol import ExecResult, SandboxError
from cofounder.sandbox.runner import Running, kill_tree, run_supervised
from cofounder.sandbox.teardown import await_namespace_teardown, child_pid, kill_sandbox

SANDBOX_WORKSPACE = "/workspace"
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_UID = 1000

# Small synthetic /etc files so `whoami`, `localhost` and tools that look up the user work.
_ETC_FILES: dict[str, bytes] = {
    "/etc/passwd": (
        b"root:x:0:0:root:/root:/usr/sbin/nologin\n"
        b"sandbox:x:1000:1000:sandbox:/workspace:/bin/bash\n"
        b"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "/etc/group": b"root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n",
    "/etc/hosts": b"127.0.0.1 localhost sandbox\n::1 ip6-localhost ip6-loopback\n",
}

# Host /etc entries that programs need to run (TLS roots, loader cache, name service config).
_ETC_RO_BINDS = (
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ld.so.cache",
    "/etc/nsswitch.conf",
    "/etc/localtime",
)


class BwrapSandbox:
    """A `Sandbox` backed by bubblewrap on this host; one instance per workspace.

    `exec` may be called from several threads; `close` kills whatever is still running.
    """

    def __init__(self, workspace: Path, limits: SandboxLimits | None = None) -> None:
        self._bwrap, self._prlimit = require_bwrap()
        ws = Path(os.path.realpath(workspace))
        if not ws.is_dir():
            raise SandboxError(f"workspace {workspace} does not exist or is not a directory")
        self._workspace = ws
        self._limits = limits or SandboxLimits()
        self._lock = threading.Lock()
        self._running: set[Running] = set()
        self._closed = False

    @property
    def workspace(self) -> Path:
        return self._workspace

    @property
    def limits(self) -> SandboxLimits:
        return self._limits

    def exec(self, command: str, *, timeout_s: float | None = None) -> ExecResult:
        """Run `command` with `bash -c` in /workspace; failures of the command are data.

        Raises SandboxError only when the sandbox itself cannot start, ValueError for a
        non-positive timeout. Timeouts above `limits.max_timeout_s` are clamped to it.
        """
        if self._closed:
            raise SandboxError("sandbox is closed")
        timeout = self._limits.default_timeout_s if timeout_s is None else timeout_s
        if timeout <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        timeout = min(timeout, self._limits.max_timeout_s)
        if not self._workspace.is_dir():
            raise SandboxError(f"workspace {self._workspace} has disappeared")

        pass_fds: list[int] = []
        status_r, status_w = os.pipe()
        pass_fds.append(status_w)
        try:
            data_args = []
            for dest, content in _ETC_FILES.items():
                r, w = os.pipe()
                # Each file is far below the pipe buffer, so this write never blocks.
                os.write(w, content)
                os.close(w)
                pass_fds.append(r)
                data_args += ["--ro-bind-data", str(r), dest]
            argv = self._argv(command, data_args, status_w)
        except BaseException:
            for fd in (status_r, *pass_fds):
                with contextlib.suppress(OSError):
                    os.close(fd)
            raise

        try:
            outcome = run_supervised(
                argv,
                timeout_s=timeout,
                output_limit_bytes=self._limits.output_limit_bytes,
                pass_fds=pass_fds,
                status_fd=status_r,
                killer=kill_sandbox,
                on_start=self._track,
                on_end=self._untrack,
            )
        except OSError as exc:  # the start failed: run_supervised closed pass_fds, not ours
            with contextlib.suppress(OSError):
                os.close(status_r)
            raise SandboxError(f"could not start bubblewrap: {exc}") from exc
        child = child_pid(outcome.status)
        if child is not None:
            await_namespace_teardown(child)
        stderr = outcome.stderr.text
        if self._closed:
            stderr += "\n[the sandbox was closed; the command and its processes were killed]\n"
        elif not outcome.timed_out and child is None:
            raise SandboxError(
                f"bubblewrap failed to set up the sandbox (exit {outcome.exit_code}): "
                f"{stderr.strip() or 'no error message'}"
            )
        return ExecResult(
            exit_code=outcome.exit_code,
            stdout=outcome.stdout.text,
            stderr=stderr,
            timed_out=outcome.timed_out,
            truncated=outcome.stdout.truncated or outcome.stderr.truncated,
            duration_ms=outcome.duration_ms,
        )

    def close(self) -> None:
        """Kill every process tree still running in this sandbox; later `exec` calls fail."""
        with self._lock:
            self._closed = True
            running = list(self._running)
        for run in running:
            kill_sandbox(run)

    def __enter__(self) -> BwrapSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _track(self, run: Running) -> None:
        with self._lock:
            self._running.add(run)
            closed = self._closed
        if closed:  # close() raced with this start: it must not survive
            kill_tree(run.proc)

    def _untrack(self, run: Running) -> None:
        with self._lock:
            self._running.discard(run)

    def _argv(self, command: str, data_args: list[str], status_fd: int) -> list[str]:
        lim = self._limits
        argv = [
            self._prlimit,
            f"--cpu={lim.cpu_seconds}",
            f"--as={lim.address_space_bytes}",
            f"--fsize={lim.file_size_bytes}",
            f"--nofile={lim.open_files}",
            "--",
            self._bwrap,
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--uid", str(SANDBOX_UID),
            "--gid", str(SANDBOX_UID),
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
        ]  # fmt: skip
        for path in _ETC_RO_BINDS:
            argv += ["--ro-bind-try", path, path]
        argv += data_args
        argv += [
            "--proc", "/proc",
            "--dev", "/dev",
            "--size", str(lim.tmp_size_bytes), "--tmpfs", "/tmp",
            "--tmpfs", "/run",
            "--bind", str(self._workspace), SANDBOX_WORKSPACE,
            "--chdir", SANDBOX_WORKSPACE,
            "--json-status-fd", str(status_fd),
            "--clearenv",
            "--setenv", "PATH", SANDBOX_PATH,
            "--setenv", "HOME", SANDBOX_WORKSPACE,
            "--setenv", "LANG", "C.UTF-8",
            "--setenv", "TERM", "dumb",
            "--setenv", "USER", "sandbox",
            "--setenv", "TMPDIR", "/tmp",
            "--",
            "/bin/bash", "-c", command,
        ]  # fmt: skip
        return argv
