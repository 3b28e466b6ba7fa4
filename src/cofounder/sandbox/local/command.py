"""The command line of one sandboxed command: join the cgroup, enter the network, rlimits, bwrap.

Each layer execs the next, so they cost one short-lived process in all: `sh` writes its own pid
to the sandbox's `cgroup.procs` files and execs `nsenter` (egress only), which execs `prlimit`,
which execs `bwrap`. Everything bwrap then starts is inside the cgroup from birth.

Inside, pid 1 is `SANDBOX_INIT` (bwrap's `--as-pid-1`), not bwrap's own reaper: bwrap exits as
soon as its reaper reports the command's status, leaving the reaper behind as a defunct
`[bwrap]` for the host's init, and its command line showed every bwrap argument (host paths
included) in `/proc/1/cmdline`. Our init is bwrap's direct child, so bwrap waits for it, and
the kernel reports it dead only once everything else in the namespace is gone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cofounder.sandbox.limits import MIB, SandboxLimits
from cofounder.sandbox.local.seccomp import program_fd

SANDBOX_WORKSPACE = "/workspace"
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_UID = 1000
RUN_SIZE_BYTES = 16 * MIB
CGROUP_JOIN_EXIT = 125

# Small synthetic /etc files so `whoami`, `localhost` and tools that look up the user work.
ETC_FILES: dict[str, bytes] = {
    "/etc/passwd": (
        b"root:x:0:0:root:/root:/usr/sbin/nologin\n"
        b"sandbox:x:1000:1000:sandbox:/workspace:/bin/bash\n"
        b"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "/etc/group": b"root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n",
    "/etc/hosts": b"127.0.0.1 localhost sandbox\n::1 ip6-localhost ip6-loopback\n",
}

# Host /etc entries that programs need to run (TLS roots, loader cache, name service config).
ETC_RO_BINDS = (
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ld.so.cache",
    "/etc/nsswitch.conf",
)
# The sandbox's clock reads UTC whatever the host's zone (a bind of the host's /etc/localtime
# would name the host's zone file in /proc/self/mountinfo). A link into /usr, already there.
SANDBOX_LOCALTIME = "/usr/share/zoneinfo/Etc/UTC"

# The sandbox's pid 1: runs the command as its child and waits, reaping whatever is orphaned
# meanwhile (bash's wait takes any child). Its own stderr goes to /dev/null so that its
# "Killed" job reports do not add to the command's output; the command keeps the real one.
SANDBOX_INIT = 'exec 3>&2 2>/dev/null; "$@" 2>&3 3>&-; exit $?'

# "$1" is how many cgroup.procs files follow; writing 0 moves the writer itself.
_JOIN_SCRIPT = (
    'unset PWD OLDPWD; n=$1; shift; while [ "$n" -gt 0 ]; do '
    f'echo 0 > "$1" || exit {CGROUP_JOIN_EXIT}; shift; n=$((n - 1)); done; exec "$@"'
)


def data_files(files: Mapping[str, bytes]) -> tuple[list[str], list[int]]:
    """`--ro-bind-data FD DEST` arguments for `files`, and the pipe fds bwrap must inherit."""
    args: list[str] = []
    fds: list[int] = []
    try:
        for dest, content in files.items():
            r, w = os.pipe()
            fds.append(r)
            try:
                os.write(w, content)  # far below the pipe buffer: this never blocks
            finally:
                os.close(w)
            args += ["--ro-bind-data", str(r), dest]
    except BaseException:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise
    return args, fds


@dataclass(frozen=True)
class Layers:
    """How this sandbox's commands are wrapped (fixed for the sandbox's lifetime)."""

    bwrap: str
    prlimit: str
    cgroup_procs: tuple[Path, ...] = ()
    netns: str | None = None  # a network namespace to run in (egress), else a fresh one
    nsenter: str | None = None
    disable_userns: bool = True
    extra_etc: Mapping[str, bytes] = field(default_factory=dict)
    seccomp: bytes = b""  # the BPF program every sandboxed process runs under (see `seccomp`)


def run_fds(layers: Layers) -> tuple[list[str], list[int]]:
    """bwrap arguments reading one run's data from fds (the /etc files, the seccomp filter)
    and those fds, which bwrap must inherit and the caller closes once it started."""
    args, fds = data_files({**ETC_FILES, **layers.extra_etc})
    try:
        if layers.seccomp:
            fds.append(program_fd(layers.seccomp))
            args += ["--seccomp", str(fds[-1])]
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return args, fds


def build_argv(
    layers: Layers,
    limits: SandboxLimits,
    workspace: Path,
    command: str,
    *,
    data_args: Sequence[str],
    status_fd: int,
) -> list[str]:
    argv: list[str] = []
    if layers.cgroup_procs:
        argv += ["/bin/sh", "-c", _JOIN_SCRIPT, "sh", str(len(layers.cgroup_procs))]
        argv += [str(p) for p in layers.cgroup_procs]
    if layers.netns is not None:
        if layers.nsenter is None:
            raise ValueError("a network namespace needs nsenter")
        argv += [layers.nsenter, f"--net={layers.netns}", "--"]
    argv += [
        layers.prlimit,
        f"--cpu={limits.cpu_seconds}",
        f"--as={limits.address_space_bytes}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        "--",
    ]
    argv += _bwrap_args(layers, limits, workspace, data_args, status_fd)
    argv += ["--", "/bin/bash", "-c", SANDBOX_INIT, "sandbox-init", "/bin/bash", "-c", command]
    return argv


def _bwrap_args(
    layers: Layers,
    limits: SandboxLimits,
    workspace: Path,
    data_args: Sequence[str],
    status_fd: int,
) -> list[str]:
    argv = [layers.bwrap, "--unshare-all", "--unshare-user"]
    if layers.netns is not None:
        argv.append("--share-net")  # already inside the egress namespace
    if layers.disable_userns:
        argv.append("--disable-userns")
    argv += [
        "--die-with-parent",
        "--as-pid-1",
        "--new-session",
        "--cap-drop", "ALL",
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_UID),
        "--hostname", "sandbox",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin",
        "--symlink", "usr/sbin", "/sbin",
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--symlink", SANDBOX_LOCALTIME, "/etc/localtime",
    ]  # fmt: skip
    for path in ETC_RO_BINDS:
        argv += ["--ro-bind-try", path, path]
    argv += data_args
    # The sandbox uid maps to the uid that runs bwrap. When that is root, files under /proc
    # that only root may write (kernel.core_pattern, ...) would be writable from inside:
    # bwrap's own cover for /proc/sys only checks the directory. So /proc is read-only.
    argv += [
        "--proc", "/proc",
        "--remount-ro", "/proc",
        "--dev", "/dev",
        "--size", str(limits.shm_size_bytes), "--tmpfs", "/dev/shm",
        "--remount-ro", "/dev",  # its tmpfs has no size limit
        "--size", str(limits.tmp_size_bytes), "--tmpfs", "/tmp",
        "--size", str(RUN_SIZE_BYTES), "--tmpfs", "/run",
        "--bind", str(workspace), SANDBOX_WORKSPACE,
        "--remount-ro", "/",  # bwrap's root is an unsized tmpfs the sandbox user owns
        "--chdir", SANDBOX_WORKSPACE,
        "--json-status-fd", str(status_fd),
        "--clearenv",
        "--setenv", "PATH", SANDBOX_PATH,
        "--setenv", "HOME", SANDBOX_WORKSPACE,
        "--setenv", "LANG", "C.UTF-8",
        "--setenv", "TERM", "dumb",
        "--setenv", "USER", "sandbox",
        "--setenv", "TMPDIR", "/tmp",
    ]  # fmt: skip
    return argv
