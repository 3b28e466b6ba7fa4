"""The SSE response: batches of pre-encoded events straight to the connection.

FastAPI's generator-based SSE serialises each item per stream and hands it through two memory
streams and three tasks; with hundreds of watchers of one session that per-delivery cost is the
bottleneck. Here an event is encoded once (`fanout.Frame`) and a batch is one write."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from fastapi.sse import KEEPALIVE_COMMENT
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from cofounder.api.fanout import Frame


class EventStream(Response):
    """`text/event-stream` of `batches`; an empty batch is sent as a heartbeat comment. Ends
    when the batches do, or when the client goes away (the batches are closed then too)."""

    media_type = "text/event-stream"

    def __init__(self, batches: AsyncGenerator[list[Frame]], *, retry_ms: int = 1000) -> None:
        # Not Response.__init__: it would announce an empty body (content-length: 0).
        self.batches = batches
        self.retry_ms = retry_ms
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        # How soon a browser comes back after the stream ends (its default is seconds).
        opening = f"retry: {self.retry_ms}\n\n".encode()
        await send({"type": "http.response.body", "body": opening, "more_body": True})
        pump = asyncio.ensure_future(self._pump(send))
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, gone):
                task.cancel()
            try:
                for task in (pump, gone):  # a failed read ends the stream: the client resumes
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            finally:
                await self.batches.aclose()

    async def _pump(self, send: Send) -> None:
        async for batch in self.batches:
            body = b"".join(frame.data for frame in batch) if batch else KEEPALIVE_COMMENT
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
