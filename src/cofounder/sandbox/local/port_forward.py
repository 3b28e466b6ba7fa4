"""The preview: a port inside a sandbox's network namespace, reachable on HOST 127.0.0.1 only.

The dev server the agent starts listens on 127.0.0.1:PORT inside the sandbox's namespace,
which the founder's browser cannot reach. We bind a socket to the host's 127.0.0.1 here
(sockets keep the namespace they were created in, so it stays a host socket) and hand it to a
small relay (forwarder.py) started with `nsenter --net=` inside the namespace, where its
connects to 127.0.0.1:PORT land on the dev server. Only loopback is bound: nothing on the
network can reach the preview, and the sandbox itself gains no route out.

Binding here rather than in the relay means the port is known, and already accepting, when
the constructor returns; connections that arrive while the relay's Python starts (~60 ms)
wait in the listen backlog, so the URL works at once.

The relay reads a pipe whose write end only this object holds: it exits when we close it or
when this process dies for any reason, even SIGKILL. Note that while it runs the relay keeps
the namespace alive, so close the forward along with the sandbox.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO

from cofounder.sandbox.protocol import SandboxError

# Run by path under -I -S (isolated, no site): stdlib only, ~60 ms to start instead of ~330 ms
# for `-m cofounder.sandbox.local.forwarder`, which imports the whole `cofounder.sandbox` package.
_FORWARDER = str(Path(__file__).with_name("forwarder.py"))
_STDERR_TAIL = 2000


class PortInUse(SandboxError):
    """The requested host port is taken; retry with host_port=0 for any free one."""


class PortForward:
    """http://127.0.0.1:HOST_PORT on the host, relayed to 127.0.0.1:target_port in a namespace.

    `netns_path` is the namespace's `/proc/PID/ns/net`; `nsenter` its binary's path. Needs the
    privilege to enter that namespace (root). `host_port=0` picks a free port. Raises
    PortInUse when a requested port is taken, SandboxError when the relay cannot start,
    ValueError for a port out of range.
    """

    def __init__(
        self, netns_path: str, target_port: int, *, nsenter: str, host_port: int = 0
    ) -> None:
        for name, value, low in (("target_port", target_port, 1), ("host_port", host_port, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
                raise ValueError(f"{name} must be an integer in {low}..65535, got {value!r}")
        if not os.path.lexists(netns_path):  # lexists: no access is nsenter's error to report
            raise SandboxError(f"the sandbox's network namespace is gone ({netns_path})")
        self.target_port = target_port
        self._keepalive = -1
        # The relay's stderr, for error messages; held (and closed) with this object.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._host_port = _bind_loopback(listener, host_port)
            read_end, self._keepalive = os.pipe()
            try:
                self._proc = subprocess.Popen(
                    [
                        nsenter,
                        f"--net={netns_path}",
                        "--",
                        sys.executable,
                        "-I",
                        "-S",
                        _FORWARDER,
                        "--listen-fd",
                        str(listener.fileno()),
                        "--port",
                        str(target_port),
                    ],
                    pass_fds=(listener.fileno(),),
                    stdin=read_end,
                    stdout=subprocess.DEVNULL,
                    stderr=self._stderr,
                    start_new_session=True,
                    close_fds=True,
                    cwd="/",
                    env={},
                )
            except OSError as exc:
                raise SandboxError(f"could not start the preview relay ({nsenter}): {exc}") from exc
            finally:
                os.close(read_end)
        except BaseException:
            if self._keepalive >= 0:
                os.close(self._keepalive)
                self._keepalive = -1
            self._stderr.close()
            raise
        finally:
            # Popen returns only once the child has exec'd, so it holds its own copy of the
            # listening socket (queued connections live on the socket, not on our fd). Keeping
            # ours would make a dead relay look alive: browsers would connect into a backlog
            # nobody accepts and hang. Closed, the port lives exactly as long as the relay, and
            # a dead relay means "connection refused".
            listener.close()

    @property
    def host_port(self) -> int:
        return self._host_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._host_port}"

    @property
    def pid(self) -> int:
        """The relay's process id (also its process group's)."""
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def ensure_alive(self) -> None:
        """SandboxError, with the relay's last stderr lines, when it has exited."""
        if self.alive():
            return
        raise SandboxError(
            f"the preview forward to port {self.target_port} exited "
            f"({self._proc.returncode}): {self._stderr_tail() or 'no output'}"
        )

    def close(self) -> None:
        """Stop the relay and free the host port; safe to call more than once."""
        if self._keepalive >= 0:
            with contextlib.suppress(OSError):
                os.close(self._keepalive)
            self._keepalive = -1
        if self._proc.poll() is None:
            # The pipe's end of file would stop it too, but not before it drains its loop.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        self._stderr.close()

    def _stderr_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - _STDERR_TAIL))
            return self._stderr.read().decode(errors="replace").strip()
        return ""

    def __enter__(self) -> PortForward:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _bind_loopback(sock: socket.socket, port: int) -> int:
    """Bind `sock` to host 127.0.0.1:`port` (0: any free one), listen, return the port."""
    # SO_REUSEADDR only lets us reuse a port whose old connections linger in TIME_WAIT (a
    # previous preview); on Linux it never lets two listeners share a port.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"host port {port} is already in use") from exc
        raise SandboxError(f"could not bind host 127.0.0.1:{port}: {exc}") from exc
    sock.listen(128)
    port_bound: int = sock.getsockname()[1]
    return port_bound
