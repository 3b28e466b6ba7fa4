"""A snapshot as a gzipped tar: the founder's copy of the code, with modes, links and times.

Separate from the store because it only needs a manifest and a way to fetch verified bytes.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from cofounder.storage.snapshot_manifest import Manifest, ManifestEntry, decode_name

_T = TypeVar("_T")
# Fetches and verifies every entry's blob, handing each (by index) to the sink; raises
# SnapshotError naming every bad blob.
FetchVerified = Callable[[list[ManifestEntry], Callable[[int, bytes], None]], None]


def write_tar(manifest: Manifest, fetch: FetchVerified, out: Path, root: str) -> int:
    """Write every recorded path under `root/`; returns the number of files. On any problem
    `out` is not created (the tar is written beside it and renamed at the end)."""
    entries = [e for e in manifest.entries if e.kind != "excluded"]
    files = [e for e in entries if e.kind == "file"]
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            top = tarfile.TarInfo(root)
            top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            tar.addfile(top)
            blobs: dict[int, bytes] = {}
            # Fetch in slices so memory holds a bounded number of blobs at once.
            for chunk in chunks(files, 64):
                blobs.clear()
                fetch(chunk, blobs.__setitem__)
                for index, entry in enumerate(chunk):
                    info = _tar_info(entry, root)
                    info.size = len(blobs[index])
                    tar.addfile(info, io.BytesIO(blobs[index]))
            for entry in entries:
                if entry.kind != "file":
                    tar.addfile(_tar_info(entry, root))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return len(files)


def _tar_info(entry: ManifestEntry, root: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"{root}/{decode_name(entry.path)}")
    # The recorded time when there is one (manifests from before times were kept lack it).
    info.mtime = entry.mtime_ns // 1_000_000_000 if entry.mtime_ns else int(time.time())
    info.mode = entry.mode
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type, info.mode = tarfile.SYMTYPE, 0o777
        info.linkname = decode_name(entry.target or "")
    return info


def chunks(items: list[_T], size: int) -> Iterable[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
