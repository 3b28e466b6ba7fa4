"""A stand-in for E2B's cloud, driven through the real `e2b` SDK's interfaces.

E2B's cloud cannot be reached from here, so no test starts a real E2B sandbox. `FakeCloud` is
built with `unittest.mock.create_autospec` from the SDK's own classes (`e2b.Sandbox`, its
`Commands` and `Filesystem`), and `patched_cloud` patches `e2b.Sandbox.create` with autospec
too: calling a method that does not exist, or with a wrong name or signature, fails the test.
The fake behaves like the cloud where it matters: its `commands.run` runs the command with real
bash in a second local directory that plays the cloud sandbox's `/workspace`, streams output to
the callbacks, raises the SDK's `CommandExitException` for a non-zero exit and its
`TimeoutException` at the deadline (leaving the process running, as a dropped stream would);
`files.write`/`files.read` touch real files. So the mirror's shell steps (find, tar, the process
reaper) run for real; only E2B's transport, auth and VM are not exercised.

Background commands (`commands.run(background=True)`) get the SDK's real `CommandHandle`, fed
the envd event stream it would get from the cloud (start, stdout/stderr data, end with Go's
`exit status N` / `signal: killed` error) built from the SDK's own protobuf messages, read from
a local process; `handle.kill()` SIGKILLs only that process, as envd does, and killing the VM
kills every process it started and drops the streams.

Used by the E2B backend's own tests (tests/integration/sandbox/e2b/) and by the contract suite
(tests/contract/), whose `e2b-fake` backend is this fake.
"""

from __future__ import annotations

import codecs
import contextlib
import inspect
import io
import os
import pwd
import selectors
import shutil
import signal
import subprocess
import tarfile
import time
import types
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import e2b
from e2b.envd.process import process_pb
from e2b.envd.utils import extract_start_pid
from e2b.sandbox_sync.commands.command import Commands
from e2b.sandbox_sync.commands.command_handle import CommandHandle
from e2b.sandbox_sync.filesystem.filesystem import Filesystem
from protobuf import Oneof

from cofounder.sandbox.e2b.backend import E2BOptions
from cofounder.sandbox.protocol import BackgroundInfo, Sandbox

ME = pwd.getpwuid(os.getuid()).pw_name
_GO_SIGNAL_NAMES = {signal.SIGKILL: "killed", signal.SIGTERM: "terminated"}
# One output stream of a command: its callback, its decoder and the text it has sent.
_Stream = tuple[Callable[[str], None] | None, codecs.IncrementalDecoder, list[str]]


def _bound_autospec(cls: type, name: str) -> Any:
    """Autospec an instance method the SDK wraps in `class_method_variant` (kill, set_timeout),
    which plain `create_autospec(instance=True)` would spec with a spurious `self`."""
    attr = inspect.getattr_static(cls, name)
    func = getattr(attr, "method", attr)
    return mock.create_autospec(types.MethodType(func, object()))


