"""E2BSandbox against the real `e2b` SDK's interfaces — NOT against E2B's cloud.

E2B's cloud cannot be reached from here, so these tests never start a real E2B sandbox. The
fake below is built with `unittest.mock.create_autospec` from the SDK's own classes
(`e2b.Sandbox`, its `Commands` and `Filesystem`), and `e2b.Sandbox.create` is patched with
autospec too: calling a method that does not exist, or with a wrong name or signature, fails
the test. The fake behaves like the cloud where it matters: its `commands.run` runs the command
with real bash in a second local directory that plays the cloud sandbox's `/workspace`, streams
output to the callbacks, raises the SDK's `CommandExitException` for a non-zero exit and its
`TimeoutException` at the deadline (leaving the process running, as a dropped stream would);
`files.write`/`files.read` touch real files. So the mirror's shell steps (find, tar, the
process reaper) run for real; only E2B's transport, auth and VM are not exercised.

Background commands (`commands.run(background=True)`) get the SDK's real `CommandHandle`, fed
the envd event stream it would get from the cloud (start, stdout/stderr data, end with Go's
`exit status N` / `signal: killed` error) built from the SDK's own protobuf messages, read from
a local process; `handle.kill()` SIGKILLs only that process, as envd does, and killing the VM
kills every process it started and drops the streams.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import pwd
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import threading
import time
import types
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import e2b
import pytest
from e2b.envd.process import process_pb
from e2b.envd.utils import extract_start_pid
from e2b.sandbox_sync.commands.command import Commands
from e2b.sandbox_sync.commands.command_handle import CommandHandle
from e2b.sandbox_sync.filesystem.filesystem import Filesystem
from protobuf import Oneof

from cofounder.llm.messages import ToolUseBlock
from cofounder.sandbox import e2b_processes
from cofounder.sandbox.e2b_backend import E2BOptions, E2BSandbox
from cofounder.sandbox.e2b_processes import BG_MARKER_ENV, OutputRing, exit_status
from cofounder.sandbox.protocol import BackgroundInfo, Sandbox, SandboxError
from cofounder.tools.toolbox import ToolBox

ME = pwd.getpwuid(os.getuid()).pw_name
_GO_SIGNAL_NAMES = {signal.SIGKILL: "killed", signal.SIGTERM: "terminated"}


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
        try:
            raw_out, raw_err = proc.communicate(timeout=timeout or None)
        except subprocess.TimeoutExpired:
            self._abandoned.append(proc)  # a dropped stream does not kill the process
            exc = e2b.TimeoutException("context deadline exceeded")
            self.raised.append(exc)
            raise exc from None
        out = raw_out.decode("utf-8", "replace")
        err = raw_err.decode("utf-8", "replace")
        for text, callback in ((out, on_stdout), (err, on_stderr)):
            for i in range(0, len(text), 4096):
                if callback is not None:
                    callback(text[i : i + 4096])
        kept_out, kept_err = (out, err) if retain_output else (None, None)
        if proc.returncode != 0:
            exit_exc = e2b.CommandExitException(
                stderr=kept_err, stdout=kept_out, exit_code=proc.returncode, error=None
            )
            self.raised.append(exit_exc)
            raise exit_exc
        return e2b.CommandResult(stderr=kept_err, stdout=kept_out, exit_code=0, error=None)

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
            error = f"signal: {_GO_SIGNAL_NAMES.get(signal.Signals(-rc), 'unknown')}"
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


def _response(field: str, value: Any) -> process_pb.StartResponse:
    """One message of envd's process stream: a ProcessEvent with its `field` oneof set."""
    oneof: Any = Oneof(field, value)
    return process_pb.StartResponse(event=process_pb.ProcessEvent(event=oneof))


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[FakeCloud]:
    fake = FakeCloud(tmp_path)
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


@pytest.fixture
def sandbox(ws: Path, cloud: FakeCloud) -> Iterator[E2BSandbox]:
    sb = E2BSandbox(ws, options(cloud))
    yield sb
    sb.close()


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


# --- the fake is strict ---------------------------------------------------------------------


