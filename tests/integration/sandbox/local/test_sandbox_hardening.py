"""Hardening and whole-sandbox limits of BwrapSandbox, against the real kernel and cgroups."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from cofounder.sandbox import BwrapSandbox, SandboxLimits, probe_active_limits
from cofounder.sandbox.limits import MIB

ACTIVE = probe_active_limits()
needs_cgroup = pytest.mark.skipif(
    ACTIVE.cgroup_version is None or len(ACTIVE.cgroup_controllers) < 2,
    reason=f"no writable memory+pids cgroup here: {ACTIVE.cgroup_note}",
)


def status_fields(text: str) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


# --- privileges ---------------------------------------------------------------------------


def test_no_capabilities_at_all_and_no_new_privs(sandbox: BwrapSandbox) -> None:
    r = sandbox.exec("cat /proc/self/status", timeout_s=30)
    st = status_fields(r.stdout)
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(st[cap], 16) == 0, cap
    assert st["NoNewPrivs"] == "1"
    assert st["Uid"].split() == ["1000"] * 4


def test_bubblewraps_own_pid_1_carries_no_host_environment(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-must-not-leak")
    with BwrapSandbox(ws) as sb:
        r = sb.exec("tr '\\0' '\\n' < /proc/1/environ", timeout_s=30)
    assert r.exit_code == 0, r.stderr
    assert "sk-ant-must-not-leak" not in r.stdout
    assert "ANTHROPIC" not in r.stdout
    # pid 1 is the sandbox's init, started with the sandbox's own environment only
    assert [v for v in r.stdout.splitlines() if v.startswith("PWD=")] == ["PWD=/workspace"]


def test_proc_and_sysctls_are_read_only(sandbox: BwrapSandbox) -> None:
    """The sandbox uid maps to host root: a writable /proc/sys would mean host root."""
    r = sandbox.exec(
        "for f in /proc/sys/kernel/core_pattern /proc/sys/vm/drop_caches "
        "/proc/sys/kernel/panic /proc/self/oom_score_adj; do "
        "(echo 1 > $f) 2>&1 | grep -c 'Read-only file system'; done",
        timeout_s=30,
    )
    assert r.stdout.split() == ["1", "1", "1", "1"]


def test_no_new_user_namespaces(sandbox: BwrapSandbox) -> None:
    r = sandbox.exec("unshare --user --map-root-user true; echo rc=$?", timeout_s=30)
    assert "rc=1" in r.stdout
    assert "unshare failed" in r.stderr


def test_dev_is_read_only_with_working_nodes_and_small_shm(ws: Path) -> None:
    with BwrapSandbox(ws, SandboxLimits(shm_size_bytes=4 * MIB)) as sb:
        r = sb.exec(
            "touch /dev/evil 2>&1 | grep -c Read-only; echo x > /dev/null && echo null-ok; "
            "head -c 4 /dev/urandom | wc -c; "
            "head -c 8M /dev/zero > /dev/shm/big 2>/dev/null; du -k /dev/shm/big | cut -f1",
            timeout_s=30,
        )
    lines = r.stdout.split()
    assert lines[:3] == ["1", "null-ok", "4"]
    assert int(lines[3]) <= 4 * 1024


def test_run_and_tmp_are_sized_tmpfs(sandbox: BwrapSandbox) -> None:
    r = sandbox.exec("df -k --output=target,size /tmp /run | tail -n 2", timeout_s=30)
    sizes = {line.split()[0]: int(line.split()[1]) for line in r.stdout.splitlines()}
    assert sizes["/tmp"] == sandbox.limits.tmp_size_bytes // 1024
    assert sizes["/run"] == 16 * 1024


# --- what is active -----------------------------------------------------------------------


def test_active_limits_say_what_is_enforced(sandbox: BwrapSandbox) -> None:
    active = sandbox.active_limits()
    text = active.describe()
    assert active.network == "none" and "network: none" in text
    assert "rlimits" in active.summary
    if active.cgroup_version is None:
        assert active.memory_bytes is None and "not limited" in text
    else:
        assert active.summary.startswith(f"cgroup {active.cgroup_version}")
    assert active == ACTIVE.model_copy(update={"network": "none"})


@needs_cgroup
def test_each_sandbox_has_its_own_cgroup_removed_on_close(ws: Path) -> None:
    sb = BwrapSandbox(ws)
    assert sb._cgroup is not None
    dirs = list(sb._cgroup.dirs.values())
    r = sb.exec("sleep 0.2 & cat /proc/self/cgroup; wait", timeout_s=30)
    assert r.exit_code == 0
    assert all(d.is_dir() for d in dirs)
    sb.close()
    assert not any(d.exists() for d in dirs)


# Each hog holds its memory until every hog has allocated its own or ended (the limit may
# end one mid-way), so all three are alive together whatever the machine's speed; a fixed
# hold could end the first before a slow third had started.
HOG = """\
import os, sys, time
x = bytearray(120 * 2**20)
x[::4096] = b"y" * len(x[::4096])
open(f"allocated.{sys.argv[1]}", "w").close()
while not all(os.path.exists(f"allocated.{i}") or os.path.exists(f"ended.{i}") for i in "012"):
    time.sleep(0.01)
