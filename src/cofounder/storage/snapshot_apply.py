"""Making a workspace match a manifest once every blob it needs is fetched and verified.

Kept apart from the store so the rules about what a restore touches sit in one short place:
paths the manifest lacks go, kinds that changed are replaced, file bytes come from a staging
folder by rename, and modes and modification times are put back last.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cofounder.storage.snapshot_manifest import Manifest, ManifestEntry, decode_name


def apply_manifest(
    wanted: Manifest,
    current: dict[str, ManifestEntry],
    workspace: Path,
    staged: dict[str, Path],
) -> None:
    """`current` is the workspace as just scanned; `staged` holds verified bytes by path for
    every file whose content differs. Rebuildable (excluded) folders that exist are kept."""
    wanted_paths = {e.path for e in wanted.entries}
    for path in sorted(set(current) - wanted_paths, reverse=True):
        _remove(workspace / decode_name(path), current[path])
    for entry in wanted.entries:
        have = current.get(entry.path)
        if entry.kind == "excluded" or entry.same_content(have):
            continue
        full = workspace / decode_name(entry.path)
        if have is not None and have.kind != entry.kind:
            _remove(full, have)
        if entry.kind == "dir":
            full.mkdir(parents=True, exist_ok=True)
            full.chmod(entry.mode)
        elif entry.kind == "symlink":
            full.unlink(missing_ok=True)
            assert entry.target is not None
            os.symlink(decode_name(entry.target), full)
        else:
            full.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staged[entry.path], full)  # a rename on the same file system
    _restore_times(wanted, current, workspace)
    for entry in wanted.entries:  # directory modes last: writing files may need them writable
        if entry.kind == "dir":
            (workspace / decode_name(entry.path)).chmod(entry.mode)


def _remove(full: Path, entry: ManifestEntry) -> None:
    if entry.kind in ("dir", "excluded"):
        shutil.rmtree(full, ignore_errors=True)
    else:
        full.unlink(missing_ok=True)


def _restore_times(wanted: Manifest, current: dict[str, ManifestEntry], workspace: Path) -> None:
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
        _set_mtime(workspace / decode_name(entry.path), entry.mtime_ns)
    for entry in folders:
        assert entry.mtime_ns is not None
        _set_mtime(workspace / decode_name(entry.path), entry.mtime_ns)


def _set_mtime(full: Path, mtime_ns: int) -> None:
    # A link's own time, never its target's (which may lie outside the workspace).
    os.utime(full, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
