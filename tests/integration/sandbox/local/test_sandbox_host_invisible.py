"""Nothing of the host inside: no host path, user name, hostname or environment value in what a
sandboxed process can read, nor in the sandbox errors the model is shown.

One thing the kernel always shows: a bind mount's line in /proc/self/mountinfo names the
directory it binds by its path *within its own filesystem* (the fourth field). For a
workspace that is a plain folder that is its host path; for one on a filesystem of its own
it is its path below that filesystem's root ("/" for the root itself). That limit is pinned
here, so a change either way is noticed; the workspace volume that closes it for a service
is tested end to end in tests/e2e/test_cli_workspace_volume.py.
"""

from __future__ import annotations

import os
import pwd
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cofounder.sandbox import BwrapSandbox, SandboxError

HOST_SECRET = "cf-host-env-value-4711"
# The sandbox's own filesystems, and devtmpfs, whose device nodes show as /null, /zero, ...
SANDBOX_OWN_FS = {"tmpfs", "proc", "devpts", "mqueue", "devtmpfs"}
READ_ALL = (
    "for f in /proc/1/cmdline /proc/self/cmdline /proc/1/environ /proc/self/environ; do "
    "tr '\\0' '\\n' < $f; echo; done; hostname; uname -n; cat /proc/sys/kernel/hostname; "
    'id -un; echo "$USER $HOME $LOGNAME"; pwd; cat /etc/passwd /etc/group /etc/hosts'
)


def tokens(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9_.-]+", text))


@pytest.fixture
def host_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """A value in the worker's environment (as an API key would be)."""
    monkeypatch.setenv("COFOUNDER_TEST_HOST_VALUE", HOST_SECRET)
    return HOST_SECRET


def test_processes_environment_and_identity_show_nothing_of_the_host(
    ws: Path, host_env: str
) -> None:
    with BwrapSandbox(ws) as sb:
        r = sb.exec(READ_ALL, timeout_s=30)
    assert r.exit_code == 0, r.stderr
    seen = r.stdout + r.stderr
    host_user = pwd.getpwuid(os.getuid()).pw_name
    assert str(ws) not in seen
    assert host_env not in seen
    if os.getcwd() != "/":
        assert os.getcwd() not in seen  # the worker's own directory
    assert socket.gethostname() not in tokens(seen) - {"sandbox", "localhost"}
    if host_user not in ("root", "sandbox"):  # the synthetic /etc/passwd has a root line
        assert host_user not in tokens(seen)
    lines = r.stdout.splitlines()
    assert lines.count("sandbox") >= 4  # hostname, uname -n, /proc hostname, id -un
    assert "sandbox /workspace" in r.stdout  # $USER and $HOME


def test_pid_1_is_the_sandbox_init_not_bubblewrap(ws: Path) -> None:
    with BwrapSandbox(ws) as sb:
        r = sb.exec("tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/1/comm", timeout_s=30)
    cmdline, comm = r.stdout.splitlines()
    assert comm == "bash" and "sandbox-init" in cmdline
    assert "bwrap" not in cmdline and "--bind" not in cmdline and str(ws) not in cmdline


def test_mountinfo_names_the_workspace_by_its_path_in_its_own_filesystem(ws: Path) -> None:
    with BwrapSandbox(ws) as sb:
        r = sb.exec("cat /proc/self/mountinfo", timeout_s=30)
    lines = [line.split() for line in r.stdout.splitlines()]
    mount_points = {fields[4]: fields[3] for fields in lines}
    assert "/workspace" in mount_points
    leaking = [" ".join(f) for f in lines if str(ws) in " ".join(f)]
    # The known limit: only the workspace's own line, only in its root field.
    assert [f.split()[4] for f in leaking] in ([], ["/workspace"])
    assert all(str(ws) not in " ".join(f[4:]) for f in lines)


def test_every_other_mount_shows_the_same_path_inside_as_any_debian_host(ws: Path) -> None:
    """System folders are bound at their own paths (nothing of this host in particular), the
    sandbox's own files are tmpfs or proc, and the clock is UTC whatever the host's zone."""
    with BwrapSandbox(ws) as sb:
        r = sb.exec(
            "cat /proc/self/mountinfo; echo; readlink /etc/localtime; date +%Z", timeout_s=30
        )
    assert r.exit_code == 0, r.stderr
    table, _, tail = r.stdout.rpartition("\n\n")
    host_binds = [
        (fields[3], fields[4])
        for fields in (line.split() for line in table.splitlines())
        if fields[4] != "/workspace" and fields[fields.index("-") + 1] not in SANDBOX_OWN_FS
    ]
    assert host_binds and [b for b in host_binds if b[0] != b[1]] == []
    assert tail.split() == ["/usr/share/zoneinfo/Etc/UTC", "UTC"]


@pytest.fixture
def own_filesystem(ws: Path) -> Iterator[Path]:
    """`ws` as the root of a filesystem of its own (a small tmpfs), where we may mount."""
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "cf-workspace", str(ws)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield ws
    finally:
        subprocess.run(["umount", "-l", str(ws)], check=False)


def test_a_workspace_on_its_own_filesystem_shows_no_host_path(own_filesystem: Path) -> None:
    with BwrapSandbox(own_filesystem) as sb:
        r = sb.exec("cat /proc/self/mountinfo; echo ok > f && cat f", timeout_s=30)
    assert r.exit_code == 0, r.stderr
    assert str(own_filesystem) not in r.stdout
    workspace = [line.split() for line in r.stdout.splitlines() if " /workspace " in line]
    assert [fields[3] for fields in workspace] == ["/"]


def test_sandbox_errors_the_model_sees_carry_no_host_path(ws: Path) -> None:
    sb = BwrapSandbox(ws)
    try:
        scrubbed = sb.scrub(f"bwrap: Can't mkdir {ws}/sub: File exists")
        assert scrubbed == "bwrap: Can't mkdir /workspace/sub: File exists"
        ws.rmdir()
        with pytest.raises(SandboxError) as caught:
            sb.exec("true", timeout_s=30)
    finally:
        sb.close()
    assert "/workspace" in str(caught.value) and str(ws) not in str(caught.value)
