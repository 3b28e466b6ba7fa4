"""Application database (sessions, transcript, checkpoints, events, documents) and snapshots."""

from cofounder.storage.db import Database
from cofounder.storage.documents import Documents
from cofounder.storage.events import Event, EventLog
from cofounder.storage.objectstore import ObjectStoreConfigError, open_object_store
from cofounder.storage.sessions import (
    OUTCOMES,
    NewSession,
    Outcome,
    SessionRecord,
    SessionStore,
)
from cofounder.storage.snapshots import (
    DEFAULT_EXCLUDES,
    LocalSnapshotStore,
    PruneResult,
    SnapshotError,
    SnapshotStore,
    TakeResult,
)
from cofounder.storage.transcript import Checkpoint, ContextSummary, Transcript

__all__ = [
    "DEFAULT_EXCLUDES",
    "OUTCOMES",
    "Checkpoint",
    "ContextSummary",
    "Database",
    "Documents",
    "Event",
    "EventLog",
    "LocalSnapshotStore",
    "NewSession",
    "ObjectStoreConfigError",
    "Outcome",
    "PruneResult",
    "SessionRecord",
    "SessionStore",
    "SnapshotError",
    "SnapshotStore",
    "TakeResult",
    "Transcript",
    "open_object_store",
]
