"""The seccomp filter, against the real kernel, in the real sandbox.

Without capabilities the kernel itself answers EPERM to many of the denied calls, so an EPERM
alone does not prove the filter did it. Each family is therefore probed twice: under the
production filter (EPERM) and under the same rules compiled with an errno nothing else
returns (ENOTRECOVERABLE), which only the filter can have said.
"""

from __future__ import annotations

import dataclasses
import errno
import shlex
import time
from pathlib import Path

import pytest
from syscall_probe_support import Call, number, parse, plain_calls, probe_command

from cofounder.sandbox import BwrapSandbox
from cofounder.sandbox.local.seccomp import (
    CLONE_NAMESPACES,
    DENIED,
    UNSHARE_NAMESPACES,
    Denial,
    build_program,
    filter_program,
)

MARK = errno.errorcode[errno.ENOTRECOVERABLE]
SIGCHLD = 17
CLONE_FS = 0x200

# personality(2) arguments: which the filter lets through, which it refuses.
PERSONALITY = {
    "query": (0xFFFFFFFF, True),
    "linux32": (0x0008, True),
    "uname26": (0x20000, True),
    "both": (0x20008, True),
    "default": (0x0, True),
    "no-aslr": (0x0040000, False),
    "read-implies-exec": (0x0400000, False),
    "mmap-page-zero": (0x0100000, False),
    "no-aslr-top-bit": (0x80040000, False),
    "no-aslr-upper-half": (0x1_00040000, False),
    "top-bit-alone": (0x80000000, False),
    "almost-query": (0xFFFFFFFE, False),
}


FORK_THREAD_SPAWN = """
import os, subprocess, threading
t = threading.Thread(target=print, args=("thread",)); t.start(); t.join()
pid = os.fork()
if pid == 0: os._exit(7)
print(os.waitpid(pid, 0)[1] >> 8)
print(subprocess.run(["echo", "spawned"], capture_output=True, text=True).stdout)
"""


def conditional_calls() -> list[Call]:
    clone, unshare, persona = number("clone"), number("unshare"), number("personality")
    assert clone is not None and unshare is not None and persona is not None
    calls: list[Call] = [(f"clone:{f:#x}", clone, [f | SIGCHLD]) for f in CLONE_NAMESPACES]
    calls += [(f"unshare:{f:#x}", unshare, [f]) for f in UNSHARE_NAMESPACES]
    calls.append(("unshare:fs", unshare, [CLONE_FS]))
    calls += [(f"personality:{k}", persona, [v]) for k, (v, _) in PERSONALITY.items()]
    calls.append(("personality:restore", persona, [0]))
    clone3 = number("clone3")
    if clone3 is not None:
        calls.append(("clone3", clone3, [0, 0]))
    return calls


def every_denied() -> list[str]:
    return [name for d in DENIED for name in d.syscalls]


def run_probe(ws: Path, refusal: int | None) -> dict[str, str]:
    """Every probe in one sandbox, under the production filter or one refusing with `refusal`."""
    with BwrapSandbox(ws) as sb:
        if refusal is not None:
            sb._layers = dataclasses.replace(sb._layers, seccomp=build_program(refusal))
        r = sb.exec(probe_command(plain_calls(every_denied()) + conditional_calls()), timeout_s=60)
    assert r.exit_code == 0, r.stderr
    return parse(r.stdout)


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return run_probe(tmp_path_factory.mktemp("seccomp-marked"), errno.ENOTRECOVERABLE)


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return run_probe(tmp_path_factory.mktemp("seccomp-prod"), None)


@pytest.mark.parametrize("family", DENIED, ids=[d.family for d in DENIED])
def test_each_denied_family_is_refused_by_the_filter(
    family: Denial, marked: dict[str, str], production: dict[str, str]
) -> None:
    present = [n for n in family.syscalls if number(n) is not None]
    assert present, f"no syscall of {family.family} exists here"
    assert {n: marked[n] for n in present} == dict.fromkeys(present, MARK)
    assert {n: production[n] for n in present} == dict.fromkeys(present, "EPERM")


@pytest.mark.parametrize("flag", CLONE_NAMESPACES, ids=lambda f: f"{f:#x}")
def test_clone_into_a_new_namespace_is_refused(flag: int, marked: dict[str, str]) -> None:
    assert marked[f"clone:{flag:#x}"] == MARK


@pytest.mark.parametrize("flag", UNSHARE_NAMESPACES, ids=lambda f: f"{f:#x}")
def test_unshare_of_a_namespace_is_refused(
    flag: int, marked: dict[str, str], production: dict[str, str]
) -> None:
    assert marked[f"unshare:{flag:#x}"] == MARK
    assert production[f"unshare:{flag:#x}"] == "EPERM"


def test_unshare_without_a_namespace_and_plain_clone_still_work(ws: Path) -> None:
    with BwrapSandbox(ws) as sb:
        r = sb.exec(
            probe_command([("unshare:fs", number("unshare") or -1, [CLONE_FS])])
            + f" && python3 -c {shlex.quote(FORK_THREAD_SPAWN)}",
            timeout_s=60,
        )
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.split()
    assert lines == ['{"unshare:fs":', '"ok"}', "thread", "7", "spawned"]


def test_clone3_says_enosys_so_the_c_library_falls_back_to_clone(
    production: dict[str, str],
) -> None:
    if number("clone3") is None:
        pytest.skip("this architecture has no clone3")
    assert production["clone3"] == "ENOSYS"


@pytest.mark.parametrize("case", list(PERSONALITY))
def test_personality_keeps_linux_defaults_only(
    case: str, marked: dict[str, str], production: dict[str, str]
) -> None:
    _, allowed = PERSONALITY[case]
    assert marked[f"personality:{case}"] == ("ok" if allowed else MARK)
    assert production[f"personality:{case}"] == ("ok" if allowed else "EPERM")


def test_every_sandboxed_process_runs_in_filter_mode(ws: Path) -> None:
    with BwrapSandbox(ws) as sb:
        r = sb.exec("grep Seccomp /proc/self/status; grep Seccomp: /proc/1/status", timeout_s=30)
        info = sb.start_background("grep Seccomp: /proc/self/status; sleep 30", name="bg")
        try:
            output = _wait_for_output(sb, info.id)
        finally:
            sb.stop_background(info.id)
    assert r.stdout.split() == ["Seccomp:", "2", "Seccomp_filters:", "1", "Seccomp:", "2"]
    assert output.split() == ["Seccomp:", "2"]


def test_a_foreign_abi_syscall_kills_the_process(ws: Path) -> None:
    """x32 numbers (bit 30 set) would dodge rules written for x86_64 numbers."""
    getpid = number("getpid")
    assert getpid is not None
    with BwrapSandbox(ws) as sb:
        r = sb.exec(probe_command([("x32-getpid", getpid | 0x40000000, [])]), timeout_s=30)
    assert r.exit_code == 128 + 31, r  # SIGSYS
    assert r.stdout == ""


def test_the_program_is_built_once_per_process() -> None:
    assert filter_program() is filter_program()
    assert len(filter_program()) % 8 == 0  # struct sock_filter is 8 bytes


def _wait_for_output(sb: BwrapSandbox, process_id: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = sb.background_output(process_id, max_bytes=1000)
        if "Seccomp" in out:
            return out
        time.sleep(0.05)
    return sb.background_output(process_id, max_bytes=1000)
