"""What the founder says to a build while it works: kept at once, read by the model at the
build's next iteration boundary, exactly once (a sleeping or waiting build: when it runs)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from cofounder.api.routes.common import CallerDep, EngineDep, OwnedSession
from cofounder.api.views import Printable
from cofounder.storage.founder_messages import MAX_CHARS, FounderMessageRecord, read_when

router = APIRouter(tags=["sessions"])


class Say(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: Printable = Field(min_length=1, max_length=MAX_CHARS)


class MessageView(BaseModel):
    model_config = ConfigDict(frozen=True)

    message_id: str
    session_id: str
    by: str
    text: str  # as kept: secrets redacted
    created_at: datetime
    delivered_iteration: int | None  # the iteration whose model call first had it
    read_when: str  # when the build reads it, in words

    @classmethod
    def of(cls, message: FounderMessageRecord, read_when: str) -> MessageView:
        return cls(
            message_id=message.id,
            session_id=message.session_id,
            by=message.by,
            text=message.text,
            created_at=message.created_at,
            delivered_iteration=message.delivered_iteration,
            read_when=read_when,
        )


@router.post("/sessions/{session_id}/messages", response_model=MessageView, status_code=202)
def say(engine: EngineDep, who: CallerDep, record: OwnedSession, body: Say) -> MessageView:
    """Tell the build something (409 once it has ended). Its text is redacted like every
    other stored text."""
    message = engine.say(record.id, body.text, by=who.owner)
    return MessageView.of(message, read_when(record.state, record.wake_at))


@router.get("/sessions/{session_id}/messages", response_model=list[MessageView])
def messages(engine: EngineDep, record: OwnedSession) -> list[MessageView]:
    """What the founder said to the build, oldest first; `delivered_iteration` once read."""
    pending = read_when(record.state, record.wake_at)
    return [
        MessageView.of(m, "read" if m.delivered_iteration is not None else pending)
        for m in engine.founder_messages(record.id)
    ]
