"""E2BSandbox against the real `e2b` SDK's interfaces — NOT against E2B's cloud.

E2B's cloud cannot be reached from here, so these tests never start a real E2B sandbox: they
drive the SDK against `tests/fakes/e2b_cloud.py` (`FakeCloud`), whose commands run with real
bash in a local directory playing the cloud's /workspace (see that module for what it fakes).
What every backend must do is in tests/contract/; these are the E2B-only claims: creation,
keys, TTLs, the mirror (uploads, downloads, tampering), VM loss, and the SDK mapping.
"""

from __future__ import annotations

import inspect
import io
import os
import stat
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import e2b
import pytest

from cofounder.llm.messages import ToolUseBlock
from cofounder.sandbox.e2b import processes as e2b_processes
from cofounder.sandbox.e2b.backend import E2BOptions, E2BSandbox
from cofounder.sandbox.e2b.processes import BG_MARKER_ENV, OutputRing, exit_status
from cofounder.sandbox.protocol import Sandbox, SandboxError
from cofounder.tools.toolbox import ToolBox
from fakes.e2b_cloud import ME, FakeCloud, info_of, options, pids_with

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
