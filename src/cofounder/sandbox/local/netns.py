"""Network mode `none`, held for the sandbox's lifetime: one namespace with only `lo`.

Every command of a sandbox runs in the same namespace, so a dev server started by one command
answers `curl localhost:PORT` from the next, and the preview forward and the screenshot
browser can reach it. Nothing leaves the namespace: it has no interface but loopback.

A tiny holder process (`unshare --net`) is the namespace's resident; it reads a pipe whose
write end only this process holds, so it exits when we close the pipe or when this process
dies for any reason, and the namespace goes with it.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from typing import Literal

from cofounder.sandbox.protocol import SandboxError

START_TIMEOUT_S = 10.0
# A namespace's resident: says it is up, then lives until its stdin (our pipe) closes.
HOLDER_SCRIPT = "echo ready; exec >/dev/null 2>&1; read -r _ || true"


def await_ready_line(
    fd: int, timeout_s: float = START_TIMEOUT_S
) -> Literal["ready", "eof", "timeout"]:
    """Wait for the holder's first line on `fd`: "ready", or why it never came."""
    deadline = time.monotonic() + timeout_s
    line = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            wait = deadline - time.monotonic()
            if wait <= 0 or not sel.select(timeout=wait):
                return "timeout"
            chunk = os.read(fd, 64)
            if not chunk:
                return "eof"
            line += chunk
    return "ready"


class IsolatedNetwork:
    """A network namespace with loopback up and nothing else.

    Needs root (creating a network namespace outside a user namespace). Raises SandboxError
    when it cannot be set up.
    """

    def __init__(self, *, unshare: str, ip: str, nsenter: str) -> None:
        if os.geteuid() != 0:
            raise SandboxError(
                "a persistent sandbox network (for background servers and the preview) needs "
                "the worker to run as root"
            )
        read_end, self._keepalive = os.pipe()
        try:
            self._holder = subprocess.Popen(
                [unshare, "--net", "--", "/bin/sh", "-c", HOLDER_SCRIPT],
                stdin=read_end,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
                env={},
            )
        except OSError as exc:
            os.close(self._keepalive)
            raise SandboxError(f"could not start the network holder ({unshare}): {exc}") from exc
        finally:
            os.close(read_end)
        try:
            self._await_ready()
            self.holder_pid = self._holder.pid
            self.netns_path = f"/proc/{self.holder_pid}/ns/net"
            done = subprocess.run(
                [nsenter, f"--net={self.netns_path}", "--", ip, "link", "set", "lo", "up"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
                env={},
            )
            if done.returncode != 0:
                raise SandboxError(f"could not bring up loopback: {done.stderr.strip()}")
        except BaseException:
            self.close()
            raise

    def _await_ready(self) -> None:
        assert self._holder.stdout is not None
        state = await_ready_line(self._holder.stdout.fileno())
        if state == "timeout":
            raise SandboxError("the network holder did not start in time")
        if state == "eof":
            err = self._holder.stderr.read() if self._holder.stderr else b""
            raise SandboxError(
                "could not create a network namespace: "
                f"{err.decode(errors='replace').strip() or 'unshare exited'}"
            )
        self._holder.stdout.close()

    def alive(self) -> bool:
        return self._holder.poll() is None

    def ensure_alive(self) -> None:
        if not self.alive():
            raise SandboxError(
                f"the sandbox's network holder exited unexpectedly ({self._holder.returncode})"
            )

    def close(self) -> None:
        """End the holder (and with it the namespace); safe to call more than once."""
        if self._keepalive >= 0:
            with contextlib.suppress(OSError):
                os.close(self._keepalive)
            self._keepalive = -1
        if self._holder.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._holder.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._holder.wait(timeout=5)
        for stream in (self._holder.stdout, self._holder.stderr):
            if stream is not None:
                stream.close()
