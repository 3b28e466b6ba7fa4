"""The durable build session: think, act, commit, finish on DBOS."""

from cofounder.engine.errors import (
    BadInputError,
    EngineError,
    SessionBusyError,
    SessionFinishedError,
)
from cofounder.engine.feed import EventType
from cofounder.engine.service import Engine

__all__ = [
    "BadInputError",
    "Engine",
    "EngineError",
    "EventType",
    "SessionBusyError",
    "SessionFinishedError",
]