class FakeCloud:
    """Stands in for E2B: each `Sandbox.create` gives a fresh VM whose /workspace is `remote`."""

    def __init__(self, base: Path) -> None:
        self.remote = base / "remote-ws"
        self.scratch = base / "remote-tmp"
        self.scratch.mkdir()
        self.bin = base / "remote-bin"  # first on the VM's PATH: tests put fake tools here
        self.bin.mkdir()
        self.sandboxes: list[Any] = []
        self.background: list[subprocess.Popen[bytes]] = []
        self.raised: list[BaseException] = []
        self.uploads: list[list[str]] = []  # member names of each pushed archive
        self.dead = False  # the current VM is gone (TTL ran out, or killed)
        self.die_on_command: str | None = None  # a user command that makes the VM vanish
        self.tamper: Callable[[], bytes] | None = None  # replaces the next download
        self._abandoned: list[subprocess.Popen[bytes]] = []

    def create(self, *args: Any, **kwargs: Any) -> Any:
        shutil.rmtree(self.remote, ignore_errors=True)  # a new VM: nothing of the old one left
        self.dead = False
        sbx = mock.create_autospec(e2b.Sandbox, instance=True, spec_set=False)
        sbx.sandbox_id = f"sbx-{len(self.sandboxes) + 1}"
        sbx.commands = mock.create_autospec(Commands, instance=True)
        sbx.files = mock.create_autospec(Filesystem, instance=True)
        sbx.kill = _bound_autospec(e2b.Sandbox, "kill")
        sbx.set_timeout = _bound_autospec(e2b.Sandbox, "set_timeout")
        sbx.commands.run.side_effect = self._run
        sbx.files.write.side_effect = self._write
        sbx.files.read.side_effect = self._read
        sbx.set_timeout.side_effect = self._set_timeout
        sbx.kill.side_effect = self._kill
        sbx.get_host.side_effect = lambda port: f"{port}-{sbx.sandbox_id}.e2b.app"
        self.sandboxes.append(sbx)
        return sbx

    @property
    def current(self) -> Any:
        return self.sandboxes[-1]

    def _gone(self) -> None:
        if self.dead:
            exc = e2b.SandboxNotRunningException("sandbox was not found")
            self.raised.append(exc)
            raise exc

    def _set_timeout(self, timeout: int, **opts: Any) -> None:
        if self.dead:
            raise e2b.SandboxNotFoundException("Sandbox not found")

    def _kill(self, **opts: Any) -> bool:
        was_alive, self.dead = not self.dead, True
        for proc in self.background:  # the VM is gone, and everything that ran in it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        return was_alive

    def _run(
        self,
        cmd: str,
        background: bool | None = None,
        envs: dict[str, str] | None = None,
        user: str | None = None,
        cwd: str | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        stdin: bool | None = None,
        timeout: float | None = 60,
        request_timeout: float | None = None,
        *,
        retain_output: bool = True,
    ) -> Any:  # a CommandResult, or a CommandHandle for a background command
        self._gone()
        if cmd == self.die_on_command:
            self.dead = True
            self._gone()
        path = f"{self.bin}:{os.environ['PATH']}"
        env = {"PATH": path, "HOME": str(self.scratch), **(envs or {})}
        proc = subprocess.Popen(
            ["bash", "-c", cmd],
            cwd=cwd or self.scratch,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        if background:
            assert on_stdout is None and on_stderr is None  # the sync SDK would ignore them
            return self._handle(proc, retain_output)
        out, err = self._stream(proc, timeout, on_stdout, on_stderr)
        kept_out, kept_err = (out, err) if retain_output else (None, None)
        rc = proc.wait()
        if rc != 0:
            code, error = (rc, None) if rc > 0 else (-1, _go_signal_error(rc))
            exit_exc = e2b.CommandExitException(
                stderr=kept_err, stdout=kept_out, exit_code=code, error=error
            )
            self.raised.append(exit_exc)
            raise exit_exc
        return e2b.CommandResult(stderr=kept_err, stdout=kept_out, exit_code=0, error=None)

    def _stream(
        self,
        proc: subprocess.Popen[bytes],
        timeout: float | None,
        on_stdout: Callable[[str], None] | None,
        on_stderr: Callable[[str], None] | None,
    ) -> tuple[str, str]:
        """Output as envd streams it: each chunk to its callback as it comes; at the deadline
        the SDK's TimeoutException, with what came before it already delivered."""
        assert proc.stdout is not None and proc.stderr is not None
        streams: dict[int, _Stream] = {
            proc.stdout.fileno(): (on_stdout, codecs.getincrementaldecoder("utf-8")("replace"), []),
            proc.stderr.fileno(): (on_stderr, codecs.getincrementaldecoder("utf-8")("replace"), []),
        }
        deadline = time.monotonic() + timeout if timeout else None
        with selectors.DefaultSelector() as sel:
            for fd in streams:
                sel.register(fd, selectors.EVENT_READ)
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    self._abandoned.append(proc)  # a dropped stream does not kill the process
                    exc = e2b.TimeoutException("context deadline exceeded")
                    self.raised.append(exc)
                    raise exc
                for key, _ in sel.select(timeout=left):
                    callback, decoder, kept = streams[int(key.fd)]
                    chunk = os.read(int(key.fd), 4096)
                    if not chunk:
                        sel.unregister(key.fd)
                    text = decoder.decode(chunk, final=not chunk)
                    if text:
                        kept.append(text)
                        if callback is not None:
                            callback(text)
        (_, _, out), (_, _, err) = streams.values()
        proc.stdout.close()
        proc.stderr.close()
        return "".join(out), "".join(err)

    def _handle(self, proc: subprocess.Popen[bytes], retain_output: bool) -> Any:
        """What `Commands._start` returns: a real CommandHandle past the start event."""
        self.background.append(proc)
        events = self._events(proc)
        assert extract_start_pid(next(events), "start process") == proc.pid

        def kill() -> bool:  # envd's SendSignal(SIGKILL) to that one pid
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return False
            return True

        return CommandHandle(
            pid=proc.pid, handle_kill=kill, events=events, retain_output=retain_output
        )

    def _events(
        self, proc: subprocess.Popen[bytes]
    ) -> Generator[process_pb.StartResponse, None, None]:
        """envd's event stream for `proc`; it ends when the process does (as newer envd's
        does, even if children still hold its pipes) and breaks off when the VM dies."""
        event = process_pb.ProcessEvent
        yield _response("start", event.StartEvent(pid=proc.pid))
        assert proc.stdout is not None and proc.stderr is not None
        names = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr"}
        with selectors.DefaultSelector() as sel, proc.stdout, proc.stderr:
            for fd in names:
                sel.register(fd, selectors.EVENT_READ)
            while sel.get_map():
                if self.dead:
                    raise e2b.SandboxNotRunningException("sandbox was not found")
                ready = sel.select(timeout=0.05)
                for key, _ in ready:
                    fd = int(key.fd)
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        sel.unregister(fd)
                        continue
                    output: Any = Oneof(names[fd], chunk)
                    yield _response("data", event.DataEvent(output=output))
                if not ready and proc.poll() is not None:
                    break
        rc = proc.wait()
        if self.dead:
            raise e2b.SandboxNotRunningException("sandbox was not found")
        error = None if rc == 0 else f"exit status {rc}"
        if rc < 0:
            error = _go_signal_error(rc)
        end = event.EndEvent(exit_code=max(rc, -1), exited=rc >= 0, status=error or "", error=error)
        yield _response("end", end)

    def _write(self, path: str, data: Any, user: str | None = None, **kw: Any) -> e2b.WriteInfo:
        self._gone()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            self.uploads.append(tar.getnames())
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
        return e2b.WriteInfo(name=Path(path).name, type=e2b.FileType.FILE, path=path)

    def _read(self, path: str, format: str = "text", user: str | None = None, **kw: Any) -> Any:
        self._gone()
        assert format == "bytes"
        if self.tamper is not None:
            data, self.tamper = self.tamper(), None
            return bytearray(data)
        return bytearray(Path(path).read_bytes())

    def close(self) -> None:
        for proc in self._abandoned:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        for proc in self.background:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def _go_signal_error(returncode: int) -> str:
    """envd's error for a process a signal ended (Go's `signal: killed`); its exit code is -1."""
    return f"signal: {_GO_SIGNAL_NAMES.get(signal.Signals(-returncode), 'unknown')}"


def _response(field: str, value: Any) -> process_pb.StartResponse:
    """One message of envd's process stream: a ProcessEvent with its `field` oneof set."""
    oneof: Any = Oneof(field, value)
    return process_pb.StartResponse(event=process_pb.ProcessEvent(event=oneof))


@contextlib.contextmanager
def patched_cloud(base: Path) -> Iterator[FakeCloud]:
    """`e2b.Sandbox.create` answered by a fresh FakeCloud under `base` until the block ends;
    every process it started is killed afterwards."""
    fake = FakeCloud(base)
    with mock.patch.object(e2b.Sandbox, "create", autospec=True, side_effect=fake.create):
        yield fake
    fake.close()


def options(cloud: FakeCloud, **over: Any) -> E2BOptions:
    base: dict[str, Any] = {
        "api_key": "e2b_test_key",
        "remote_workspace": str(cloud.remote),
        "remote_scratch": str(cloud.scratch),
        "user": ME,
    }
    return E2BOptions(**(base | over))


def pids_with(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if token.encode() in fh.read() and entry.isdigit():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def info_of(sb: Sandbox, process_id: str) -> BackgroundInfo:
    """The listed state of one background process."""
    return next(p for p in sb.list_background() if p.id == process_id)
