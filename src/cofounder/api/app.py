"""The FastAPI app: routers under /api/v1 behind one bearer-token dependency, problem+json
errors, a request size limit, health and readiness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cofounder.api import problems
from cofounder.api.auth import caller
from cofounder.api.routes import admin, escalations, events, projects, sessions
from cofounder.config import Settings
from cofounder.engine import Engine

API = "/api/v1"
MAX_BODY_BYTES = 1 << 20  # project specs are small: 1 MiB is generous


def create_app(settings: Settings, *, worker: bool = False) -> FastAPI:
    """`worker`: also serve the build queue in this process (one command serves a machine)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = Engine(settings)
        app.state.engine = engine
        serving = None
        if worker:
            from cofounder.engine.worker.process import Worker

            serving = Worker(engine.rt)
            # DBOS refuses its sync calls on a thread that runs an event loop.
            await asyncio.to_thread(serving.start)
        try:
            yield
        finally:
            if serving is not None:
                await asyncio.to_thread(serving.stop)
            engine.close()

    app = FastAPI(
        title="Cofounder",
        version="1",
        summary="Builds of founders' apps: start them, watch them live, answer their questions.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.add_middleware(_BodyLimit, limit=MAX_BODY_BYTES)
    secured = [Depends(caller)]
    for router in (projects.router, sessions.router, events.router, escalations.router):
        app.include_router(router, prefix=API, dependencies=secured)
    app.include_router(admin.router, prefix=API, dependencies=secured)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> Response:
        """The database answers, its schema is current, and a worker serves the queue."""
        engine: Engine = request.app.state.engine
        checks = engine.readiness()
        ready = all(checks.values())
        if ready:
            return JSONResponse({"status": "ready", "checks": checks})
        return problems.problem(503, "not ready", checks=checks)

    return app


class _BodyLimit:
    """Refuse a request body past `limit` bytes with 413, whether it announces its length or
    streams it (chunked): counted as it arrives, never buffered here."""

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

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(self.limit)(scope, receive, send)


class _TooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return problems.problem(413, f"request bodies are limited to {limit} bytes")
