"""The one preview, whichever backend runs the app: the app's command as a background process,
made reachable from the host by the backend's `Exposure`, a health check that explains
failures, and screenshots.

Health: the app is up when a probe of its path gets any HTTP response (a 404 or a 500 is
still a running app; the status is reported). While waiting we watch the process: if it
exits, the failure says so with the tail of its output. If it never answers, the sockets the
sandbox listens on tell the model whether the app bound another interface, another port, or
nothing at all. What differs per backend (a host-loopback forward and a probe from the host
for the local sandbox; E2B's public host and a probe run inside the cloud sandbox) is the
wing's `Exposure`; everything here is written once.

The port is exposed before the app starts: a sandbox that cannot expose one (or a founder-side
port that cannot be had) never leaves an app running that nobody can reach.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofounder.sandbox.preview_diagnosis import diagnose, exit_hint
from cofounder.sandbox.preview_types import (
    Exposed,
    Exposure,
    PreviewOutcome,
    PreviewSpec,
    PreviewUnavailable,
)
from cofounder.sandbox.protocol import BackgroundInfo, Sandbox, SandboxError

if TYPE_CHECKING:
    from cofounder.sandbox.screenshot import Screenshot

PREVIEW_PROCESS_NAME = "preview"
TAIL_BYTES = 4000


def absolute(path: str) -> str:
    """`path` as the app sees it: always starting with a slash."""
    return path if path.startswith("/") else "/" + path


@dataclass(frozen=True)
class _Live:
    """The running preview: what starting it found, and its exposed port."""

    outcome: PreviewOutcome
    exposed: Exposed
    process_id: str


class Preview:
    """The `PreviewHost` of one sandbox, over the `Exposure` its wing supplies; closing the
    sandbox stops it too."""

    def __init__(
        self,
        sandbox: Sandbox,
        exposure: Exposure,
        *,
        chromium: str | None = None,
        ready_timeout_s: float = 30.0,
    ) -> None:
        self._sandbox = sandbox
        self._exposure = exposure
        self._chromium = chromium
        self._ready_timeout_s = ready_timeout_s
        self._lock = threading.Lock()
        self._live: _Live | None = None
        self._last_host_port: int | None = None  # a restarted app keeps the founder's URL

    @property
    def running(self) -> PreviewOutcome | None:
        return self._live.outcome if self._live is not None else None

    def start(self, spec: PreviewSpec, *, host_port: int | None = None) -> PreviewOutcome:
        with self._lock:
            self._stop_locked()
            try:
                exposed = self._exposure.expose(
                    spec.port, host_port=host_port or self._last_host_port
                )
            except PreviewUnavailable as exc:
                return PreviewOutcome(ok=False, spec=spec, hint=str(exc))
            self._last_host_port = exposed.host_port
            try:
                info = self._sandbox.start_background(spec.command, name=PREVIEW_PROCESS_NAME)
            except BaseException:
                exposed.close()
                raise
            try:
                outcome = self._await_ready(spec, info.id, exposed)
            except BaseException:
                self._end(exposed, info.id)  # no preview may run unrecorded
                raise
            if outcome.ok:
                self._live = _Live(outcome, exposed, info.id)
            else:
                self._end(exposed, info.id)
                outcome = outcome.model_copy(update={"output_tail": self._tail(info.id)})
            return outcome

    def _await_ready(self, spec: PreviewSpec, process_id: str, exposed: Exposed) -> PreviewOutcome:
        started = time.monotonic()
        deadline = started + self._ready_timeout_s
        path = absolute(spec.path)
        while True:
            status = exposed.probe(path)
            waited = round(time.monotonic() - started, 2)
            if status is not None:
                return PreviewOutcome(
                    ok=True,
                    spec=spec,
                    url=exposed.url,
                    http_status=status,
                    waited_s=waited,
                    process_id=process_id,
                    output_tail=self._tail(process_id),
                )
            info = self._info(process_id)
            hint: str | None = None
            if info is None or not info.running:
                hint = exit_hint(info, spec.port)
            elif time.monotonic() >= deadline:
                hint = f"no HTTP answer within {self._ready_timeout_s:g} s: " + diagnose(
                    self._exposure.listeners(), spec.port
                )
            if hint is not None:
                return PreviewOutcome(
                    ok=False, spec=spec, waited_s=waited, process_id=process_id, hint=hint
                )
            time.sleep(self._exposure.poll_s)

    def _info(self, process_id: str) -> BackgroundInfo | None:
        return next((p for p in self._sandbox.list_background() if p.id == process_id), None)

    def _tail(self, process_id: str) -> str:
        try:
            return self._sandbox.background_output(process_id, max_bytes=TAIL_BYTES)
        except (KeyError, OSError):
            return ""

    def _end(self, exposed: Exposed, process_id: str) -> None:
        exposed.close()
        # KeyError or SandboxError: the sandbox is gone or closing, and so is the process
        with contextlib.suppress(KeyError, SandboxError):
            self._sandbox.stop_background(process_id)

    def stop(self) -> PreviewOutcome | None:
        with self._lock:
            return self._stop_locked()

    def _stop_locked(self) -> PreviewOutcome | None:
        live, self._live = self._live, None
        if live is None:
            return None
        self._end(live.exposed, live.process_id)
        return live.outcome

    def screenshot(self, path: str | None = None) -> list[Screenshot]:
        from cofounder.sandbox.screenshot import ScreenshotError, capture, find_chromium

        live = self._live
        if live is None:
            raise ScreenshotError(
                "no preview is running: start the app with the `preview` tool first"
            )
        info = self._info(live.process_id)
        if info is None or not info.running:
            raise ScreenshotError("the preview's process has stopped; start the preview again")
        view = live.exposed.view(absolute(path if path is not None else live.outcome.spec.path))
        return capture(
            view.url,
            chromium=find_chromium(self._chromium),
            netns_path=view.netns_path,
            nsenter=view.nsenter,
        )
