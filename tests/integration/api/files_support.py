"""Test support for the files, screenshot and preview routes: a real PNG stored as the engine
stores one, and the events a build records for its screenshots and its preview."""

from __future__ import annotations

import struct
import zlib

from cofounder.engine import Engine
from cofounder.events import AnyEvent, PreviewReady, PreviewStopped, Screenshot, ScreenshotTaken


def png(width: int, height: int, shade: int = 0x40) -> bytes:
    """A valid greyscale PNG of one shade."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([shade]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def add_screenshots(engine: Engine, session_id: str, iteration: int = 1) -> list[str]:
    """Two pictures (desktop and mobile) taken in one tool call, stored in the image store
    and recorded as the batch records them; their screenshot ids."""
    shots = []
    for viewport, (width, height), shade in (("desktop", (8, 5), 0x20), ("mobile", (4, 7), 0x90)):
        data = png(width, height, shade)
        ref = engine.rt.images.put(data)
        shots.append(
            Screenshot(viewport=viewport, width=width, height=height, ref=ref, bytes=len(data))
        )
    event = engine.rt.events.append(
        session_id,
        ScreenshotTaken(iteration=iteration, tool_use_id="tu_shot", path="/", screenshots=shots),
    )
    return [f"{session_id}-{event.seq}-{n}" for n in range(len(shots))]


def add_events(engine: Engine, session_id: str, *events: AnyEvent) -> None:
    engine.rt.events.append_all(session_id, list(events))


def preview_ready(
    iteration: int, command: str = "python3 -m app", port: int = 8000
) -> PreviewReady:
    return PreviewReady(
        iteration=iteration,
        url="http://127.0.0.1:41234/",
        command=command,
        port=port,
        http_status=200,
        waited_s=0.5,
        restarted=False,
    )


def preview_stopped(iteration: int) -> PreviewStopped:
    return PreviewStopped(iteration=iteration, url=None, reason="the session ended")
