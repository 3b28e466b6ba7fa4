"""The local sandbox: bubblewrap namespaces, a cgroup, rlimits and a network mode around `bash -c`.

Inside: uid 1000 with no capabilities under a seccomp filter (see `seccomp`), read-only /usr,
/proc and /dev, a private /tmp, the workspace read-write at /workspace and a cleared
environment; nothing names the host (its paths, user or hostname). Network `none` gives each command
one namespace with only `lo` for the sandbox's lifetime (see `netns`; a fresh one per command
where the worker is not root); `egress` runs every command in one pasta-backed namespace (see
`network`). Background processes (see `background`) share that namespace, so a dev server
started in one is reachable from later commands, the preview forward and the screenshot
browser. `--die-with-parent` and the pid namespace mean nothing started by a command
outlives `exec` (the sandbox's init exits when the command does, the kernel kills the rest of
the namespace, and bwrap reaps the init); its cgroup, if any, is removed on `close`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from cofounder.sandbox.limits import NetworkMode, SandboxLimits
from cofounder.sandbox.local import cgroups
from cofounder.sandbox.local.availability import (
    can_disable_userns,
    require_bwrap,
    require_egress_tools,
    shared_network_tools,
)
from cofounder.sandbox.local.background import ProcessTable, Spawn
from cofounder.sandbox.local.capabilities import HARDENING, ActiveLimits
from cofounder.sandbox.local.command import (
    SANDBOX_PATH,
    SANDBOX_UID,
    SANDBOX_WORKSPACE,
    Layers,
    build_argv,
    run_fds,
)
from cofounder.sandbox.local.netns import IsolatedNetwork
from cofounder.sandbox.local.network import RESOLV_CONF, EgressNetwork
from cofounder.sandbox.local.runner import Running, kill_tree, run_supervised
from cofounder.sandbox.local.seccomp import filter_program
from cofounder.sandbox.local.teardown import child_pid, kill_sandbox, settle
from cofounder.sandbox.local.workspace_guard import WorkspaceGuard
from cofounder.sandbox.protocol import BackgroundInfo, ExecResult, SandboxError

__all__ = ["SANDBOX_PATH", "SANDBOX_UID", "SANDBOX_WORKSPACE", "BwrapSandbox"]


class BwrapSandbox:
    """A `Sandbox` backed by bubblewrap on this host; one instance per workspace.

    `exec` may be called from several threads; `close` kills whatever is still running and
    releases the network helpers and the cgroup. Raises SandboxError when the sandbox cannot
    be set up (bwrap missing, egress requested but impossible here).
    """

    def __init__(
        self,
        workspace: Path,
        limits: SandboxLimits | None = None,
        *,
        network: NetworkMode = "none",
        log_dir: Path | None = None,
    ) -> None:
        bwrap, prlimit = require_bwrap()
        ws = Path(os.path.realpath(workspace))
        if not ws.is_dir():
            raise SandboxError(f"workspace {workspace} does not exist or is not a directory")
        if network not in ("none", "egress"):
            raise ValueError(f"unknown network mode {network!r}")
        self._workspace = ws
        self._limits = limits or SandboxLimits()
        self._network_mode: NetworkMode = network
        self._lock = threading.Lock()
        self._running: set[Running] = set()
        self._closed = False
        self._guard = WorkspaceGuard(
            ws,
            limit_bytes=self._limits.workspace_bytes,
            limit_files=self._limits.workspace_files,
            min_host_free_bytes=self._limits.min_host_free_bytes,
        )
        self._cgroup, self._cgroup_note, support = self._make_cgroup()
        self._version = support.version if self._cgroup is not None else None
        self._egress: EgressNetwork | None = None
        self._isolated: IsolatedNetwork | None = None
        self._own_log_dir = log_dir is None
        self._log_dir = log_dir or Path(tempfile.mkdtemp(prefix="cofounder-bg-"))
        self._processes = ProcessTable(self._spawn_background, self._log_dir)
        try:
            netns: str | None = None
            nsenter: str | None = None
            extra_etc: dict[str, bytes] = {}
            if network == "egress":
                tools = require_egress_tools()
                self._egress = EgressNetwork(tools)
                netns, nsenter = self._egress.netns_path, tools.nsenter
                extra_etc["/etc/resolv.conf"] = RESOLV_CONF
            elif (shared := shared_network_tools()) is not None:
                self._isolated = IsolatedNetwork(
                    unshare=shared.unshare, ip=shared.ip, nsenter=shared.nsenter
                )
                netns, nsenter = self._isolated.netns_path, shared.nsenter
            layers = Layers(
                bwrap=bwrap,
                prlimit=prlimit,
                cgroup_procs=tuple(self._cgroup.procs_files) if self._cgroup else (),
                netns=netns,
                nsenter=nsenter,
                disable_userns=can_disable_userns(),
                extra_etc=extra_etc,
                seccomp=filter_program(),
            )
        except BaseException:
            self._release()
            raise
        self._layers = layers

    def _make_cgroup(
        self,
    ) -> tuple[cgroups.SandboxCgroup | None, str, cgroups.CgroupSupport]:
        support = cgroups.detect()
        if support.version is None:
            return None, support.reason, support
        cgroups.sweep_stale(support)
        try:
            group = cgroups.SandboxCgroup.create(
                support,
                memory_bytes=self._limits.memory_bytes,
                max_processes=self._limits.max_processes,
            )
        except cgroups.CgroupUnavailable as exc:
            return None, str(exc), support
        return group, support.reason, support

    @property
    def workspace(self) -> Path:
        return self._workspace

    @property
    def limits(self) -> SandboxLimits:
        return self._limits

    @property
    def network(self) -> NetworkMode:
        return self._network_mode

    @property
    def netns_path(self) -> str | None:
        """The network namespace every command and background process runs in, for the
        preview forward and the screenshot browser; None where each command gets its own."""
        return self._layers.netns

    @property
    def nsenter(self) -> str | None:
        return self._layers.nsenter

    @property
    def network_holder_pid(self) -> int | None:
        """A process resident in `netns_path`: `/proc/PID/net/tcp` lists its listeners."""
        if self._egress is not None:
            return self._egress.holder_pid
        return self._isolated.holder_pid if self._isolated is not None else None

    def active_limits(self) -> ActiveLimits:
        """What this sandbox really enforces here (cgroup version and controllers included)."""
        hardening = HARDENING if self._layers.disable_userns else _without_userns_block()
        return ActiveLimits.build(
            self._limits,
            cgroup_version=self._version,
            controllers=tuple(self._cgroup.dirs) if self._cgroup is not None else (),
            note=self._cgroup_note,
            network=self._network_mode,
        ).model_copy(update={"hardening": hardening})

    def scrub(self, text: str) -> str:
        """`text` (bubblewrap's own complaint) with this host's paths replaced: the model reads
        sandbox errors, and nothing of the host may show through them."""
        for host, inside in ((str(self._log_dir), "<logs>"), (str(self._workspace), "/workspace")):
            text = text.replace(host, inside)
        return text

    def check_workspace(self) -> str | None:
        """Measure the workspace now; the over-limit message, or None. For the file tools,
        which write on the host side and so are not seen by `exec`'s own checks."""
        return self._guard.over_limit(self._guard.measure())

    def exec(self, command: str, *, timeout_s: float | None = None) -> ExecResult:
        """Run `command` with `bash -c` in /workspace; failures of the command are data.

        Raises SandboxError only when the sandbox itself cannot start, ValueError for a
        non-positive timeout. Timeouts above `limits.max_timeout_s` are clamped to it. A limit
        that stopped or flagged the command is named in `limit_exceeded` and in stderr.
        """
        if self._closed:
            raise SandboxError("sandbox is closed")
        timeout = self._limits.default_timeout_s if timeout_s is None else timeout_s
        if timeout <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        timeout = min(timeout, self._limits.max_timeout_s)
        if not self._workspace.is_dir():  # the model reads this: no host path in it
            raise SandboxError(f"the workspace ({SANDBOX_WORKSPACE}) has disappeared on the host")
        self._ensure_network()
        argv, status_r, status_w, data_fds = self._prepare(command)
        before = self._cgroup.counters() if self._cgroup is not None else None
        try:
            outcome = run_supervised(
                argv,
                timeout_s=timeout,
                output_limit_bytes=self._limits.output_limit_bytes,
                pass_fds=[status_w, *data_fds],
                status_fd=status_r,
                killer=kill_sandbox,
                on_start=self._track,
                on_end=self._untrack,
                env={},  # bwrap's pid 1 keeps bwrap's environment, readable from inside
                cwd="/",  # nor may our working directory show through
                watch=self._guard.watcher(),
            )
        except OSError as exc:  # the start failed: run_supervised closed pass_fds, not ours
            with contextlib.suppress(OSError):
                os.close(status_r)
            raise SandboxError(f"could not start bubblewrap: {exc}") from exc
        child = child_pid(outcome.status)
        settle(outcome.status)
        stderr = outcome.stderr.text
        if self._closed:
            stderr += "\n[the sandbox was closed; the command and its processes were killed]\n"
        elif not outcome.timed_out and outcome.stopped_reason is None and child is None:
            raise SandboxError(
                f"bubblewrap failed to set up the sandbox (exit {outcome.exit_code}): "
                f"{self.scrub(stderr.strip()) or 'no error message'}"
            )
        notes = self._limit_notes(outcome.stopped_reason, before)
        for note in notes:
            stderr += ("" if not stderr or stderr.endswith("\n") else "\n") + f"[sandbox: {note}]\n"
        return ExecResult(
            exit_code=outcome.exit_code,
            stdout=outcome.stdout.text,
            stderr=stderr,
            timed_out=outcome.timed_out,
            truncated=outcome.stdout.truncated or outcome.stderr.truncated,
            duration_ms=outcome.duration_ms,
            limit_exceeded="; ".join(notes) or None,
            stdout_cut=outcome.stdout.cut,
            stderr_cut=outcome.stderr.cut,  # notes appended after its tail leave it valid
        )

    def _limit_notes(self, stopped: str | None, before: cgroups.CgroupCounters | None) -> list[str]:
        """Which limits this command ran into, in words the model can act on."""
        notes = [stopped] if stopped else []
        if self._cgroup is not None and before is not None:
            after = self._cgroup.counters()
            if after.oom_kills > before.oom_kills:
                notes.append(
                    f"the sandbox reached its memory limit of "
                    f"{self._limits.memory_bytes // 1024**2} MiB and the kernel killed a "
                    "process (out of memory)"
                )
            if after.pids_refused > before.pids_refused:
                notes.append(
                    f"the sandbox reached its limit of {self._limits.max_processes} "
                    "processes/threads; starting more failed"
                )
        if stopped is None and not self._closed:
            over = self._guard.over_limit(self._guard.measure())
            if over is not None:
                notes.append(f"{over}; delete files you do not need before writing more")
        return notes

    def _ensure_network(self) -> None:
        if self._closed:  # close() won a race with this call: say so, not "holder exited"
            raise SandboxError("sandbox is closed")
        for network in (self._egress, self._isolated):
            if network is not None:
                network.ensure_alive()

    # --- background processes ---------------------------------------------------------------

    def start_background(self, command: str, *, name: str) -> BackgroundInfo:
        """Start `command` with `bash -c` in /workspace and return at once; it runs until
        stopped or the sandbox closes. Raises SandboxError when it cannot start."""
        if self._closed:
            raise SandboxError("sandbox is closed")
        self._ensure_network()
        try:
            return self._processes.start(command, name=name)
        except SandboxError as exc:  # it may quote bwrap's complaint, host paths and all
            raise SandboxError(self.scrub(str(exc))) from None

    def list_background(self) -> list[BackgroundInfo]:
        return self._processes.infos()

    def background_output(self, process_id: str, *, max_bytes: int) -> str:
        """The tail of its output; KeyError naming the known ids for an unknown one."""
        return self._processes.get(process_id).tail(max_bytes)

    def stop_background(self, process_id: str) -> BackgroundInfo:
        return self._processes.get(process_id).stop()

    def _prepare(self, command: str) -> tuple[list[str], int, int, list[int]]:
        """The command line for `command`, the status pipe's (read, write) ends and the /etc
        data fds bwrap must inherit; the caller owns (and closes) every fd."""
        status_r, status_w = os.pipe()
        try:
            data_args, data_fds = run_fds(self._layers)
        except BaseException:
            for fd in (status_r, status_w):
                os.close(fd)
            raise
        argv = build_argv(
            self._layers,
            self._limits,
            self._workspace,
            command,
            data_args=data_args,
            status_fd=status_w,
        )
        return argv, status_r, status_w, data_fds

    def _spawn_background(self, command: str) -> Spawn:
        argv, status_r, status_w, data_fds = self._prepare(command)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(status_w, *data_fds),
                start_new_session=True,
                close_fds=True,
                env={},
                cwd="/",
            )
        except OSError as exc:
            os.close(status_r)
            raise SandboxError(f"could not start bubblewrap: {exc}") from exc
        finally:
            for fd in (status_w, *data_fds):
                with contextlib.suppress(OSError):
                    os.close(fd)
        return Spawn(proc=proc, status_fd=status_r)

    def close(self) -> None:
        """Kill every process tree still running in this sandbox, background ones included,
        and release its helpers; later calls fail. Safe to call more than once."""
        with self._lock:
            self._closed = True
            running = list(self._running)
        self._processes.close()
        for run in running:
            kill_sandbox(run)
        self._release()

    def _release(self) -> None:
        for network in (self._egress, self._isolated):
            if network is not None:
                network.close()
        if self._cgroup is not None:
            self._cgroup.remove()
        if self._own_log_dir:
            shutil.rmtree(self._log_dir, ignore_errors=True)

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


def _without_userns_block() -> tuple[str, ...]:
    return tuple(
        h if h != "no new user namespaces" else "new user namespaces allowed (bubblewrap < 0.8)"
        for h in HARDENING
    )