def test_fake_is_specced_from_the_real_sdk(cloud: FakeCloud) -> None:
    sbx: Any = e2b.Sandbox.create(template="base", timeout=60, api_key="k")  # wrong on purpose
    with pytest.raises(TypeError):
        sbx.commands.run("true", no_such_option=1)
    with pytest.raises(TypeError):
        sbx.set_timeout(60, 70)
    with pytest.raises(AttributeError):
        _ = sbx.no_such_method
    with pytest.raises(TypeError):
        sbx.files.read("/x", formatt="bytes")


# --- creation, keys, SDK --------------------------------------------------------------------


def test_created_on_first_use_with_template_ttl_and_key(ws: Path, cloud: FakeCloud) -> None:
    sb = E2BSandbox(ws, options(cloud, template="cofounder-node", idle_ttl_s=300))
    as_protocol: Sandbox = sb  # mypy checks that E2BSandbox satisfies the protocol
    assert as_protocol.workspace == ws.resolve()
    assert not cloud.sandboxes and sb.sandbox_id is None  # nothing paid for until it is used
    r = sb.exec("pwd; id -un", timeout_s=30)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [str(cloud.remote), ME]
    create = e2b.Sandbox.create
    assert isinstance(create, mock.Mock)
    create.assert_called_once()
    kwargs = create.call_args.kwargs
    assert kwargs["template"] == "cofounder-node"
    assert kwargs["timeout"] == 330  # the command's 30 s plus the idle margin
    assert kwargs["api_key"] == "e2b_test_key"
    assert kwargs["allow_internet_access"] is False
    # create() takes **ApiParams, which autospec cannot check: check the names here instead.
    known = set(inspect.signature(e2b.Sandbox.create).parameters) | set(
        e2b.ApiParams.__annotations__
    )
    assert set(kwargs) <= known
    setup = cloud.current.commands.run.call_args_list[0]
    assert setup.kwargs["user"] == "root" and "mkdir -p" in setup.args[0]
    assert sb.sandbox_id == "sbx-1"
    sb.close()


