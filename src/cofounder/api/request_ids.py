"""Every request gets an id: the caller's `X-Request-ID` when it is a plain token, else a new
one. It is bound to the logs written while the request runs, answered in `X-Request-ID`,
and logged with the session the path names, so one founder's complaint finds its lines."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

_PLAIN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SESSION_IN_PATH = re.compile(r"/api/v1/sessions/([A-Za-z0-9._-]{1,64})")


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _PLAIN.fullmatch(given) else uuid.uuid4().hex
        path: str = scope.get("path", "")
        found = _SESSION_IN_PATH.match(path)
        context = {"request_id": request_id}
        if found is not None:
            context["session_id"] = found.group(1)
        status = 500
        started = time.perf_counter()

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(**context):
            try:
                await self.app(scope, receive, tagged)
            finally:
                log.info(
                    "api_request",
                    **context,
                    method=scope.get("method"),
                    path=path,
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )
