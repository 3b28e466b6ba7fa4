"""The security battery: hostile commands, each failing or contained precisely.

Every case runs in a fresh BwrapSandbox next to things it must not reach (another session's
workspace, a data dir, the repository, a host loopback server, a host process), asserts how it
was stopped, and then checks that the host is still healthy and nothing of the sandbox is left.
Network cases that need an "outside" use the test-owned namespaces of sandbox_netns_rig; the
hostile inputs to the file tools are in test_sandbox_security_battery_tools. SECCOMP_CASES
attack through syscalls the seccomp filter denies (see test_sandbox_seccomp for every one).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sandbox_battery_support import (
    ENV_SECRET,
    Host,
    assert_host_healthy,
    exec_that_gets_going,
    host_pids_with,
)
from sandbox_netns_rig import A_ADDR, A_PORT, A_SECRET, B_ADDR, B_PORT, METADATA, PRIVATE, Rig
from sandbox_netns_rig import probe_command as probe
from syscall_probe_support import number, one_call
from syscall_probe_support import probe_command as syscall_probe

from cofounder.sandbox import (
    BwrapSandbox,
    ExecResult,
    SandboxLimits,
    parse_network_mode,
    probe_active_limits,
)
from cofounder.sandbox.limits import MIB

REPO = Path(__file__).resolve().parents[3]
ACTIVE = probe_active_limits()
HAS_CGROUP = ACTIVE.cgroup_version is not None and len(ACTIVE.cgroup_controllers) == 2


# --- hostile commands -------------------------------------------------------------------------
# Commands are templates over host_vars(); so are the paths the checks look for.

Check = Callable[[ExecResult, Host], None]


def host_vars(h: Host) -> dict[str, object]:
    return {
        "repo": REPO, "data": h.data_dir, "sibling": h.sibling, "sibling_name": h.sibling.name,
        "tmp_target": h.host_tmp_target, "pid": h.sleeper.pid, "port": h.server.port,
        "mark": h.mark,
    }  # fmt: skip


@dataclass(frozen=True)
class Case:
    id: str
    command: str
    check: Check
    limits: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 30
    network: str = "none"
    needs_cgroup: bool = False
    # For a timeout meant to stop the command: whether it had got going by then (if not, the
    # machine was too slow to start it in time and it runs again with more time).
    going: Callable[[ExecResult], bool] | None = None


def enoent(*paths: str) -> Check:
    def check(r: ExecResult, h: Host) -> None:
        assert r.exit_code != 0
        for template in paths:
            p = template.format(**host_vars(h))
            assert f"{p}: No such file or directory" in r.stderr or f"'{p}'" in r.stderr, p

    return check


def read_only(count: int) -> Check:
    def check(r: ExecResult, _: Host) -> None:
        assert r.stderr.count("Read-only file system") >= count, r.stderr

    return check


def absent(*needles: str) -> Check:
    def check(r: ExecResult, _: Host) -> None:
        for n in needles:
            assert n not in r.stdout and n not in r.stderr

    return check


def root_listing(r: ExecResult, h: Host) -> None:
    """/workspace/.. is the sandbox's own root: system dirs only, no sibling workspace."""
    listed = set(r.stdout.split())
    assert {"usr", "workspace"} <= listed and h.sibling.name not in listed


def stderr_has(text: str) -> Check:
    def check(r: ExecResult, _: Host) -> None:
        assert text in r.stderr, r.stderr

    return check


def both(*checks: Check) -> Check:
    def check(r: ExecResult, h: Host) -> None:
        for c in checks:
            c(r, h)

    return check


def stdout_is(expected: str) -> Check:
    def check(r: ExecResult, _: Host) -> None:
        assert r.stdout.strip() == expected, (r.stdout, r.stderr)

    return check


def limit_named(text: str) -> Check:
    def check(r: ExecResult, _: Host) -> None:
        assert r.limit_exceeded is not None and text in r.limit_exceeded, r
        assert "[sandbox: " in r.stderr

    return check


def no_loopback_visit(r: ExecResult, h: Host) -> None:
    assert h.server.accepted == 0, "the sandbox reached the host loopback server"
    assert "HOST-LOOPBACK-SECRET" not in r.stdout