"""


@needs_cgroup
def test_memory_limit_covers_the_whole_sandbox(ws: Path) -> None:
    """Three processes of 120 MiB each stay under any per-process cap but not under 256 MiB."""
    limits = SandboxLimits(memory_bytes=256 * MIB)
    (ws / "hog.py").write_text(HOG)
    hogs = "for i in 0 1 2; do (python3 hog.py $i; touch ended.$i) & done"
    with BwrapSandbox(ws, limits) as sb:
        r = sb.exec(f"{hogs}; wait; echo done", timeout_s=60)
    assert r.limit_exceeded is not None and "memory limit of 256 MiB" in r.limit_exceeded
    assert "[sandbox: the sandbox reached its memory limit" in r.stderr


# 64 children that stay until the parent's first refused fork (or the 64th) and are then
# killed: the count reaches the limit however slowly they start, where children that ended
# by themselves after a second could leave room on a loaded machine.
FORKS = """\
import os, signal
kids = []
try:
    for _ in range(64):
        pid = os.fork()
        if pid == 0:
            while True:
                signal.pause()
        kids.append(pid)
except OSError as exc:
    print("refused:", exc)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
"""


@needs_cgroup
def test_process_limit_covers_the_whole_sandbox(ws: Path) -> None:
    (ws / "forks.py").write_text(FORKS)
    with BwrapSandbox(ws, SandboxLimits(max_processes=32)) as sb:
        r = sb.exec("python3 forks.py", timeout_s=60)
    assert r.limit_exceeded is not None and "limit of 32 processes" in r.limit_exceeded


# --- workspace size -----------------------------------------------------------------------


def test_workspace_over_its_limit_is_reported_after_the_command(ws: Path) -> None:
    with BwrapSandbox(ws, SandboxLimits(workspace_bytes=2 * MIB)) as sb:
        r = sb.exec("head -c 3M /dev/urandom > blob && echo wrote", timeout_s=30)
        assert r.exit_code == 0 and r.stdout == "wrote\n"
        assert r.limit_exceeded is not None
        assert "over its 2.0 MiB limit" in r.limit_exceeded
        assert "delete files" in r.stderr
        again = sb.exec("rm blob && echo removed", timeout_s=30)  # the way out still works
        assert again.exit_code == 0 and again.limit_exceeded is None
        assert sb.check_workspace() is None
        (ws / "host-side.bin").write_bytes(os.urandom(3 * MIB))  # as the file tools write
        assert "over its 2.0 MiB limit" in (sb.check_workspace() or "")


def test_a_command_filling_the_workspace_is_stopped_while_it_runs(ws: Path) -> None:
    limits = SandboxLimits(workspace_bytes=8 * MIB)
    with BwrapSandbox(ws, limits) as sb:
        started = time.monotonic()
        r = sb.exec(
            "i=0; while :; do head -c 1M /dev/zero > f$i; i=$((i+1)); sleep 0.01; done",
            timeout_s=60,
        )
    assert time.monotonic() - started < 20
    assert not r.timed_out and r.exit_code == 137
    assert r.limit_exceeded is not None and "the command was stopped" in r.limit_exceeded
    assert sum(f.stat().st_size for f in ws.iterdir()) < 64 * MIB


def test_too_many_files_is_a_workspace_limit_too(ws: Path) -> None:
    with BwrapSandbox(ws, SandboxLimits(workspace_files=100)) as sb:
        r = sb.exec("mkdir d && cd d && touch $(seq 1 300)", timeout_s=30)
    assert r.limit_exceeded is not None and "over its limit of 100" in r.limit_exceeded


def test_concurrent_commands_share_one_sandbox(sandbox: BwrapSandbox) -> None:
    results: list[int] = []

    def run() -> None:
        results.append(sandbox.exec("sleep 0.3; echo ok", timeout_s=30).exit_code)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [0, 0, 0, 0]
