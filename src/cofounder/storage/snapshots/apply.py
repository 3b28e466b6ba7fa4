"""Making a workspace match a manifest once every blob it needs is fetched and verified.

Kept apart from the store so the rules about what a restore touches sit in one short place:
paths the manifest lacks go, kinds that changed are replaced, file bytes come from a staging
folder by rename, and modes and modification times are put back last.

Processes in the sandbox may still be running while a workspace is restored, so every path is
reached through `cofounder.hostfs` beneath a held workspace fd, following no link on the way
and acting on the last component without following it: a directory swapped for a symlink
makes the restore fail (to be retried), never write outside.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from cofounder.hostfs import Beneath, open_dir_at
from cofounder.storage.snapshots.manifest import Manifest, ManifestEntry, decode_name
from cofounder.storage.snapshots.scan import scan_workspace

if TYPE_CHECKING:
    from cofounder.storage.snapshots.store import SnapshotStore


def restore(
    store: SnapshotStore, snapshot_id: str, workspace: Path, cache_file: Path | None = None
) -> None:
    """Make `workspace` match the snapshot exactly; it is created if need be.

    Every blob needed is fetched and verified before the workspace is touched, so a missing
    or corrupt one leaves it as it was. Rebuildable (excluded) folders that existed then are
    left as they are; ones created since are removed, so a redone batch does not trip over
    its own half-finished work.
    """
    wanted, tree_ids = store.load_with_trees(snapshot_id)
    workspace.mkdir(parents=True, exist_ok=True)
    cache = store.open_cache(cache_file)
    scanned, live = scan_workspace(workspace, store.excludes, cache)
    current = {e.path: e for e in scanned.entries}
    to_write = [
        e for e in wanted.entries if e.kind == "file" and not e.same_content(current.get(e.path))
    ]
    staging = workspace.parent / f".{workspace.name}.restore-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:

        def stage(index: int, data: bytes) -> None:
            path = staging / str(index)
            path.write_bytes(data)
            path.chmod(to_write[index].mode)

        store.fetch_verified(to_write, stage)
        staged = {e.path: staging / str(i) for i, e in enumerate(to_write)}
        apply_manifest(wanted, current, workspace, staged)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    cache.snapshot = snapshot_id
    cache.trees = tree_ids  # stored trees only: a flat snapshot has none
    cache.save(live)


def apply_manifest(
    wanted: Manifest,
    current: dict[str, ManifestEntry],
    workspace: Path,
    staged: dict[str, Path],
) -> None:
    """`current` is the workspace as just scanned; `staged` holds verified bytes by path for
    every file whose content differs. Rebuildable (excluded) folders that exist are kept."""
    with Beneath(workspace) as root:
        wanted_paths = {e.path for e in wanted.entries}
        for path in sorted(set(current) - wanted_paths, reverse=True):
            _remove(root, path)
        for entry in wanted.entries:
            have = current.get(entry.path)
            if entry.kind == "excluded" or entry.same_content(have):
                continue
            if have is not None and have.kind != entry.kind:
                _remove(root, entry.path)
            _create(root, entry, staged)
        _restore_times(wanted, current, root)
        for entry in wanted.entries:  # directory modes last: writing files may need them writable
            if entry.kind == "dir":
                _chmod_dir(root, entry.path, entry.mode)


def _create(root: Beneath, entry: ManifestEntry, staged: dict[str, Path]) -> None:
    with root.locate(decode_name(entry.path), follow=False, make_parents=True) as spot:
        if entry.kind == "dir":
            with contextlib.suppress(FileExistsError):
                os.mkdir(spot.name, 0o700, dir_fd=spot.dir_fd)
            fd = open_dir_at(spot.dir_fd, spot.name)
            try:
                os.fchmod(fd, entry.mode)
            finally:
                os.close(fd)
        elif entry.kind == "symlink":
            assert entry.target is not None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spot.name, dir_fd=spot.dir_fd)
            os.symlink(decode_name(entry.target), spot.name, dir_fd=spot.dir_fd)
        else:  # a rename on the same file system; the name itself is replaced, never followed
            os.rename(staged[entry.path], spot.name, dst_dir_fd=spot.dir_fd)


def _remove(root: Beneath, path: str) -> None:
    """Remove whatever is at `path` now (a tree, a file or a link); gone already is fine."""
    try:
        with root.locate(decode_name(path), follow=False) as spot:
            try:
                os.unlink(spot.name, dir_fd=spot.dir_fd)
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                shutil.rmtree(spot.name, dir_fd=spot.dir_fd)
    except FileNotFoundError:
        pass  # a parent went first


def _chmod_dir(root: Beneath, path: str, mode: int) -> None:
    with root.locate(decode_name(path), follow=False) as spot:
        fd = open_dir_at(spot.dir_fd, spot.name)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _restore_times(wanted: Manifest, current: dict[str, ManifestEntry], root: Beneath) -> None:
    """Files and links whose time differs, then every folder: creating, moving or removing an
    entry changes its folder's mtime, so folders come after everything inside them is done.
    A manifest from before times were recorded leaves them as they fall."""
    folders: list[ManifestEntry] = []
    for entry in wanted.entries:
        if entry.mtime_ns is None or entry.kind == "excluded":
            continue
        if entry.kind == "dir":
            folders.append(entry)
            continue
        have = current.get(entry.path)
        if entry.same_content(have) and have is not None and have.mtime_ns == entry.mtime_ns:
            continue
        _set_mtime(root, entry.path, entry.mtime_ns)
    for entry in folders:
        assert entry.mtime_ns is not None
        _set_mtime(root, entry.path, entry.mtime_ns)


def _set_mtime(root: Beneath, path: str, mtime_ns: int) -> None:
    # The entry's own time, never a link target's (which may lie outside the workspace).
    with root.locate(decode_name(path), follow=False) as spot:
        os.utime(spot.name, ns=(mtime_ns, mtime_ns), dir_fd=spot.dir_fd, follow_symlinks=False)