def no_device_node(r: ExecResult, h: Host) -> None:
    assert "Operation not permitted" in r.stderr and not (h.ws / "mem").exists()


def mount_refused(r: ExecResult, _: Host) -> None:
    assert r.stdout.strip() in ("rc=1", "rc=32"), r


def namespaces_refused(r: ExecResult, _: Host) -> None:
    assert r.stdout.strip() == "end" and r.stderr.count("unshare failed") == 2, r


def host_pid_invisible(r: ExecResult, _: Host) -> None:
    missing, count = r.stdout.split()
    assert missing == "1" and int(count) < 10


def setuid_dropped(r: ExecResult, h: Host) -> None:
    assert "uid=0" not in r.stdout and "euid=0" not in r.stdout
    assert r.stdout.split()[-1] == "1000"
    assert not os.stat(h.ws / "suid").st_mode & (stat.S_ISUID | stat.S_ISGID)


def file_capped(r: ExecResult, h: Host) -> None:
    assert r.exit_code == 128 + 25  # SIGXFSZ
    assert (h.ws / "big").stat().st_size <= 4 * MIB


def cpu_stopped(r: ExecResult, _: Host) -> None:
    assert not r.timed_out and r.exit_code in (128 + 9, 128 + 24)


def bounded_output(r: ExecResult, _: Host) -> None:
    assert r.timed_out and r.truncated
    assert len(r.stdout) < 70 * 1024


def daemon_gone(suffix: str) -> Check:
    def check(r: ExecResult, h: Host) -> None:
        assert r.exit_code == 0 and "started" in r.stdout
        # at once: exec returns after the namespace is empty
        assert host_pids_with(h.mark + suffix) == []

    return check


PTRACE = (
    "python3 -c 'import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); "
    "rc = libc.ptrace(16, int(sys.argv[1]), 0, 0); "
    "print(rc, os.strerror(ctypes.get_errno()))' {pid}"
)
DOUBLE_FORK = (
    "python3 -c 'import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
    '        os.execvp("sleep", ["sleep", "{mark}2"])\n    os._exit(0)\ntime.sleep(0.3)\'; '
    "echo started"
)
MEMORY_BOMB = "python3 -c 'x = []\nwhile True: x.append(b\"y\" * 2**20)'"
OPEN_FILES = "python3 -c 'fs = [open(\"/dev/null\") for _ in range(500)]'"
SEE_PROCESSES = "ls /proc/{pid} 2>&1 | grep -c 'No such'; ls /proc | grep -c '^[0-9]'"
FILL_WORKSPACE = "i=0; while :; do head -c 1M /dev/zero > f$i; i=$((i+1)); done"
SETUID = (
    "su -c id root </dev/null; mount -t proc p /proc; "
    "cp /usr/bin/id suid && chmod u+s,g+s suid && ./suid -u"
)


def syscall(case_id: str, name: str, *args: int) -> Case:
    """An attack through one syscall the seccomp filter denies: it must answer EPERM."""
    template = one_call(name, *args).replace("{", "{{").replace("}", "}}")
    return Case(case_id, template, stdout_is("EPERM"))


def killed_by_seccomp(r: ExecResult, _: Host) -> None:
    assert r.exit_code == 128 + 31 and r.stdout == "", r  # SIGSYS


