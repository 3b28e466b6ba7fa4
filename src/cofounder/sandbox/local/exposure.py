"""How a port inside the local sandbox becomes reachable from the host, for the generic
preview (`cofounder.sandbox.preview`): a host-loopback forward (port_forward.py) into the
sandbox's network namespace, a health probe through that forward, the namespace's listening
sockets read from `/proc/PID/net/tcp*`, and screenshots taken from inside the namespace (the
page is untrusted, so its browser reaches what the app reaches, never the host's loopback).
"""

from __future__ import annotations

import http.client
from pathlib import Path

from cofounder.sandbox.local.bwrap import BwrapSandbox
from cofounder.sandbox.local.port_forward import PortForward, PortInUse
from cofounder.sandbox.preview_diagnosis import PROBE_TIMEOUT_S, proc_net_listeners
from cofounder.sandbox.preview_types import BrowserView, Listener, PreviewUnavailable

POLL_S = 0.1  # a probe is a loopback request: cheap enough to ask often
NO_NETWORK_HINT = (
    "previews need a sandbox network that lasts between commands, which "
    "needs the worker to run as root (with iproute2 and util-linux)"
)


def listeners(holder_pid: int) -> list[Listener]:
    """TCP sockets listening in the network namespace of `holder_pid`."""
    lines: list[str] = []
    for name in ("tcp", "tcp6"):
        try:
            lines += Path(f"/proc/{holder_pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
    return proc_net_listeners(lines)


def probe_http(url: str) -> int | None:
    """The HTTP status `url` answers with, or None when nothing answers (yet)."""
    host_port, _, rest = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=PROBE_TIMEOUT_S)
    try:
        conn.request("GET", "/" + rest, headers={"User-Agent": "cofounder-preview-check"})
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


class ForwardedPort:
    """One sandbox port on host 127.0.0.1, through a `PortForward` this object closes."""

    def __init__(self, forward: PortForward, netns_path: str, nsenter: str) -> None:
        self._forward = forward
        self._netns_path = netns_path
        self._nsenter = nsenter

    @property
    def url(self) -> str:
        return self._forward.url

    @property
    def host_port(self) -> int:
        return self._forward.host_port

    def probe(self, path: str) -> int | None:
        return probe_http(self._forward.url + path)

    def view(self, path: str) -> BrowserView:
        """The app's own address inside the namespace, while the forward lives (a dead forward
        means the founder's URL is dead too, so the picture would mislead)."""
        if not self._forward.alive():
            from cofounder.sandbox.screenshot import ScreenshotError

            raise ScreenshotError("the preview's forward has stopped; start the preview again")
        url = f"http://127.0.0.1:{self._forward.target_port}{path}"
        return BrowserView(url, netns_path=self._netns_path, nsenter=self._nsenter)

    def close(self) -> None:
        self._forward.close()


class LocalExposure:
    """The `Exposure` of one BwrapSandbox: ports forwarded to the host's loopback only."""

    poll_s = POLL_S

    def __init__(self, sandbox: BwrapSandbox) -> None:
        self._sandbox = sandbox

    def expose(self, port: int, *, host_port: int | None) -> ForwardedPort:
        """A forward on `host_port` when it is free, else on any free port (the URL changes;
        the caller records the new one)."""
        netns, nsenter = self._sandbox.netns_path, self._sandbox.nsenter
        if netns is None or nsenter is None:
            raise PreviewUnavailable(NO_NETWORK_HINT)
        if host_port:
            try:
                forward = PortForward(netns, port, nsenter=nsenter, host_port=host_port)
                return ForwardedPort(forward, netns, nsenter)
            except PortInUse:
                pass  # the URL changes; the caller records the new one
        return ForwardedPort(PortForward(netns, port, nsenter=nsenter), netns, nsenter)

    def listeners(self) -> list[Listener]:
        pid = self._sandbox.network_holder_pid
        return listeners(pid) if pid is not None else []
