"""The FastAPI app: routers under /api/v1 behind one bearer-token dependency, problem+json
errors, a request size limit, health and readiness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from cofounder.api import dashboard, limits, metrics, problems
from cofounder.api.auth import caller
from cofounder.api.cookies import CookieSigner
from cofounder.api.request_ids import RequestIds
from cofounder.api.routes import (
    admin,
    escalations,
    events,
    files,
    forks,
    messages,
    meta,
    preview,
    projects,
    sessions,
)
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
        app.state.cookies = CookieSigner(settings)
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
        responses=problems.RESPONSES,
    )
    problems.install(app)
    app.add_middleware(limits.BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(limits.PlainTarget)
    app.add_middleware(RequestIds)  # outermost: every answer, even a refusal, carries an id
    secured = [Depends(caller)]
    for router in (
        projects.router,
        sessions.router,
        messages.router,
        forks.router,
        events.router,
        escalations.router,
    ):
        app.include_router(router, prefix=API, dependencies=secured)
    app.include_router(admin.router, prefix=API, dependencies=secured)
    app.include_router(files.router, prefix=API, dependencies=secured)
    app.include_router(preview.router, prefix=API, dependencies=secured)
    app.include_router(meta.router, prefix=API, dependencies=secured)
    app.include_router(metrics.router)  # open, like /healthz: bounded labels, no owner's data
    app.include_router(dashboard.auth_router)  # the token is the credential
    app.include_router(dashboard.router)  # pages check the cookie themselves
    app.mount("/static", dashboard.static_files(), name="static")

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
