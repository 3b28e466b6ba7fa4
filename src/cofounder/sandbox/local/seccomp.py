"""The seccomp filter every sandboxed process runs under: kernel entry points a build never needs
are refused with EPERM before the kernel looks at them.

Why: the namespaces hold against everything tried so far, but without a filter every syscall
of the host kernel is reachable from hostile code, and the sandbox uid maps to the worker's
(often root) uid. Docker, Firecracker's jailer and Claude Code's sandbox add one; so do we.
The filter is default-allow with a deny list (a default-deny list would break the next
toolchain that uses a new syscall): `DENIED` names each family and why. Three calls are
refused only in part: `clone` and `unshare` when asked for a new namespace, and `personality`
unless it keeps Linux's default behaviour (or only asks). `clone3` answers ENOSYS instead,
because its flags live in memory a filter cannot read; the C library then falls back to
`clone`, whose flags the filter does see. Syscalls of another ABI (32-bit x86, x32) kill the
process: libseccomp's default for a foreign architecture.

The program is built once per process by libseccomp (through `pyseccomp`, its ctypes
binding) and handed to bubblewrap's `--seccomp FD`, which loads it just before the command
starts, after no_new_privs.
"""

from __future__ import annotations

import errno
import functools
import os
from dataclasses import dataclass
from typing import Any

from cofounder.sandbox.protocol import SandboxError

# The namespace bits of clone(2)'s flags; unshare(2) also takes CLONE_NEWTIME.
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080
CLONE_NAMESPACES = (
    CLONE_NEWNS,
    CLONE_NEWCGROUP,
    CLONE_NEWUTS,
    CLONE_NEWIPC,
    CLONE_NEWUSER,
    CLONE_NEWPID,
    CLONE_NEWNET,
)
UNSHARE_NAMESPACES = (*CLONE_NAMESPACES, CLONE_NEWTIME)

# personality(2): PER_LINUX (0), PER_LINUX32 (0x8), UNAME26 (0x20000) and their combination
# are allowed, as is the query 0xffffffff; any other bit (ADDR_NO_RANDOMIZE,
# READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, ...) weakens the process's memory protections.
PERSONALITY_ALLOWED_BITS = 0x0008 | 0x20000
PERSONALITY_QUERY = 0xFFFFFFFF
_TOP_BIT = 0x80000000


@dataclass(frozen=True)
class Denial:
    """One family of refused syscalls, for the filter, the docs and the tests."""

    family: str
    syscalls: tuple[str, ...]
    why: str


DENIED: tuple[Denial, ...] = (
    Denial(
        "kernel modules",
        ("init_module", "finit_module", "delete_module", "create_module", "query_module",
         "get_kernel_syms"),
        "loading code into the kernel",
    ),
    Denial("kexec", ("kexec_load", "kexec_file_load"), "replacing the running kernel"),
    Denial("bpf", ("bpf",), "programs run by the kernel; a steady source of kernel exploits"),
    Denial("perf", ("perf_event_open",), "kernel profiling; leaks addresses, many CVEs"),
    Denial("userfaultfd", ("userfaultfd",), "stalls kernel code at will, an exploit primitive"),
    Denial("keyring", ("keyctl", "add_key", "request_key"), "the kernel keyring is not namespaced"),
    Denial(
        "tracing other processes",
        ("ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
         "pidfd_getfd"),
        "reading or steering another process (debuggers and strace do not work inside)",
    ),
    Denial(
        "mounts",
        ("mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount",
         "fspick", "move_mount", "open_tree", "mount_setattr"),
        "changing what the sandbox sees of the filesystem",
    ),
    Denial("reboot", ("reboot",), "restarting or halting the machine"),
    Denial("swap", ("swapon", "swapoff"), "the host's swap"),
    Denial(
        "clock setting",
        ("settimeofday", "clock_settime", "clock_settime64", "stime", "adjtimex",
         "clock_adjtime", "clock_adjtime64"),
        "the host's clock is shared by everything on it",
    ),
    Denial(
        "accounting and quotas",
        ("acct", "quotactl", "quotactl_fd", "lookup_dcookie"),
        "host-wide bookkeeping",
    ),
    Denial(
        "file handles",
        ("name_to_handle_at", "open_by_handle_at"),
        "opening files by handle escapes a bind mount (the 'shocker' attack)",
    ),
    Denial("namespaces", ("setns",), "joining or creating namespaces (see also clone, unshare)"),
    Denial(
        "io_uring",
        ("io_uring_setup", "io_uring_enter", "io_uring_register"),
        "bypasses syscall filtering and has a long CVE record; programs fall back to plain I/O",
    ),
    Denial(
        "host administration",
        ("syslog", "sethostname", "setdomainname", "vhangup", "fanotify_init", "iopl",
         "ioperm", "modify_ldt", "vm86", "vm86old", "uselib", "ustat", "sysfs", "_sysctl",
         "nfsservctl"),
        "kernel log, host identity, raw I/O ports and obsolete interfaces",
    ),
)  # fmt: skip


