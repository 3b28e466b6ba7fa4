"""The founder's app as the build left it: the screenshots the agent took, and its preview.

A screenshot's id is `<session>-<seq>-<n>`: the n-th picture of the session's event `seq`.
Images are stored by content and shared between sessions, so the id names the session whose
owner may see it, not the bytes."""

from __future__ import annotations

from typing import Literal

import structlog
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from cofounder.api import problems
from cofounder.api.routes.common import CallerDep, EngineDep, OwnedSession, owned_session
from cofounder.engine.errors import NotFoundError
from cofounder.events import (
    PreviewFailed,
    PreviewReady,
    PreviewStopped,
    Screenshot,
    ScreenshotTaken,
)
from cofounder.storage.images import ImageStoreError

log = structlog.get_logger(__name__)
router = APIRouter(tags=["preview"])


class ScreenshotView(BaseModel):
    model_config = ConfigDict(frozen=True)

    screenshot_id: str
    iteration: int
    page: str  # the path the agent looked at
    viewport: str
    width: int
    height: int
    bytes: int
    url: str  # where the PNG is, under this API


class PreviewView(BaseModel):
    """Where the session's app stands: `live` (a worker runs the session and the app answered:
    `url` is where), `stopped`, `failed` (`hint` says why), or `none` (never started)."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    status: Literal["live", "stopped", "failed", "none"]
    url: str | None
    command: str | None
    port: int | None
    http_status: int | None
    iteration: int | None
    hint: str | None


def _shot_id(session_id: str, seq: int, index: int) -> str:
    return f"{session_id}-{seq}-{index}"


@router.get("/sessions/{session_id}/screenshots", response_model=list[ScreenshotView])
def screenshots(engine: EngineDep, record: OwnedSession) -> list[ScreenshotView]:
    """Every screenshot the agent took, oldest first."""
    views: list[ScreenshotView] = []
    for event in engine.events_of_types(record.id, ["screenshot_taken"]):
        assert isinstance(event.body, ScreenshotTaken)
        for index, shot in enumerate(event.body.screenshots):
            shot_id = _shot_id(record.id, event.seq, index)
            views.append(
                ScreenshotView(
                    screenshot_id=shot_id,
                    iteration=event.body.iteration,
                    page=event.body.path,
                    viewport=shot.viewport,
                    width=shot.width,
                    height=shot.height,
                    bytes=shot.bytes,
                    url=f"/api/v1/screenshots/{shot_id}",
                )
            )
    return views


def _owned_shot(engine: EngineDep, who: CallerDep, screenshot_id: str) -> Screenshot:
    """The screenshot if the caller may see its session; anything else is "no screenshot"
    (the same words for another owner's and for one that never existed)."""
    missing = NotFoundError(f"no screenshot with id {screenshot_id!r}")
    parts = screenshot_id.rsplit("-", 2)
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 9 for p in parts[1:]):
        raise missing
    session_id, seq, index = parts[0], int(parts[1]), int(parts[2])
    try:
        record = owned_session(engine, who, session_id)
    except NotFoundError:
        raise missing from None
    found = engine.events_after(record.id, seq - 1, limit=1) if seq > 0 else []
    if not found or found[0].seq != seq or not isinstance(found[0].body, ScreenshotTaken):
        raise missing
    shots = found[0].body.screenshots
    if index >= len(shots):
        raise missing
    return shots[index]


@router.get(
    "/screenshots/{screenshot_id}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The PNG"}},
)
def screenshot(engine: EngineDep, who: CallerDep, screenshot_id: str) -> Response:
    """The PNG bytes, verified against their stored hash."""
    shot = _owned_shot(engine, who, screenshot_id)
    try:
        data = engine.image(shot.ref)
    except ImageStoreError as exc:
        log.error("screenshot_unreadable", screenshot_id=screenshot_id, error=str(exc))
        return problems.problem(500, f"screenshot {screenshot_id} could not be read")
    digest = shot.ref.removeprefix("sha256:")
    # Content-addressed: the bytes behind this id never change.
    headers = {"ETag": f'"{digest}"', "Cache-Control": "private, max-age=31536000, immutable"}
    return Response(data, media_type="image/png", headers=headers)


@router.get("/sessions/{session_id}/preview", response_model=PreviewView)
def preview(engine: EngineDep, record: OwnedSession) -> PreviewView:
    """What the last preview event says, with the URL only while a worker runs the session
    (the app lives in that worker's sandbox; a preview a run left is gone with the run)."""
    status: Literal["live", "stopped", "failed", "none"] = "none"
    command: str | None = None
    port: int | None = None
    http_status: int | None = None
    iteration: int | None = None
    hint: str | None = None
    types = ["preview_ready", "preview_failed", "preview_stopped"]
    for event in engine.events_of_types(record.id, types):
        body = event.body
        if isinstance(body, PreviewReady):
            status, command, port, http_status, hint = (
                "live",
                body.command,
                body.port,
                body.http_status,
                None,
            )
        elif isinstance(body, PreviewFailed):
            status, hint, http_status = "failed", body.hint, None
            command, port = body.command or command, body.port or port
        elif isinstance(body, PreviewStopped):
            status = "stopped"
        else:
            continue
        iteration = body.iteration
    held = engine.held_by(record.id) if record.state == "running" else None
    live = status == "live" and held is not None and record.preview_url is not None
    return PreviewView(
        session_id=record.id,
        status="stopped" if status == "live" and not live else status,
        url=record.preview_url if live else None,
        command=command,
        port=port,
        http_status=http_status,
        iteration=iteration,
        hint=hint,
    )
