"""A session's events: pages, and a live SSE stream that replays from any seq.

The events table is the source of truth: a stream sends the rows after the last seq it sent,
so a client that reconnects with `Last-Event-ID` gets every event once, in order, however long
ago the session ran. Live streams of one session share one poller per process (`api.fanout`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request

from cofounder.api.event_stream import EventStream
from cofounder.api.fanout import Fanout
from cofounder.api.routes.common import EngineDep, OwnedSession
from cofounder.api.views import EventPage, EventView

router = APIRouter(tags=["events"])

MAX_SEQ = 2**63 - 1
HEARTBEAT_SECONDS = 15.0  # a comment on an idle stream, so proxies keep it open


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


async def _fanout(request: Request, engine: EngineDep) -> Fanout:
    """The process's fan-out (one per event loop: its pollers are tasks on that loop)."""
    state = request.app.state
    loop = asyncio.get_running_loop()
    current: tuple[asyncio.AbstractEventLoop, Fanout] | None = getattr(state, "fanout", None)
    if current is None or current[0] is not loop or current[1].source is not engine:
        current = state.fanout = (loop, Fanout(engine))
    return current[1]


# status_code: FastAPI reads a response class's default status from its __init__, and
# EventStream's takes none (without it /openapi.json fails to build).
@router.get("/sessions/{session_id}/events/stream", response_class=EventStream, status_code=200)
async def stream(
    engine: EngineDep,
    record: OwnedSession,
    fanout: Annotated[Fanout, Depends(_fanout)],
    after: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None,
    last_event_id: Annotated[str | None, Header(max_length=30)] = None,
) -> EventStream:
    """SSE: `id` is the seq, `event` the type, `data` the event as `events --json` prints it.
    Resumes after `Last-Event-ID` (or `?after=`); ends after `session_finished` (at once for a
    finished session with nothing after the resume point); a `: ping` comment every 15 s keeps
    an idle connection open. A response lasts at most `event_stream_max_seconds`; the client
    resumes with `Last-Event-ID` (browsers' EventSource does so by itself)."""
    seq = _resume_point(last_event_id, after)
    live = record.state != "finished"
    lasting = engine.settings.event_stream_max_seconds
    return EventStream(
        fanout.follow(record.id, seq, live=live, idle=HEARTBEAT_SECONDS, lasting=lasting)
    )