def denied_syscalls() -> tuple[str, ...]:
    """Every syscall refused whatever its arguments, in `DENIED` order."""
    return tuple(name for d in DENIED for name in d.syscalls)


def _binding() -> Any:
    """pyseccomp, loaded on first use: it needs libseccomp's shared library at import."""
    try:
        import pyseccomp
    except (ImportError, RuntimeError, OSError) as exc:
        raise SandboxError(
            f"the sandbox's seccomp filter needs libseccomp ({exc}); "
            "install it with `apt-get install -y libseccomp2`"
        ) from exc
    return pyseccomp


def build_program(refusal: int = errno.EPERM) -> bytes:
    """Compile the filter to a BPF program; `refusal` is the errno denied calls get.

    The tests build it with an unusual errno to tell the filter's refusals from the kernel's
    own EPERM (a process without capabilities gets that from many of these calls anyway).
    """
    sc = _binding()
    deny = sc.ERRNO(refusal)
    flt = sc.SyscallFilter(sc.ALLOW)
    for name in denied_syscalls():
        if sc.resolve_syscall(sc.Arch.NATIVE, name) == -1:
            raise SandboxError(f"libseccomp does not know the syscall {name!r}")
        flt.add_rule(deny, name)  # a syscall this architecture lacks is skipped
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for syscall, flags in (("clone", CLONE_NAMESPACES), ("unshare", UNSHARE_NAMESPACES)):
        for flag in flags:
            flt.add_rule(deny, syscall, sc.Arg(0, sc.MASKED_EQ, flag, flag))
    for bit in (1 << k for k in range(31)):
        # Top bit clear and a bit outside the allowed ones set: not a value we allow.
        if not bit & PERSONALITY_ALLOWED_BITS:
            flt.add_rule(deny, "personality", sc.Arg(0, sc.MASKED_EQ, _TOP_BIT | bit, bit))
        # Top bit set and another bit clear: not the query (all 32 bits set).
        flt.add_rule(deny, "personality", sc.Arg(0, sc.MASKED_EQ, _TOP_BIT | bit, _TOP_BIT))
    fd = os.memfd_create("cofounder-seccomp")
    try:
        with open(fd, "w+b", closefd=False) as out:
            flt.export_bpf(out)
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


@functools.cache
def filter_program() -> bytes:
    """The production filter (EPERM), compiled once per process."""
    return build_program()


def program_fd(program: bytes) -> int:
    """A fresh fd holding `program` at offset 0, for one bubblewrap (`--seccomp FD`).

    One per run: bwrap reads its fd to the end, and an inherited fd shares its offset.
    The caller closes it once bwrap has started.
    """
    fd = os.memfd_create("cofounder-seccomp", os.MFD_CLOEXEC)
    try:
        os.write(fd, program)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
