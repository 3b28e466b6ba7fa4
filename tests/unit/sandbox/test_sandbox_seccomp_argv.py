"""The filter program, how it reaches bubblewrap, and the sandbox's own init in the argv."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pyseccomp

from cofounder.sandbox import SandboxLimits
from cofounder.sandbox.local.capabilities import HARDENING
from cofounder.sandbox.local.command import SANDBOX_INIT, Layers, build_argv, run_fds
from cofounder.sandbox.local.seccomp import DENIED, build_program, denied_syscalls
from cofounder.sandbox.local.teardown import settle


def test_every_denied_name_is_a_syscall_libseccomp_knows() -> None:
    unknown = [n for n in denied_syscalls() if pyseccomp.resolve_syscall(0, n) == -1]
    assert unknown == []
    assert len(set(denied_syscalls())) == len(denied_syscalls())
    assert {"ptrace", "mount", "bpf", "io_uring_setup", "setns"} <= set(denied_syscalls())


def test_the_program_is_whole_bpf_instructions_and_errno_sets_it_apart() -> None:
    eperm, other = build_program(), build_program(131)
    assert len(eperm) % 8 == 0 and len(eperm) == len(other) and eperm != other


def test_run_fds_hand_bwrap_the_program_at_offset_zero_each_time() -> None:
    layers = Layers(bwrap="/usr/bin/bwrap", prlimit="/usr/bin/prlimit", seccomp=b"\x01" * 16)
    for _ in range(2):
        args, fds = run_fds(layers)
        try:
            fd = int(args[args.index("--seccomp") + 1])
            assert fd in fds
            assert os.read(fd, 100) == b"\x01" * 16
        finally:
            for f in fds:
                os.close(f)


def test_without_a_program_no_seccomp_argument() -> None:
    args, fds = run_fds(Layers(bwrap="bwrap", prlimit="prlimit"))
    for f in fds:
        os.close(f)
    assert "--seccomp" not in args


def test_the_command_runs_under_the_sandbox_init_as_pid_1(tmp_path: Path) -> None:
    layers = Layers(bwrap="/usr/bin/bwrap", prlimit="/usr/bin/prlimit")
    argv = build_argv(
        layers, SandboxLimits(), tmp_path, "echo hi", data_args=["--seccomp", "7"], status_fd=5
    )
    assert "--as-pid-1" in argv and argv[argv.index("--seccomp") + 1] == "7"
    tail = argv[argv.index("--") + 1 :]
    assert tail[tail.index("/bin/bash") :] == [
        "/bin/bash", "-c", SANDBOX_INIT, "sandbox-init", "/bin/bash", "-c", "echo hi",
    ]  # fmt: skip


def under_init(command: str) -> subprocess.CompletedProcess[str]:
    argv = ["/bin/bash", "-c", SANDBOX_INIT, "init", "/bin/bash", "-c", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_the_init_passes_the_exit_status_and_keeps_its_own_reports_quiet() -> None:
    done = under_init("echo out; kill -9 $$")
    assert (done.returncode, done.stdout, done.stderr) == (137, "out\n", "")
    done = under_init("echo err >&2; exit 3")
    assert (done.returncode, done.stderr) == (3, "err\n")


def test_settle_leaves_a_reaped_pid_1_alone_and_waits_for_a_lingering_one() -> None:
    """A bwrap that reported the exit code reaped its pid 1: that pid may be someone else's."""
    other = subprocess.Popen(["sleep", "30"])
    try:
        reaped = json.dumps({"child-pid": other.pid}) + json.dumps({"exit-code": 0})
        settle(reaped.encode())
        assert other.poll() is None
        started = time.monotonic()
        settle(json.dumps({"child-pid": other.pid}).encode())  # bwrap was killed first
        assert other.wait(timeout=10) == -9
        assert time.monotonic() - started < 10
    finally:
        other.kill()
        other.wait()


def test_what_is_enforced_names_the_filter() -> None:
    line = next(h for h in HARDENING if h.startswith("seccomp filter"))
    assert all(d.family in line for d in DENIED)