X32_GETPID = syscall_probe([("x32", (number("getpid") or 0) | 0x40000000, [])])
REBOOT = (0xFEE1DEAD, 672274793, 0x01234567)  # LINUX_REBOOT_CMD_RESTART
SECCOMP_CASES = [
    syscall("load-kernel-module", "finit_module", 0, 0, 0),
    syscall("replace-the-kernel", "kexec_load", 0, 0, 0, 0),
    syscall("load-bpf-program", "bpf", 5, 0, 0),  # BPF_PROG_LOAD
    syscall("perf-events", "perf_event_open", 0, 0, 0, 0, 0),
    syscall("userfaultfd", "userfaultfd", 0),
    syscall("read-kernel-keyring", "keyctl", 0, 0, 0),
    syscall("io-uring", "io_uring_setup", 8, 0),
    syscall("open-by-handle-shocker", "open_by_handle_at", 0, 0, 0),
    syscall("set-the-clock-even-to-nothing", "settimeofday", 0, 0),  # a no-op without the filter
    syscall("disable-aslr", "personality", 0x0040000),
    syscall("clone-new-user-namespace", "clone", 0x10000000 | 17),
    syscall("join-a-namespace", "setns", 0, 0),
    syscall("new-mount-api", "fsopen", 0, 0),
    syscall("reboot", "reboot", *REBOOT),
    syscall("kernel-log", "syslog", 3, 0, 0),  # SYSLOG_ACTION_READ_ALL
    Case("x32-abi-dodges-the-filter", X32_GETPID.replace("{", "{{").replace("}", "}}"),
         killed_by_seccomp),
]  # fmt: skip

