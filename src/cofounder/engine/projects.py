"""Projects and their builds, as the service offers them: a founder posts a project once and
starts builds of it; each build is a session that continues from the last build's workspace."""

from __future__ import annotations

from pathlib import Path

from cofounder.engine.errors import ConflictError, NotFoundError
from cofounder.engine.service import BuildLink, Engine
from cofounder.project import ProjectSpec
from cofounder.storage import SessionRecord
from cofounder.storage.projects import ProjectRecord

# A project posted over the API has no file: a model path in it would be read relative to
# the server's working directory, so file-backed models are refused there (see the API).
NO_FILE = Path("project.json")


def create_project(engine: Engine, spec: ProjectSpec) -> ProjectRecord:
    return engine.rt.projects.create(spec.owner, spec.name, spec.model_dump_json())


def project_of(engine: Engine, project_id: str, owner: str | None) -> ProjectRecord:
    """The project, if it exists and `owner` (None: an admin) may see it; else NotFoundError."""
    project = engine.rt.projects.get(project_id)
    if project is None or (owner is not None and project.owner != owner):
        raise NotFoundError(f"no project with id {project_id!r}")
    return project


def start_build(
    engine: Engine,
    project: ProjectRecord,
    *,
    model: str | None = None,
    max_tool_calls: int | None = None,
    network: str | None = None,
) -> SessionRecord:
    """Queue the project's next build version. ConflictError while a build of it is active;
    the queue's refusals (QueueFullError, DailyCapError) and bad input as `create_session`."""
    active = engine.rt.projects.active_build(project.id)
    if active is not None:
        raise ConflictError(f"project {project.id} has an active build: {active}")
    spec = ProjectSpec.model_validate_json(project.spec_json)
    if network is not None:
        spec = spec.model_copy(update={"network": network})
    following = engine.rt.projects.next_build(project.id)
    from_snapshot = None
    if following.previous_session_id is not None:
        last = engine.rt.transcript.latest_checkpoint(following.previous_session_id)
        from_snapshot = last.snapshot_id if last is not None else None
    return engine.create_session(
        spec,
        NO_FILE,
        model_override=model,
        max_tool_calls=max_tool_calls,
        build=BuildLink(project.id, following.version, from_snapshot),
    )
