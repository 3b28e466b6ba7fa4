"""A sandbox whose app start returns only once the app got as far as a preview test needs.

`Preview` counts its ready deadline from when `start_background` returns, which is at once.
A test of what the deadline's diagnosis says (a short deadline, run out on purpose) needs
the app to listen, or to have printed its line, by then; on a loaded machine a 3 s deadline
can pass while the app's Python still starts, and the hint says "nothing listens" instead.
Wrapped in `StartsWhenReady`, the sandbox returns from starting the app only once `ready`
holds, so "the app listens on port N when the deadline passes" is a fact, not a bet on the
machine's speed. Everything else goes straight to the real sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cofounder.sandbox.preview_types import Exposure
from cofounder.sandbox.protocol import BackgroundInfo, ExecResult, Sandbox

AppReady = Callable[[Sandbox, Exposure, str], bool]
"""Whether the app (by its process id, in this sandbox, behind this exposure) is far enough."""

WITHIN_S = 90.0  # only bounds the wait for an app that never gets there


def listening_on(port: int) -> AppReady:
    """Ready once something in the sandbox listens on `port`, as the preview's diagnosis sees it."""

    def ready(sandbox: Sandbox, exposure: Exposure, process_id: str) -> bool:
        return any(x.port == port for x in exposure.listeners())

    return ready


def printed(text: str) -> AppReady:
    """Ready once the app's output holds `text`."""

    def ready(sandbox: Sandbox, exposure: Exposure, process_id: str) -> bool:
        return text in sandbox.background_output(process_id, max_bytes=4000)

    return ready


class StartsWhenReady:
    """`sandbox`, but `start_background` waits for `ready` (or the process's end) first."""

    def __init__(self, sandbox: Sandbox, exposure: Exposure, ready: AppReady) -> None:
        self._sandbox = sandbox
        self._exposure = exposure
        self._ready = ready

    @property
    def workspace(self) -> Path:
        return self._sandbox.workspace

    def exec(self, command: str, *, timeout_s: float | None = None) -> ExecResult:
        return self._sandbox.exec(command, timeout_s=timeout_s)

    def start_background(self, command: str, *, name: str) -> BackgroundInfo:
        info = self._sandbox.start_background(command, name=name)
        deadline = time.monotonic() + WITHIN_S
        while not self._ready(self._sandbox, self._exposure, info.id):
            now = next(p for p in self._sandbox.list_background() if p.id == info.id)
            if not now.running:
                break  # it ended first: the preview reports that as it would have
            if time.monotonic() > deadline:
                output = self._sandbox.background_output(info.id, max_bytes=4000)
                raise AssertionError(f"the app did not get ready in {WITHIN_S:g} s: {output!r}")
            time.sleep(0.02)
        return info

    def list_background(self) -> list[BackgroundInfo]:
        return self._sandbox.list_background()

    def background_output(self, process_id: str, *, max_bytes: int) -> str:
        return self._sandbox.background_output(process_id, max_bytes=max_bytes)

    def stop_background(self, process_id: str) -> BackgroundInfo:
        return self._sandbox.stop_background(process_id)

    def close(self) -> None:
        self._sandbox.close()
