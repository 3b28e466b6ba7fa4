"""The durable build session. `Engine` (in `cofounder.engine.service`) runs sessions on DBOS;
`Catalog` reads and steers them without importing DBOS, so read-only faces start fast."""

from cofounder.engine.catalog import Catalog
from cofounder.engine.errors import (
    BadInputError,
    ConfigurationError,
    EngineError,
    SessionBusyError,
    SessionFinishedError,
)
from cofounder.engine.feed import EventType

__all__ = [
    "BadInputError",
    "Catalog",
    "ConfigurationError",
    "EngineError",
    "EventType",
    "SessionBusyError",
    "SessionFinishedError",
]
