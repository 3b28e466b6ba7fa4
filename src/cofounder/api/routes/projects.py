"""Projects and their builds: post a project once, start builds of it (each a new version that
continues from the last build's workspace)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from cofounder.api.routes.common import CallerDep, EngineDep
from cofounder.api.views import BuildRequest, BuildStarted, ProjectView, control_errors
from cofounder.engine import Engine
from cofounder.engine.errors import BadInputError, ConflictError
from cofounder.engine.projects import create_project, project_of, start_build
from cofounder.llm import ModelError
from cofounder.llm.registry import parse_model_spec
from cofounder.project import ProjectSpec
from cofounder.project.problems import problems_from_validation_error
from cofounder.storage.projects import IdempotentRequests, ProjectRecord

router = APIRouter(tags=["projects"])

# Providers that read a file on the server: an owner must not name one (an admin may).
_FILE_BACKED = frozenset({"scripted"})
# How long a retry waits for the first request with its key to answer (then 409).
IDEMPOTENT_WAIT_SECONDS = 30


def check_model(spec: str | None, admin: bool, field: str) -> None:
    if spec is None or admin:
        return
    try:
        provider, _ = parse_model_spec(spec)
    except ModelError as exc:
        raise BadInputError(f"{field}: {exc}") from None
    if provider.name in _FILE_BACKED:
        raise BadInputError(f"{field}: {provider.name} models are not offered over the API")


@router.post("/projects", response_model=ProjectView, status_code=201)
def post_project(engine: EngineDep, who: CallerDep, body: dict[str, Any]) -> ProjectView:
    """A project spec as JSON (the fields of a project file); its owner is the caller."""
    odd = control_errors(body)
    if odd:
        raise _Invalid(odd)
    try:
        spec = ProjectSpec.model_validate({**body, "owner": who.owner})
    except ValidationError as exc:
        # The CLI's words for each problem ("must not be empty"), at the API's dotted paths.
        words = problems_from_validation_error(exc)
        errors = [
            {"path": ".".join(map(str, e["loc"])), "message": said.problem}
            for e, said in zip(exc.errors(), words, strict=True)
        ]
        raise _Invalid(errors) from None
    check_model(spec.model, who.admin, "model")
    return ProjectView.of(create_project(engine, spec))


class _Invalid(BadInputError):
    """422 with every field's error, the first one as the detail."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        path, message = errors[0]["path"], errors[0]["message"]
        super().__init__(f"{path}: {message}" if path else message)
        self.errors = errors


@router.get("/projects", response_model=list[ProjectView])
def list_projects(engine: EngineDep, who: CallerDep) -> list[ProjectView]:
    """The caller's projects (an admin's: everyone's), oldest first, each with its newest build."""
    projects = engine.rt.projects
    latest = projects.latest_builds(owner=who.scope)
    return [ProjectView.of(p, latest.get(p.id)) for p in projects.list(who.scope)]


@router.get("/projects/{project_id}", response_model=ProjectView)
def get_project(engine: EngineDep, who: CallerDep, project_id: str) -> ProjectView:
    project = project_of(engine, project_id, who.scope)
    latest = engine.rt.projects.latest_builds(owner=who.scope, project_id=project.id)
    return ProjectView.of(project, latest.get(project.id))


# A key is the client's, printable ASCII; it is kept per owner and project.
_KEY = Header(max_length=150, pattern=r"^[\x20-\x7e]+$")


@router.post("/projects/{project_id}/builds", response_model=BuildStarted, status_code=202)
def post_build(
    engine: EngineDep,
    who: CallerDep,
    project_id: str,
    body: BuildRequest | None = None,
    idempotency_key: Annotated[str | None, _KEY] = None,
) -> Any:
    """Queue the project's next build. 409 while one is active; 429 (with Retry-After) when
    the queue is full or the owner's daily cap is reached. A retried POST with the same
    `Idempotency-Key` gets the first answer (a key used for another project is another key)."""
    project = project_of(engine, project_id, who.scope)
    request = body or BuildRequest()
    check_model(request.model, who.admin, "model")
    if idempotency_key is None:
        return _start(engine, project, request)
    key = f"{project.id}/{idempotency_key}"
    first = _first_answer(engine, who.owner, key)
    if first is not None:
        return JSONResponse(content=json.loads(first[1]), status_code=first[0])
    try:
        started = _start(engine, project, request)
    except BaseException:
        engine.rt.idempotent.release(who.owner, key)  # nothing was started: a retry may act
        raise
    engine.rt.idempotent.answer(who.owner, key, 202, started.model_dump_json())
    return started


def _start(engine: Engine, project: ProjectRecord, request: BuildRequest) -> BuildStarted:
    record = start_build(
        engine,
        project,
        model=request.model,
        max_tool_calls=request.max_tool_calls,
        network=request.network,
    )
    return BuildStarted(
        session_id=record.id, build_version=record.build_version, state=record.state
    )


def _first_answer(engine: Engine, owner: str, key: str) -> tuple[int, str] | None:
    """None once this request holds the key; else the answer of the request that held it
    first, waited for while that request is still at work."""
    deadline = time.monotonic() + IDEMPOTENT_WAIT_SECONDS
    while (held := engine.rt.idempotent.claim(owner, key)) is not None:
        if held[0] != IdempotentRequests.PENDING:
            return held
        if time.monotonic() > deadline:
            raise ConflictError("a request with this Idempotency-Key is still in progress")
        time.sleep(0.05)
    return None
