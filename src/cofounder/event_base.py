"""What every event is: frozen, closed, typed; most happen at an iteration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, PlainSerializer

# Stored as `datetime.isoformat()` ("+00:00", never "Z"): the JSON stays what it always was.
Timestamp = Annotated[AwareDatetime, PlainSerializer(datetime.isoformat, when_used="json")]


class BaseEvent(BaseModel):
    """Frozen (an event is history) and closed (a misspelt or unknown key is an error)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str


class AtIteration(BaseEvent):
    iteration: int