def test_api_key_comes_from_the_environment(
    ws: Path, cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2B_API_KEY", "e2b_from_env")
    sb = E2BSandbox(ws, options(cloud, api_key=None))
    sb.start()
    create = e2b.Sandbox.create
    assert isinstance(create, mock.Mock)
    assert create.call_args.kwargs["api_key"] == "e2b_from_env"
    assert "e2b_from_env" not in repr(sb.options)  # a SecretStr: never printed
    sb.close()


def test_missing_api_key_is_a_clear_error(
    ws: Path, cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    with pytest.raises(SandboxError, match="E2B_API_KEY"):
        E2BSandbox(ws, options(cloud, api_key=None))
    assert not cloud.sandboxes


def test_missing_sdk_is_a_clear_error(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "e2b", None)  # what `import e2b` sees when not installed
    with pytest.raises(SandboxError, match=r"pip install 'cofounder\[e2b\]'"):
        E2BSandbox(ws, E2BOptions(api_key="k"))


def test_create_failure_is_a_sandbox_error(ws: Path, cloud: FakeCloud) -> None:
    sb = E2BSandbox(ws, options(cloud, template="no-such-template"))
    create = e2b.Sandbox.create
    assert isinstance(create, mock.Mock)
    create.side_effect = e2b.AuthenticationException("invalid API key")
    with pytest.raises(SandboxError, match=r"no-such-template.*invalid API key"):
        sb.exec("true", timeout_s=10)


# --- exec: exit codes, output, timeouts -----------------------------------------------------


def test_exec_maps_stdout_stderr_and_success(sandbox: E2BSandbox, cloud: FakeCloud) -> None:
    r = sandbox.exec("echo out; echo err >&2", timeout_s=20)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "out\n", "err\n")
    assert not r.timed_out and not r.truncated
    call = next(
        c for c in cloud.current.commands.run.call_args_list if c.args[0].startswith("echo")
    )
    assert call.kwargs["cwd"] == str(cloud.remote)
    assert call.kwargs["timeout"] == 20
    assert call.kwargs["retain_output"] is False  # output is capped as it streams
    assert "COFOUNDER_EXEC_ID" in call.kwargs["envs"]


def test_nonzero_exit_comes_through_command_exit_exception(
    sandbox: E2BSandbox, cloud: FakeCloud
) -> None:
    r = sandbox.exec("echo partial; echo bad >&2; exit 3", timeout_s=20)
    assert (r.exit_code, r.stdout, r.stderr) == (3, "partial\n", "bad\n")
    assert any(isinstance(e, e2b.CommandExitException) and e.exit_code == 3 for e in cloud.raised)


def test_timeout_is_reported_and_the_command_is_killed(
    sandbox: E2BSandbox, cloud: FakeCloud
) -> None:
    token = f"cf-e2b-timeout-{uuid.uuid4().hex[:8]}"
    r = sandbox.exec(f"echo begun; exec -a {token} sleep 60", timeout_s=1)
    assert r.timed_out and r.exit_code == 124
    assert any(type(e) is e2b.TimeoutException for e in cloud.raised)
    assert pids_with(token) == []  # the reaper killed what the dropped stream left running


def test_background_processes_do_not_outlive_exec(sandbox: E2BSandbox) -> None:
    token = f"cf-e2b-daemon-{uuid.uuid4().hex[:8]}"
    r = sandbox.exec(f"(exec -a {token} sleep 60) >/dev/null 2>&1 & echo started", timeout_s=20)
    assert r.exit_code == 0 and r.stdout == "started\n"
    assert pids_with(token) == []


def test_output_is_capped_head_and_tail(ws: Path, cloud: FakeCloud) -> None:
    sb = E2BSandbox(ws, options(cloud, output_limit_bytes=4096))
    r = sb.exec("seq 1 100000", timeout_s=30)
    assert r.exit_code == 0 and r.truncated
    assert r.stdout.startswith("1\n2\n") and r.stdout.endswith("99999\n100000\n")
    assert "elided" in r.stdout and len(r.stdout) < 5000
    sb.close()


def test_timeouts_are_validated_and_clamped(ws: Path, cloud: FakeCloud) -> None:
    sb = E2BSandbox(ws, options(cloud, max_timeout_s=50))
    with pytest.raises(ValueError):
        sb.exec("true", timeout_s=0)
    sb.exec("true", timeout_s=500)
    user_call = cloud.current.commands.run.call_args_list[1]
    assert user_call.args[0] == "true" and user_call.kwargs["timeout"] == 50
    sb.close()


# --- time to live ---------------------------------------------------------------------------


def test_ttl_is_extended_before_each_exec_and_bounded(ws: Path, cloud: FakeCloud) -> None:
    sb = E2BSandbox(ws, options(cloud, idle_ttl_s=120, max_ttl_s=600, max_timeout_s=600))
    sb.exec("true", timeout_s=10)  # creates with timeout=130
    sb.exec("true", timeout_s=45)
    sb.exec("true", timeout_s=599.5)
    calls = [c.args or (c.kwargs["timeout"],) for c in cloud.current.set_timeout.call_args_list]
    assert calls == [(165,), (600,)]  # 45+120, then capped at max_ttl_s
    sb.close()


def test_expired_sandbox_is_replaced_from_the_host_copy(
    sandbox: E2BSandbox, ws: Path, cloud: FakeCloud
) -> None:
    (ws / "kept.txt").write_text("from host\n")
    sandbox.exec("echo made remotely > made.txt", timeout_s=20)
    cloud.dead = True  # its time ran out while the session slept
    r = sandbox.exec("cat kept.txt made.txt", timeout_s=20)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "from host\nmade remotely\n"
    assert len(cloud.sandboxes) == 2 and sandbox.sandbox_id == "sbx-2"


def test_sandbox_vanishing_mid_command_is_a_sandbox_error(
    sandbox: E2BSandbox, ws: Path, cloud: FakeCloud
) -> None:
    sandbox.exec("echo 1 > one.txt", timeout_s=20)
    cloud.die_on_command = "echo 2 > two.txt"
    with pytest.raises(SandboxError, match="next command starts a fresh"):
        sandbox.exec("echo 2 > two.txt", timeout_s=20)
    assert sandbox.sandbox_id is None
    cloud.die_on_command = None
    r = sandbox.exec("ls", timeout_s=20)
    assert r.stdout == "one.txt\n" and len(cloud.sandboxes) == 2


# --- the mirrored workspace -----------------------------------------------------------------


def test_host_changes_are_uploaded_before_exec(
    sandbox: E2BSandbox, ws: Path, cloud: FakeCloud
) -> None:
    (ws / "src").mkdir()
    (ws / "src" / "app.txt").write_text("v1\n")
    (ws / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (ws / "run.sh").chmod(0o755)
    (ws / "empty").mkdir()
    (ws / "link").symlink_to("src/app.txt")
    (ws / "gone.txt").write_text("x")
    r = sandbox.exec("cat src/app.txt; ./run.sh; readlink link; test -d empty && ls", timeout_s=20)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "v1\nran\nsrc/app.txt\nempty\ngone.txt\nlink\nrun.sh\nsrc\n"

    (ws / "src" / "app.txt").write_text("v2\n")
    (ws / "gone.txt").unlink()
    r = sandbox.exec("cat src/app.txt; ls", timeout_s=20)
    assert r.stdout == "v2\nempty\nlink\nrun.sh\nsrc\n"
    assert cloud.uploads[-1] == ["src/app.txt"]  # incremental: only what changed travels

    (ws / "link").unlink()
    (ws / "link").symlink_to("run.sh")  # retargeted
    (ws / "empty").rmdir()
    (ws / "empty").write_text("now a file\n")  # a directory became a file
    r = sandbox.exec("readlink link; cat empty", timeout_s=20)
    assert r.stdout == "run.sh\nnow a file\n", r.stderr

    uploads = len(cloud.uploads)
    sandbox.exec("true", timeout_s=20)
    assert len(cloud.uploads) == uploads  # nothing changed, nothing sent


def test_remote_changes_are_reflected_on_the_host(
    sandbox: E2BSandbox, ws: Path, cloud: FakeCloud
) -> None:
    (ws / "old.txt").write_text("old\n")
    (ws / "tool.sh").write_text("#!/bin/sh\n")
    (ws / "dir").mkdir()
    (ws / "dir" / "x").write_text("x")
    script = (
        "mkdir -p src/deep && printf 'hi\\n' > src/deep/new.txt && rm old.txt && rm -r dir"
        " && chmod +x tool.sh && ln -s src/deep/new.txt ln && mkdir emptydir"
        " && echo same-size > tool.sh.tmp && printf 'XX\\n' > keep.txt"
        " && rm -r sub && echo file > sub"
    )
    (ws / "keep.txt").write_text("ab\n")
    (ws / "sub").mkdir()
    (ws / "sub" / "in.txt").write_text("in")
    r = sandbox.exec(script, timeout_s=20)
    assert r.exit_code == 0, r.stderr
    assert (ws / "src/deep/new.txt").read_text() == "hi\n"
    assert not (ws / "old.txt").exists() and not (ws / "dir").exists()
    assert os.stat(ws / "tool.sh").st_mode & stat.S_IXUSR
    assert os.readlink(ws / "ln") == "src/deep/new.txt"
    assert (ws / "emptydir").is_dir()
    assert (ws / "keep.txt").read_text() == "XX\n"  # same size, new content: still noticed
    assert (ws / "sub").read_text() == "file\n"  # a directory became a file

    uploads = len(cloud.uploads)
    sandbox.exec("true", timeout_s=20)
    assert len(cloud.uploads) == uploads  # what came back is not sent again


def test_rebuildable_folders_stay_remote(sandbox: E2BSandbox, ws: Path, cloud: FakeCloud) -> None:
    (ws / "node_modules" / "local").mkdir(parents=True)
    (ws / "node_modules" / "local" / "i.js").write_text("1")
    r = sandbox.exec(
        "mkdir -p node_modules/pkg && echo 2 > node_modules/pkg/i.js; ls", timeout_s=20
    )
    assert r.stdout == "node_modules\n"
    assert not (cloud.remote / "node_modules" / "local").exists()
    assert not (ws / "node_modules" / "pkg").exists()
    assert all("node_modules" not in name for names in cloud.uploads for name in names)


def test_oversized_remote_file_stays_remote_with_a_note(ws: Path, cloud: FakeCloud) -> None:
    sb = E2BSandbox(ws, options(cloud, max_mirror_file_bytes=1000))
    r = sb.exec("head -c 5000 /dev/zero > big.bin; echo small > small.txt", timeout_s=20)
    assert r.exit_code == 0
    assert not (ws / "big.bin").exists() and (ws / "small.txt").exists()
    assert "big.bin (5000 bytes)" in r.stderr and "stays only in the cloud sandbox" in r.stderr
    sb.close()


def test_a_tampered_download_writes_only_announced_files(
    sandbox: E2BSandbox, ws: Path, cloud: FakeCloud, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"

    def hostile_archive() -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, data in (("../outside.txt", b"pwned"), ("a.txt", b"real"), ("b", b"x")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            link = tarfile.TarInfo("a.txt")
            link.type, link.linkname = tarfile.SYMTYPE, str(outside)
            tar.addfile(link)
        return buf.getvalue()

    cloud.tamper = hostile_archive
    r = sandbox.exec("echo real > a.txt", timeout_s=20)
    assert r.exit_code == 0
    assert not outside.exists() and not (ws / "b").exists()
    assert not (ws / "a.txt").is_symlink() and (ws / "a.txt").read_bytes() == b"real"


def test_the_file_tools_work_unchanged_over_the_mirror(
    sandbox: E2BSandbox, ws: Path, cloud: FakeCloud
) -> None:
    box = ToolBox(sandbox)
    wrote = box.run(
        ToolUseBlock(
            id="t1", name="write_file", input={"path": "hello.py", "content": "print(6*7)\n"}
        )
    )
    assert wrote.result.ok, wrote.result.content
    ran = box.run(
        ToolUseBlock(id="t2", name="bash", input={"command": "python3 hello.py > answer.txt"})
    )
    assert ran.result.ok, ran.result.content
    read = box.run(ToolUseBlock(id="t3", name="read_file", input={"path": "answer.txt"}))
    assert read.result.ok and "42" in read.result.content


# --- close and preview ----------------------------------------------------------------------


def test_close_kills_once_and_is_idempotent(sandbox: E2BSandbox, cloud: FakeCloud) -> None:
    sandbox.exec("true", timeout_s=10)
    sbx = cloud.current
    sandbox.close()
    sandbox.close()
    sbx.kill.assert_called_once_with()
    with pytest.raises(SandboxError, match="closed"):
        sandbox.exec("true", timeout_s=10)


def test_close_before_use_creates_nothing(ws: Path, cloud: FakeCloud) -> None:
    with E2BSandbox(ws, options(cloud)) as sb:
        assert sb.workspace == ws.resolve()
    assert not cloud.sandboxes


def test_preview_url_uses_the_e2b_host(sandbox: E2BSandbox, cloud: FakeCloud) -> None:
    with pytest.raises(SandboxError, match="no E2B sandbox is running"):
        sandbox.preview_url(3000)
    sandbox.start()
    assert sandbox.preview_url(3000) == "https://3000-sbx-1.e2b.app"
    cloud.current.get_host.assert_called_with(3000)
    with pytest.raises(ValueError):
        sandbox.preview_url(70000)


# --- background processes -------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def info_of(sb: E2BSandbox, process_id: str) -> BackgroundInfo:
    return next(p for p in sb.list_background() if p.id == process_id)


def test_background_start_list_output_stop(sandbox: E2BSandbox, ws: Path, cloud: FakeCloud) -> None:
    token = f"cf-e2b-bg-{uuid.uuid4().hex[:8]}"
    (ws / "note.txt").write_text("from the host\n")  # pushed before the process starts
    # bash stays the parent, so killing only its pid (as envd does) would leave the child
    command = f"cat note.txt; echo warn >&2; (exec -a {token} sleep 60) & wait"
    info = sandbox.start_background(command, name="dev")
    assert (info.id, info.name, info.command, info.running) == ("p1", "dev", command, True)
    call = cloud.current.commands.run.call_args_list[-1]
    assert call.args[0] == command and call.kwargs["background"] is True
    assert call.kwargs["cwd"] == str(cloud.remote) and call.kwargs["user"] == ME
    assert call.kwargs["timeout"] == 0  # no deadline on the stream: it lives until stopped
    assert BG_MARKER_ENV in call.kwargs["envs"] and "COFOUNDER_EXEC_ID" not in call.kwargs["envs"]

    wait_for(lambda: "warn" in sandbox.background_output("p1", max_bytes=1000))
    assert sandbox.background_output("p1", max_bytes=1000) == "from the host\nwarn\n"
    [listed] = sandbox.list_background()
    assert listed.running and listed.exit_code is None and listed.log_bytes == 19
    wait_for(lambda: bool(pids_with(token)))

    stopped = sandbox.stop_background("p1")
    assert not stopped.running and stopped.exit_code == 137  # envd: -1, "signal: killed"
    assert pids_with(token) == []  # the child too: the marker reaper found it
    assert sandbox.background_output("p1", max_bytes=1000).startswith("from the host")
    assert sandbox.stop_background("p1") == info_of(sandbox, "p1")  # stopping twice is fine
    with pytest.raises(KeyError, match=r"'p9'.*known: p1"):
        sandbox.background_output("p9", max_bytes=100)
    with pytest.raises(KeyError, match="p9"):
        sandbox.stop_background("p9")


def test_background_exit_codes_come_from_the_end_event(sandbox: E2BSandbox) -> None:
    sandbox.start_background("echo bye; exit 3", name="fails")
    sandbox.start_background("echo fine", name="works")
    wait_for(lambda: not any(p.running for p in sandbox.list_background()))
    p1, p2 = sandbox.list_background()
    assert (p1.exit_code, p2.exit_code) == (3, 0)
    assert sandbox.background_output("p1", max_bytes=100) == "bye\n"
    assert exit_status(-1, "signal: terminated") == 143
    assert exit_status(-1, "some other failure") == -1


def test_exec_does_not_kill_background_processes(sandbox: E2BSandbox) -> None:
    token = f"cf-e2b-keep-{uuid.uuid4().hex[:8]}"
    sandbox.start_background(f"exec -a {token} sleep 60", name="server")
    wait_for(lambda: bool(pids_with(token)))
    for _ in range(3):  # each exec reaps everything carrying its own marker afterwards
        r = sandbox.exec("echo hi; (sleep 30 >/dev/null 2>&1 &); true", timeout_s=20)
        assert r.exit_code == 0
    assert pids_with(token) and info_of(sandbox, "p1").running


def test_close_kills_background_processes(ws: Path, cloud: FakeCloud) -> None:
    sb = E2BSandbox(ws, options(cloud))
    token = f"cf-e2b-close-{uuid.uuid4().hex[:8]}"
    sb.start_background(f"(exec -a {token} sleep 60) & wait", name="server")
    wait_for(lambda: bool(pids_with(token)))
    sbx = cloud.current
    sb.close()
    sbx.kill.assert_called_once_with()
    wait_for(lambda: pids_with(token) == [])  # the fake's kill ends local processes
    [info] = sb.list_background()
    assert not info.running and info.exit_code == 137
    assert "gone" not in sb.background_output("p1", max_bytes=1000)  # we ended it: no alarm
    with pytest.raises(SandboxError, match="closed"):
        sb.start_background("true", name="late")


def test_ttl_is_extended_while_background_processes_run(
    ws: Path, cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(e2b_processes, "KEEPALIVE_EVERY_S", 0.0)
    sb = E2BSandbox(ws, options(cloud, idle_ttl_s=200, default_timeout_s=100))
    sb.start_background("sleep 60", name="server")  # creates the sandbox with 100 + 200
    create = e2b.Sandbox.create
    assert isinstance(create, mock.Mock) and create.call_args.kwargs["timeout"] == 300
    sb.start_background("sleep 60", name="watcher")  # a start extends it, as an exec does
    sb.list_background()  # so does a look at the running processes
    set_timeout = cloud.current.set_timeout
    assert [c.args for c in set_timeout.call_args_list] == [(300,), (300,)]
    sb.stop_background("p1")
    sb.stop_background("p2")
    sb.list_background()  # nothing runs: the sandbox may wind down
    assert set_timeout.call_count == 2
    sb.close()


def test_keep_alive_is_throttled(sandbox: E2BSandbox, cloud: FakeCloud) -> None:
    sandbox.start_background("sleep 60", name="server")
    for _ in range(5):
        sandbox.list_background()
    assert cloud.current.set_timeout.call_count <= 1


def test_at_most_eight_background_processes(sandbox: E2BSandbox) -> None:
    for i in range(8):
        sandbox.start_background("sleep 60", name=f"s{i}")
    with pytest.raises(SandboxError, match=r"8 background processes.*p1, p2"):
        sandbox.start_background("sleep 60", name="one too many")
    sandbox.stop_background("p3")
    assert sandbox.start_background("true", name="fits again").id == "p9"


def test_background_output_is_capped_in_memory(sandbox: E2BSandbox) -> None:
    sandbox.start_background("seq 1 300000", name="chatty")  # about 2 MB
    wait_for(lambda: not info_of(sandbox, "p1").running)
    info = info_of(sandbox, "p1")
    assert info.exit_code == 0 and info.log_bytes == len(
        "".join(f"{i}\n" for i in range(1, 300001))
    )
    assert sandbox.background_output("p1", max_bytes=20) == "299999\n300000\n"  # whole lines
    assert sandbox.background_output("p1", max_bytes=21) == "299998\n299999\n300000\n"
    everything = sandbox.background_output("p1", max_bytes=10 * 1024 * 1024)
    assert len(everything) <= e2b_processes.RING_BYTES and everything.endswith("300000\n")
    assert everything.split("\n", 1)[0].isdigit()  # starts at a line boundary
    with pytest.raises(ValueError):
        sandbox.background_output("p1", max_bytes=0)


def test_output_ring_keeps_the_tail() -> None:
    ring = OutputRing(cap=16)
    ring.feed("line one\nline two\n")
    ring.feed("three\n")
    assert ring.total == 24
    assert ring.tail(100) == "line two\nthree\n"  # "line one" fell out, cut mid-line
    short = OutputRing(cap=100)
    short.feed("a\nb\n")
    assert short.tail(100) == "a\nb\n" and short.tail(2) == "b\n"


def test_processes_of_an_expired_sandbox_are_reported_gone(
    sandbox: E2BSandbox, cloud: FakeCloud
) -> None:
    sandbox.start_background("echo up; sleep 60", name="server")
    wait_for(lambda: sandbox.background_output("p1", max_bytes=100) == "up\n")
    cloud.dead = True  # its time ran out while the session slept
    r = sandbox.exec("true", timeout_s=20)  # a fresh sandbox, seeded from the host
    assert r.exit_code == 0 and sandbox.sandbox_id == "sbx-2"
    wait_for(lambda: not info_of(sandbox, "p1").running)
    info = info_of(sandbox, "p1")
    assert info.exit_code is None
    assert "cloud sandbox this process ran in is gone" in sandbox.background_output(
        "p1", max_bytes=1000
    )
    assert sandbox.start_background("true", name="again").id == "p2"


def test_start_failure_is_a_sandbox_error(sandbox: E2BSandbox, cloud: FakeCloud) -> None:
    sandbox.start()
    cloud.die_on_command = "npm run dev"
    with pytest.raises(SandboxError, match=r"starting background process p1.*not found"):
        sandbox.start_background("npm run dev", name="dev")
    assert sandbox.list_background() == []


def test_close_races_with_a_running_pump(ws: Path, cloud: FakeCloud) -> None:
    sb = E2BSandbox(ws, options(cloud))
    for i in range(3):
        sb.start_background(f"while :; do echo {i}; sleep 0.01; done", name=f"loop{i}")
    closer = threading.Thread(target=sb.close)
    closer.start()
    closer.join(timeout=10)
    assert not closer.is_alive()
    assert all(not p.running and p.exit_code == 137 for p in sb.list_background())


def test_stop_maps_sdk_failures(sandbox: E2BSandbox, cloud: FakeCloud) -> None:
    token = f"cf-e2b-stopfail-{uuid.uuid4().hex[:8]}"
    sandbox.start_background(f"(exec -a {token} sleep 60) & wait", name="server")
    run = cloud.current.commands.run
    real = run.side_effect

    def failing_reaper(exc: BaseException) -> Callable[..., Any]:
        def side_effect(cmd: str, *args: Any, **kwargs: Any) -> Any:
            if "grep -qzxF" in cmd:
                raise exc
            return real(cmd, *args, **kwargs)

        return side_effect

    run.side_effect = failing_reaper(e2b.SandboxException("envd hiccup"))
    with pytest.raises(SandboxError, match=r"stopping background process p1.*envd hiccup"):
        sandbox.stop_background("p1")
    run.side_effect = real
    sandbox.start_background("sleep 60", name="other")
    run.side_effect = failing_reaper(e2b.SandboxNotRunningException("sandbox was not found"))
    info = sandbox.stop_background("p2")  # the sandbox is gone: so is the process
    assert not info.running
    run.side_effect = real
