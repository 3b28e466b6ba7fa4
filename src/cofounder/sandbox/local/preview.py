"""The preview on the local sandbox: the app as a background process, a host-loopback forward,
an HTTP health check that explains failures, and screenshots from inside the sandbox network.

Health: the app is up when an HTTP request through the forward gets any response (a 404 or a
500 is still a running app; the status is reported). While waiting we watch the process: if
it exits, the failure says so with the tail of its output. If it never answers we look at what
the sandbox's network namespace listens on (`/proc/PID/net/tcp*`) to tell the model whether
the app bound another interface, another port, or nothing at all.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cofounder.sandbox.local.bwrap import BwrapSandbox
from cofounder.sandbox.local.port_forward import PortForward, PortInUse
from cofounder.sandbox.preview import (
    LISTEN_STATE,
    PREVIEW_PROCESS_NAME,
    PROBE_TIMEOUT_S,
    TAIL_BYTES,
    Listener,
    diagnose,
    hex_to_address,
)
from cofounder.sandbox.preview_types import PreviewOutcome, PreviewSpec
from cofounder.sandbox.protocol import SandboxError

if TYPE_CHECKING:
    from cofounder.sandbox.screenshot import Screenshot

_POLL_S = 0.1


def listeners(holder_pid: int) -> list[Listener]:
    """TCP sockets listening in the network namespace of `holder_pid`."""
    found: list[Listener] = []
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{holder_pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != LISTEN_STATE:
                continue
            hex_addr, hex_port = fields[1].split(":")
            found.append(Listener(hex_to_address(hex_addr), int(hex_port, 16)))
    return sorted(set(found), key=lambda x: (x.port, x.address))


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


class LocalPreview:
    """The `PreviewHost` of one BwrapSandbox; closing the sandbox stops it too."""

    def __init__(
        self,
        sandbox: BwrapSandbox,
        *,
        chromium: str | None = None,
        ready_timeout_s: float = 30.0,
    ) -> None:
        self._sandbox = sandbox
        self._chromium = chromium
        self._ready_timeout_s = ready_timeout_s
        self._lock = threading.Lock()
        self._running: PreviewOutcome | None = None
        self._forward: PortForward | None = None
        self._last_host_port: int | None = None  # a restarted app keeps the founder's URL

    @property
    def running(self) -> PreviewOutcome | None:
        return self._running

    def start(self, spec: PreviewSpec, *, host_port: int | None = None) -> PreviewOutcome:
        with self._lock:
            self._stop_locked()
            netns, nsenter = self._sandbox.netns_path, self._sandbox.nsenter
            if netns is None or nsenter is None:
                return PreviewOutcome(
                    ok=False,
                    spec=spec,
                    hint="previews need a sandbox network that lasts between commands, which "
                    "needs the worker to run as root (with iproute2 and util-linux)",
                )
            info = self._sandbox.start_background(spec.command, name=PREVIEW_PROCESS_NAME)
            try:
                forward = self._open_forward(
                    netns, nsenter, spec.port, host_port or self._last_host_port
                )
            except BaseException:
                self._sandbox.stop_background(info.id)  # no preview may run unrecorded
                raise
            self._last_host_port = forward.host_port
            try:
                outcome = self._await_ready(spec, info.id, forward)
            except BaseException:
                forward.close()
                self._sandbox.stop_background(info.id)
                raise
            if outcome.ok:
                self._forward, self._running = forward, outcome
            else:
                forward.close()
                self._sandbox.stop_background(info.id)
                outcome = outcome.model_copy(update={"output_tail": self._tail(info.id)})
            return outcome

    def _open_forward(
        self, netns: str, nsenter: str, port: int, host_port: int | None
    ) -> PortForward:
        if host_port:
            try:
                return PortForward(netns, port, nsenter=nsenter, host_port=host_port)
            except PortInUse:
                pass  # the URL changes; the caller records the new one
        return PortForward(netns, port, nsenter=nsenter)

    def _await_ready(
        self, spec: PreviewSpec, process_id: str, forward: PortForward
    ) -> PreviewOutcome:
        started = time.monotonic()
        deadline = started + self._ready_timeout_s
        url = forward.url + spec.path
        while True:
            status = probe_http(url)
            waited = round(time.monotonic() - started, 2)
            if status is not None:
                return PreviewOutcome(
                    ok=True,
                    spec=spec,
                    url=forward.url,
                    http_status=status,
                    waited_s=waited,
                    process_id=process_id,
                    output_tail=self._tail(process_id),
                )
            info = next(p for p in self._sandbox.list_background() if p.id == process_id)
            if not info.running:
                return PreviewOutcome(
                    ok=False,
                    spec=spec,
                    waited_s=waited,
                    process_id=process_id,
                    hint=f"the command exited with code {info.exit_code} before anything "
                    f"answered on port {spec.port}; its output is below",
                )
            if time.monotonic() >= deadline:
                pid = self._sandbox.network_holder_pid
                found = listeners(pid) if pid is not None else []
                return PreviewOutcome(
                    ok=False,
                    spec=spec,
                    waited_s=waited,
                    process_id=process_id,
                    hint=f"no HTTP answer within {self._ready_timeout_s:g} s: "
                    + diagnose(found, spec.port),
                )
            time.sleep(_POLL_S)

    def _tail(self, process_id: str) -> str:
        try:
            return self._sandbox.background_output(process_id, max_bytes=TAIL_BYTES)
        except (KeyError, OSError):
            return ""

    def stop(self) -> PreviewOutcome | None:
        with self._lock:
            return self._stop_locked()

    def _stop_locked(self) -> PreviewOutcome | None:
        was, self._running = self._running, None
        if self._forward is not None:
            self._forward.close()
            self._forward = None
        if was is not None and was.process_id is not None:
            with contextlib.suppress(KeyError, SandboxError):
                self._sandbox.stop_background(was.process_id)
        return was

    def screenshot(self, path: str | None = None) -> list[Screenshot]:
        from cofounder.sandbox.screenshot import ScreenshotError, capture, find_chromium

        running = self._running
        if running is None:
            raise ScreenshotError(
                "no preview is running: start the app with the `preview` tool first"
            )
        if self._forward is not None and not self._forward.alive():
            raise ScreenshotError("the preview's forward has stopped; start the preview again")
        target = path if path is not None else running.spec.path
        if not target.startswith("/"):
            target = "/" + target
        url = f"http://127.0.0.1:{running.spec.port}{target}"
        return capture(
            url,
            chromium=find_chromium(self._chromium),
            netns_path=self._sandbox.netns_path,
            nsenter=self._sandbox.nsenter,
        )
