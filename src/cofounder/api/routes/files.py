"""What a build left the founder: its documentation and its code as a streamed tar.gz."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import chain
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from cofounder.api import problems
from cofounder.api.routes.common import EngineDep, OwnedSession
from cofounder.engine import Engine
from cofounder.engine.errors import ConflictError, NotFoundError
from cofounder.storage import Checkpoint, SessionRecord, SnapshotError
from cofounder.storage.snapshots.export import doc_files, docs_folder, reading_order, tar_stream

log = structlog.get_logger(__name__)
router = APIRouter(tags=["files"])

MAX_ITERATION = 2**31 - 1


class DocSection(BaseModel):
    model_config = ConfigDict(frozen=True)

    section: str
    markdown: str


class DocsView(BaseModel):
    """The documentation the agent wrote for the founder, by section, as last written."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    sections: list[DocSection]


@router.get("/sessions/{session_id}/docs", response_model=DocsView)
def docs(engine: EngineDep, record: OwnedSession) -> DocsView:
    """Sections in reading order (overview, features, getting started, FAQ, then others)."""
    written = engine.documents(record.id)
    return DocsView(
        session_id=record.id,
        sections=[DocSection(section=s, markdown=written[s]) for s in reading_order(written)],
    )


def _checkpoint(engine: Engine, record: SessionRecord, iteration: int | None) -> Checkpoint:
    latest = engine.checkpoint(record.id)
    if latest is None:
        raise NotFoundError(f"session {record.id} has no recorded iteration yet")
    found = latest if iteration is None else engine.checkpoint(record.id, iteration)
    if found is None:
        raise NotFoundError(
            f"session {record.id} has no iteration {iteration} (recorded: 0 to {latest.iteration})"
        )
    if not found.snapshot_id:
        raise ConflictError(
            f"iteration {found.iteration} has no stored workspace (the object store failed "
            "then); a later iteration's export has its code"
        )
    return found


def _root(record: SessionRecord) -> str:
    """The archive's top folder: the project's name as a slug, else the session id."""
    return re.sub(r"[^a-z0-9]+", "-", record.name.lower()).strip("-")[:60] or record.id


@router.get(
    "/sessions/{session_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/gzip": {}}, "description": "A .tar.gz"}},
)
def export(
    engine: EngineDep,
    record: OwnedSession,
    iteration: Annotated[int | None, Query(ge=0, le=MAX_ITERATION)] = None,
) -> Response:
    """The code of an iteration (default: the last committed) as a .tar.gz made while it is
    sent, as `cofounder export` writes it: every file under `<project-slug>/`, the
    documentation as Markdown in `COFOUNDER_DOCS/` (`-2`… when the code has that name),
    rebuildable folders left out. Every blob is verified against its hash; one found bad
    after the first bytes went out cuts the response short (the gzip stream does not end)."""
    checkpoint = _checkpoint(engine, record, iteration)
    root = _root(record)
    try:
        store = engine.snapshots
        manifest = store.load(checkpoint.snapshot_id)
        written = engine.documents(record.id, as_of=checkpoint.iteration)
        extras = doc_files(docs_folder(manifest), written)
        pieces = tar_stream(manifest, store.fetch_verified, root, extras)
        first = next(pieces)  # the first slice fetched and verified: its errors are answers
    except SnapshotError as exc:
        log.error(
            "export_failed", session_id=record.id, iteration=checkpoint.iteration, error=str(exc)
        )
        return problems.problem(
            500, f"iteration {checkpoint.iteration}'s stored workspace could not be read"
        )
    name = f"{root}-iteration-{checkpoint.iteration}.tar.gz"
    return StreamingResponse(
        _logged(chain([first], pieces), record.id, checkpoint.iteration),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _logged(pieces: Iterator[bytes], session_id: str, iteration: int) -> Iterator[bytes]:
    try:
        yield from pieces
    except SnapshotError as exc:  # too late for a status: the client sees a cut stream
        log.error("export_cut_short", session_id=session_id, iteration=iteration, error=str(exc))
        raise