CASES = [
    Case("read-etc-shadow", "cat /etc/shadow", both(enoent("/etc/shadow"), absent("root:"))),
    Case("read-repository", "cat {repo}/pyproject.toml; ls {repo}/src",
         both(enoent("{repo}/pyproject.toml", "{repo}/src"), absent("[project]"))),
    Case("read-data-dir", "cat {data}/cofounder.sqlite",
         both(enoent("{data}/cofounder.sqlite"), absent("DATA-SECRET"))),
    Case("read-other-session-workspace", "cat {sibling}/secret.txt",
         both(enoent("{sibling}/secret.txt"), absent("SIBLING-SECRET"))),
    Case("dotdot-out-of-workspace", "ls -a /workspace/..; cat ../{sibling_name}/secret.txt",
         both(enoent("../{sibling_name}/secret.txt"), absent("SIBLING-SECRET"), root_listing)),
    Case("read-host-home", "ls /root /home", enoent("/root", "/home")),
    Case("read-host-env-via-proc", "cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'",
         absent(ENV_SECRET, "COFOUNDER_BATTERY")),
    Case("write-usr", "touch /usr/bin/cf-evil", read_only(1)),
    Case("write-etc", "echo evil >> /etc/passwd; mkdir /etc/cron.d", read_only(2)),
    Case("write-root", "touch /evil; mkdir /opt", read_only(2)),
    # Lands in the sandbox's own /tmp; the host file never appears (checked after each case).
    Case("write-host-tmp", "echo pwned > {tmp_target} && echo private", stdout_is("private")),
    Case("write-other-session-workspace", "echo pwned > {sibling}/secret.txt",
         enoent("{sibling}/secret.txt")),
    Case("sysctl-core-pattern", "echo '|/workspace/x' > /proc/sys/kernel/core_pattern",
         read_only(1)),
    Case("sys-write", "echo 1 > /sys/kernel/mm/ksm/run", enoent("/sys/kernel/mm/ksm/run")),
    Case("raw-devices", "cat /dev/mem; cat /dev/sda; cat /dev/vda; mknod mem c 1 1",
         both(enoent("/dev/mem", "/dev/sda", "/dev/vda"), no_device_node)),
    Case("mount", "mount -t tmpfs none /tmp; echo rc=$?", mount_refused),
    Case("new-namespaces", "unshare --user --map-root-user id; unshare --net true; echo end",
         namespaces_refused),
    Case("ptrace-host-process", PTRACE, stdout_is("-1 Operation not permitted")),  # seccomp
    Case("kill-host-process", "kill -9 {pid}", stderr_has("No such process")),
    Case("see-host-processes", SEE_PROCESSES, host_pid_invisible),
    Case("setuid-binaries", SETUID, setuid_dropped),
    Case("host-loopback-server", probe("127.0.0.1", "{port}"),
         both(stdout_is("ERR ECONNREFUSED"), no_loopback_visit)),
    Case("host-loopback-server-egress", probe("127.0.0.1", "{port}"),
         both(stdout_is("ERR ECONNREFUSED"), no_loopback_visit), network="egress"),
    Case("metadata-address-no-network", probe(METADATA, 80), stdout_is("ERR ENETUNREACH")),
    Case("fork-bomb", ":(){{ :|:& }};:; sleep 3", limit_named("processes"),
         limits={"max_processes": 64}, timeout_s=8, needs_cgroup=True),
    Case("memory-bomb", MEMORY_BOMB, limit_named("memory limit"),
         limits={"memory_bytes": 256 * MIB}, needs_cgroup=True),
    Case("fill-tmp", "head -c 64M /dev/zero > /tmp/fill", stderr_has("No space left on device"),
         limits={"tmp_size_bytes": 8 * MIB}),
    Case("fill-workspace", FILL_WORKSPACE, limit_named("the command was stopped"),
         limits={"workspace_bytes": 16 * MIB}),
    Case("one-huge-file", "head -c 64M /dev/zero > big", file_capped,
         limits={"file_size_bytes": 4 * MIB}),
    Case("endless-output", "yes", bounded_output, timeout_s=2, going=lambda r: r.stdout != ""),
    Case("cpu-hog", "while :; do :; done", cpu_stopped, limits={"cpu_seconds": 1}),
    Case("too-many-open-files", OPEN_FILES, stderr_has("Too many open files"),
         limits={"open_files": 64}),
    Case("daemon-setsid-nohup", "setsid nohup sleep {mark}1 >/dev/null 2>&1 & echo started",
         daemon_gone("1")),
    Case("daemon-double-fork", DOUBLE_FORK, daemon_gone("2")),
    *SECCOMP_CASES,
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_command_is_contained(case: Case, host: Host) -> None:
    if case.needs_cgroup and not HAS_CGROUP:
        pytest.skip(f"needs a memory+pids cgroup: {ACTIVE.cgroup_note}")
    if case.network == "egress" and not _egress_ok():
        pytest.skip("network mode egress needs root, pasta (passt) and iproute2")
    limits = SandboxLimits(**case.limits)
    sandbox = BwrapSandbox(host.ws, limits, network=parse_network_mode(case.network))
    try:
        command = case.command.format(**host_vars(host))
        if case.going is None:
            result = sandbox.exec(command, timeout_s=case.timeout_s)
        else:
            result = exec_that_gets_going(sandbox, command, case.timeout_s, case.going)
        case.check(result, host)
    finally:
        sandbox.close()
    assert_host_healthy(host, sandbox)


def _egress_ok() -> bool:
    from cofounder.sandbox import egress_available

    return egress_available()


# --- egress: the outside is a test-owned namespace pair ------------------------------------------

EGRESS_CASES = {
    "metadata-address": (probe(METADATA, B_PORT), METADATA, "ERR EACCES"),
    "private-range-host": (probe(PRIVATE, B_PORT), PRIVATE, "ERR EACCES"),
    "host-gateway": (probe(B_ADDR, B_PORT), B_ADDR, "ERR EACCES"),
    "host-own-address-service": (probe(A_ADDR, A_PORT), None, "ERR ECONNREFUSED"),
    "host-loopback-service": (probe("127.0.0.1", A_PORT), None, "ERR ECONNREFUSED"),
}


@pytest.fixture(scope="module")
def egress_report(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    commands = {name: cmd for name, (cmd, _, _) in EGRESS_CASES.items()}
    ws = tmp_path_factory.mktemp("battery-egress")
    return rig.run_worker({"workspace": str(ws), "commands": commands})


@pytest.mark.parametrize("name", list(EGRESS_CASES))
def test_hostile_egress_is_contained(rig: Rig, egress_report: dict[str, Any], name: str) -> None:
    _, target, expected = EGRESS_CASES[name]
    if target is not None:  # the target is real: A itself reaches it
        assert rig.host_can_reach(target, B_PORT) == f"hello from {target}"
    assert egress_report["results"][name]["stdout"].strip() == expected
    assert A_SECRET not in str(egress_report["results"])
    assert egress_report["alive_after_close"] == []


def test_battery_is_big_enough() -> None:
    assert len(CASES) + len(EGRESS_CASES) >= 40  # plus the tool cases in the _tools module
    assert len(SECCOMP_CASES) >= 15
    assert sys.platform.startswith("linux")
