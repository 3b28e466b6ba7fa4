"""What the security battery aims at, the check that the host survived each case, and a
short-timeout run that does not depend on how fast this machine starts a sandbox."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cofounder.sandbox import BwrapSandbox, ExecResult

ENV_SECRET = "sk-battery-env-secret"
SLOWEST_TIMEOUT_S = 32.0


def exec_that_gets_going(
    sandbox: BwrapSandbox, command: str, timeout_s: float, going: Callable[[ExecResult], bool]
) -> ExecResult:
    """`command` under a short timeout that is meant to stop it, but only once it got going
    (`going` says whether it had): the timeout counts from bubblewrap's start, so on a loaded
    machine it can fire before the command ran at all. Then it runs again with twice the
    time, so what the caller checks is always a timeout that met a running command."""
    while True:
        result = sandbox.exec(command, timeout_s=timeout_s)
        if going(result) or timeout_s >= SLOWEST_TIMEOUT_S:
            return result
        timeout_s *= 2


def unique_sleep() -> str:
    """A number for `sleep` that no other test's processes carry (they run in parallel), so
    the host's processes can be searched for it: 4343.<nine digits>."""
    return f"4343.{uuid.uuid4().int % 10**9:09d}"


class LoopbackServer:
    """A host service on 127.0.0.1 that counts who connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.sendall(b"HOST-LOOPBACK-SECRET\n")
            conn.close()


@dataclass
class Host:
    """What the hostile commands aim at, all created by the test on this machine."""

    ws: Path
    sibling: Path
    data_dir: Path
    outside: Path
    host_tmp_target: Path
    server: LoopbackServer
    sleeper: subprocess.Popen[bytes]
    core_pattern: str
    mark: str = field(default_factory=unique_sleep)  # in the daemons' sleeps, this case's own


@contextlib.contextmanager
def make_host(tmp_path: Path) -> Iterator[Host]:
    """Sibling workspace, data dir, outside dir, loopback server and a host process."""
    ws, sibling, data, outside = (tmp_path / n for n in ("ws", "sibling-ws", "data", "outside"))
    for d in (ws, sibling, data, outside):
        d.mkdir()
    (sibling / "secret.txt").write_text("SIBLING-SECRET\n")
    (data / "cofounder.sqlite").write_text("DATA-SECRET\n")
    (outside / "secret.txt").write_text("HOST-SECRET needle\n")
    (outside / "target.txt").write_text("untouched\n")
    sleeper = subprocess.Popen(["sleep", "600"])
    h = Host(
        ws=ws,
        sibling=sibling,
        data_dir=data,
        outside=outside,
        host_tmp_target=Path("/tmp") / f"cofounder-battery-{os.getpid()}-{tmp_path.name}",
        server=LoopbackServer(),
        sleeper=sleeper,
        core_pattern=Path("/proc/sys/kernel/core_pattern").read_text(),
    )
    try:
        yield h
    finally:
        sleeper.kill()
        sleeper.wait()
        h.server.sock.close()
        h.host_tmp_target.unlink(missing_ok=True)


def host_pids_with(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if token in cmd and "pytest" not in cmd:
                found.append(int(entry))
    return found


def assert_host_healthy(host: Host, sandbox: BwrapSandbox) -> None:
    started = time.monotonic()
    assert subprocess.run(["true"], timeout=10).returncode == 0
    assert time.monotonic() - started < 5, "the host is too slow to start a process"
    assert host.sleeper.poll() is None, "a host process was killed"
    assert "TracerPid:\t0" in Path(f"/proc/{host.sleeper.pid}/status").read_text().splitlines()
    with socket.create_connection(("127.0.0.1", host.server.port), timeout=5) as c:
        assert c.recv(100).startswith(b"HOST-LOOPBACK")
    assert Path("/proc/sys/kernel/core_pattern").read_text() == host.core_pattern
    assert (host.sibling / "secret.txt").read_text() == "SIBLING-SECRET\n"
    assert (host.outside / "target.txt").read_text() == "untouched\n"
    assert not host.host_tmp_target.exists()
    assert not Path("/evil").exists() and not Path("/usr/bin/cf-evil").exists()
    assert host_pids_with(host.mark) == []
    if sandbox._cgroup is not None:
        assert not any(d.exists() for d in sandbox._cgroup.dirs.values())
    if sandbox._egress is not None:
        assert sandbox._egress.pasta_pid not in host_pids_with("pasta")
