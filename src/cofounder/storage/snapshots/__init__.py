"""Workspace snapshots: what is recorded (`manifest`, `trees`), how a workspace is read
(`scan`) and written back (`apply`), the store itself (`store`), pruning (`retention`) and the
founder's copy (`export`, `history`). The names other code uses are re-exported here and load
on first use, so reading `manifest` (the settings do) never loads the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofounder.lazy import lazy_exports

if TYPE_CHECKING:
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

__getattr__ = lazy_exports(
    __name__,
    {
        "DEFAULT_EXCLUDES": "manifest",
        "Manifest": "manifest",
        "ManifestEntry": "manifest",
        "SnapshotError": "manifest",
        "decode_name": "manifest",
        "encode_name": "manifest",
        "PruneResult": "retention",
        "LocalSnapshotStore": "store",
        "SnapshotStore": "store",
        "TakeResult": "store",
    },
)

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
