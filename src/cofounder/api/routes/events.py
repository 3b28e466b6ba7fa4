"""A session's events: pages, and a live SSE stream that replays from any seq.

The events table is the source of truth: a stream is a loop that reads rows after the last
seq it sent, so a client that reconnects with `Last-Event-ID` gets every event once, in order,
however long ago the session ran."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from cofounder.api.routes.common import EngineDep, OwnedSession
from cofounder.api.views import EventPage, EventView
from cofounder.engine import Engine

router = APIRouter(tags=["events"])

MAX_SEQ = 2**63 - 1
POLL_SECONDS = 0.2  # how often a stream looks for new rows
BATCH = 500


@router.get("/sessions/{session_id}/events", response_model=EventPage)
def events(
    engine: EngineDep,
    record: OwnedSession,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> EventPage:
    page = engine.events_after(record.id, after, limit=limit)
    return EventPage(
        events=[EventView.of(e) for e in page], next_after=page[-1].seq if page else after
    )


def _resume_point(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is not None and last_event_id.strip().isdigit():
        return min(int(last_event_id.strip()), MAX_SEQ)
    return after or 0


@router.get("/sessions/{session_id}/events/stream", response_class=EventSourceResponse)
async def stream(
    request: Request,
    engine: EngineDep,
    record: OwnedSession,
    after: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None,
    last_event_id: Annotated[str | None, Header(max_length=30)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """SSE: `id` is the seq, `event` the type, `data` the event as `events --json` prints it.
    Ends after `session_finished`; a heartbeat comment keeps idle connections open."""
    seq = _resume_point(last_event_id, after)
    async for event in _follow(engine, record.id, seq, request):
        yield event


async def _follow(
    engine: Engine, session_id: str, seq: int, request: Request
) -> AsyncIterator[ServerSentEvent]:
    while True:
        batch = await asyncio.to_thread(engine.events_after, session_id, seq, limit=BATCH)
        for event in batch:
            seq = event.seq
            yield ServerSentEvent(raw_data=event.to_json_line(), event=event.type, id=str(seq))
            if event.type == "session_finished":
                return
        if len(batch) < BATCH:
            if await request.is_disconnected():
                return
            await asyncio.sleep(POLL_SECONDS)
