"""What a request may look like at the door, checked before any route runs: a body no larger
than the limit (announced or streamed), and a URL without control characters (PostgreSQL
refuses a NUL in text, so one in an id would otherwise surface as a server error)."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cofounder.api import problems

_CONTROL = frozenset(range(0x20)) | {0x7F}


class BodyLimit:
    """Refuse a request body past `limit` bytes with 413, whether it announces its length or
    streams it (chunked): counted as it arrives, never buffered here. A route that was
    reading the body when the limit passed may have answered already (FastAPI turns a failed
    read into 400): that answer is dropped and the 413 sent instead."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(self.limit)(scope, receive, send)
            return
        seen = 0
        refused = False
        answered = False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    raise _TooLargeError
            return message

        async def guarded(message: Message) -> None:
            nonlocal answered
            if refused and not answered:
                return  # the route's answer to a body it never got whole
            answered = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise
        if refused and not answered:
            await _too_large(self.limit)(scope, receive, send)


class _TooLargeError(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return problems.problem(413, f"request bodies are limited to {limit} bytes")


class PlainTarget:
    """Refuse a path or query string with control characters (after percent-decoding) with
    400: no id, cursor or filter of this API has one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_control(scope):
            refusal = problems.problem(400, "the URL holds control characters")
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_control(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    query = unquote_to_bytes(scope.get("query_string", b""))
    return any(ord(c) in _CONTROL for c in path) or any(b in _CONTROL for b in query)
