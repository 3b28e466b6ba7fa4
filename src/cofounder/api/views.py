"""What the API answers with: typed views of the engine's records (the published contract)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from cofounder.engine import Engine
from cofounder.events import Timestamp
from cofounder.project import ProjectSpec
from cofounder.storage import Event, SessionRecord
from cofounder.storage.projects import ProjectRecord


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


_CONTROL = frozenset(chr(c) for c in [*range(0x20), 0x7F]) - {"\t", "\n", "\r"}
CONTROL_MESSAGE = "must not contain control characters"


def has_control(text: str) -> bool:
    """A control character other than tab and line breaks: never meant, and a NUL is one
    PostgreSQL refuses to store."""
    return not _CONTROL.isdisjoint(text)


def _printable(text: str) -> str:
    if has_control(text):
        raise PydanticCustomError("control_characters", CONTROL_MESSAGE)
    return text


Printable = Annotated[str, AfterValidator(_printable)]


def control_errors(body: Any) -> list[dict[str, str]]:
    """Where a parsed JSON body holds a control character, in a key or a string, as
    {path, message} (the shape of a validation error). A loop, not recursion: a body may
    nest as deep as the JSON parser allows."""
    found: list[dict[str, str]] = []
    pending: list[tuple[tuple[str, ...], Any]] = [((), body)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            items = [(str(k), v) for k, v in value.items()]
            found.extend(
                {"path": ".".join((*path, k)), "message": CONTROL_MESSAGE}
                for k, _ in items
                if has_control(k)
            )
        elif isinstance(value, list):
            items = [(str(n), v) for n, v in enumerate(value)]
        else:
            if isinstance(value, str) and has_control(value):
                found.append({"path": ".".join(path), "message": CONTROL_MESSAGE})
            continue
        pending.extend(((*path, k), v) for k, v in reversed(items))
    return found


class SessionView(_View):
    """The fields of `cofounder status --json`, plus the worker and the build."""

    session_id: str
    name: str
    owner: str
    state: str  # queued, running, sleeping, waiting, paused, or the outcome once finished
    outcome: str | None
    outcome_reason: str | None
    iteration: int
    tool_calls: int
    max_tool_calls: int
    phase: str | None
    spend_microdollars: int
    input_tokens: int
    output_tokens: int
    model: str
    network: str
    created_at: datetime
    finished_at: datetime | None
    wake_at: datetime | None
    worker: str | None
    project_id: str | None
    build_version: str | None
    preview_url: str | None
    parent_session_id: str | None  # a fork's: the session and iteration it started from
    forked_from_iteration: int | None

    @classmethod
    def of(cls, engine: Engine, record: SessionRecord) -> SessionView:
        held = engine.held_by(record.id) if record.state == "running" else None
        return cls(
            session_id=record.id,
            name=record.name,
            owner=record.owner,
            state=record.shown_state,
            outcome=record.outcome,
            outcome_reason=record.outcome_reason,
            iteration=record.iteration,
            tool_calls=record.tool_calls,
            max_tool_calls=record.max_tool_calls,
            phase=record.phase,
            spend_microdollars=record.spend_microdollars,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            model=record.model_spec,
            network=record.network_mode,
            created_at=record.created_at,
            finished_at=record.finished_at,
            wake_at=record.wake_at,
            worker=held.name if held is not None else None,
            project_id=record.project_id,
            build_version=record.build_version,
            # A URL is live only while a worker runs the session.
            preview_url=record.preview_url if held is not None else None,
            parent_session_id=record.parent_session_id,
            forked_from_iteration=record.forked_from_iteration,
        )


class SessionPage(_View):
    items: list[SessionView]
    next_cursor: str | None


class EventView(_View):
    """One event as `cofounder events --json` prints it."""

    session_id: str
    seq: int
    type: str
    ts: Timestamp  # as stored and streamed: "+00:00", never "Z"
    payload: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventView:
        return cls.model_validate(json.loads(event.to_json_line()))


class EventPage(_View):
    events: list[EventView]
    next_after: int


class LatestBuildView(_View):
    """A project's newest build as its card shows it: a list of projects needs no request
    per project to say how each one's last build went."""

    session_id: str
    build_version: str | None
    state: str  # as a SessionView's: the outcome once finished
    outcome: str | None
    wake_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, record: SessionRecord) -> LatestBuildView:
        return cls(
            session_id=record.id,
            build_version=record.build_version,
            state=record.shown_state,
            outcome=record.outcome,
            wake_at=record.wake_at,
            created_at=record.created_at,
        )


class ProjectView(_View):
    project_id: str
    owner: str
    name: str
    builds: int
    created_at: datetime
    spec: dict[str, Any]
    latest_build: LatestBuildView | None  # None: not built yet

    @classmethod
    def of(cls, project: ProjectRecord, latest: SessionRecord | None = None) -> ProjectView:
        return cls(
            project_id=project.id,
            owner=project.owner,
            name=project.name,
            builds=project.builds,
            created_at=project.created_at,
            spec=ProjectSpec.model_validate_json(project.spec_json).model_dump(mode="json"),
            latest_build=LatestBuildView.of(latest) if latest is not None else None,
        )


class BuildStarted(_View):
    session_id: str
    build_version: str | None
    state: str


class BuildRequest(_View):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Printable | None = Field(default=None, max_length=300)
    max_tool_calls: int | None = Field(default=None, ge=1, le=1_000_000)
    network: str | None = Field(default=None, pattern="^(none|egress)$")


class ResolveRequest(_View):
    model_config = ConfigDict(frozen=True, extra="forbid")

    choice: Printable = Field(min_length=1, max_length=40)
    guidance: Printable | None = Field(default=None, max_length=4000)


class Done(_View):
    """The answer to a request to stop, pause, wake or resume a session."""

    session_id: str
    state: str
    detail: str
