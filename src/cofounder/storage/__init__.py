"""Application database (sessions, transcript, checkpoints, events, documents) and snapshots.

The names below load on first use (`cofounder.lazy`): importing the package loads neither
SQLAlchemy's ORM nor the snapshot store, so a command imports only what it touches."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofounder.lazy import lazy_exports

if TYPE_CHECKING:
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

__getattr__ = lazy_exports(
    __name__,
    {
        "Database": "db",
        "Documents": "documents",
        "Event": "events",
        "EventLog": "events",
        "ObjectStoreConfigError": "objectstore",
        "open_object_store": "objectstore",
        "OUTCOMES": "sessions",
        "NewSession": "sessions",
        "Outcome": "sessions",
        "SessionRecord": "sessions",
        "SessionStore": "sessions",
        "DEFAULT_EXCLUDES": "snapshots",
        "LocalSnapshotStore": "snapshots",
        "PruneResult": "snapshots",
        "SnapshotError": "snapshots",
        "SnapshotStore": "snapshots",
        "TakeResult": "snapshots",
        "Checkpoint": "transcript",
        "ContextSummary": "transcript",
        "Transcript": "transcript",
    },
)

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
