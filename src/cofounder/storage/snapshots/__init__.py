"""Workspace snapshots: what is recorded (`manifest`, `trees`), how a workspace is read
(`scan`) and written back (`apply`), the store itself (`store`), pruning (`retention`) and the
founder's copy (`export`, `history`). The names other code uses are re-exported here."""

from cofounder.storage.snapshots.manifest import (
    DEFAULT_EXCLUDES,
    Manifest,
    ManifestEntry,
    SnapshotError,
    decode_name,
    encode_name,
)
from cofounder.storage.snapshots.retention import PruneResult
from cofounder.storage.snapshots.store import LocalSnapshotStore, SnapshotStore, TakeResult

__all__ = [
    "DEFAULT_EXCLUDES",
    "LocalSnapshotStore",
    "Manifest",
    "ManifestEntry",
    "PruneResult",
    "SnapshotError",
    "SnapshotStore",
    "TakeResult",
    "decode_name",
    "encode_name",
]
