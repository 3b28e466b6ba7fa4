"""Pruning a snapshot store down to the snapshots still wanted.

A kept snapshot that cannot be read stops the prune before anything is deleted. Run it while no
other process is taking snapshots of workspaces whose latest snapshot is not kept: such a
process may skip uploading a blob or tree it has seen stored before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cofounder.storage.snapshots.store import SnapshotStore

_BLOB_KEY = re.compile(r"^blobs/[0-9a-f]{2}/([0-9a-f]{64})$")
_TREE_KEY = re.compile(r"^trees/[0-9a-f]{2}/([0-9a-f]{64})$")


@dataclass(frozen=True)
class PruneResult:
    manifests_deleted: int
    blobs_deleted: int
    trees_deleted: int = 0


def prune_store(store: SnapshotStore, keep: set[str]) -> PruneResult:
    """Delete every snapshot not in `keep`, then every tree and blob none of them references."""
    blobs: set[str] = set()
    trees: set[str] = set()
    for snapshot_id in keep:
        manifest, tree_ids = store.load_with_trees(snapshot_id)
        blobs.update(e.sha256 for e in manifest.entries if e.sha256)
        trees.update(tree_ids.values())
    doomed_manifests = [store.manifest_key(i) for i in sorted(store.snapshot_ids() - keep)]
    doomed_trees = [
        key for key in store.keys("trees") if (m := _TREE_KEY.match(key)) and m[1] not in trees
    ]
    doomed_blobs = [
        key for key in store.keys("blobs") if (m := _BLOB_KEY.match(key)) and m[1] not in blobs
    ]
    # Manifests first: a snapshot is never left pointing at trees or blobs already gone.
    store.delete(doomed_manifests + doomed_trees + doomed_blobs)
    return PruneResult(len(doomed_manifests), len(doomed_blobs), len(doomed_trees))
