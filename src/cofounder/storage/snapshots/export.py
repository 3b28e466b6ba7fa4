"""A snapshot as a gzipped tar: the founder's copy of the code, with modes, links and times.

Separate from the store because it only needs a manifest and a way to fetch verified bytes.
Besides the code the archive may carry extras the export adds: the agent's documentation as
Markdown files (in a folder whose name cannot clash with the app's own) and a git history.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cofounder.storage.snapshots.manifest import Manifest, ManifestEntry, decode_name

_T = TypeVar("_T")
# Fetches and verifies every entry's blob, handing each (by index) to the sink; raises
# SnapshotError naming every bad blob.
FetchVerified = Callable[[list[ManifestEntry], Callable[[int, bytes], None]], None]

DOCS_FOLDER = "COFOUNDER_DOCS"
# The sections the agent writes, in reading order, with their file names.
_KNOWN_SECTIONS = {
    "overview": "1-overview.md",
    "features": "2-features.md",
    "getting_started": "3-getting-started.md",
    "faq": "4-faq.md",
}


@dataclass(frozen=True)
class ExtraFile:
    """A file the export adds beside the code; `path` is relative to the archive's root."""

    path: str
    data: bytes


@dataclass(frozen=True)
class ExtraTree:
    """A folder on disk added, with everything under it, at `path` under the archive's root."""

    source: Path
    path: str


def write_tar(
    manifest: Manifest,
    fetch: FetchVerified,
    out: Path,
    root: str,
    extras: Sequence[ExtraFile | ExtraTree] = (),
) -> int:
    """Write every recorded path under `root/`, then the extras; returns the number of code
    files. On any problem `out` is not created (the tar is written beside it and renamed at
    the end)."""
    entries = [e for e in manifest.entries if e.kind != "excluded"]
    files = [e for e in entries if e.kind == "file"]
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    now = int(time.time())
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            tar.addfile(_dir_info(root, now))
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
            _add_extras(tar, root, extras, now)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return len(files)


def _add_extras(
    tar: tarfile.TarFile, root: str, extras: Sequence[ExtraFile | ExtraTree], now: int
) -> None:
    folders: set[str] = set()
    for extra in extras:
        if isinstance(extra, ExtraTree):
            tar.add(extra.source, arcname=f"{root}/{extra.path}", filter=_anonymous)
            continue
        parent = extra.path.rpartition("/")[0]
        if parent and parent not in folders:
            folders.add(parent)
            tar.addfile(_dir_info(f"{root}/{parent}", now))
        info = tarfile.TarInfo(f"{root}/{extra.path}")
        info.mode, info.mtime, info.size = 0o644, now, len(extra.data)
        tar.addfile(info, io.BytesIO(extra.data))


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """The exporting user's ids and names are not the founder's business (nor useful)."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _dir_info(name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
    return info


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


def docs_folder(manifest: Manifest) -> str:
    """`COFOUNDER_DOCS`, or `COFOUNDER_DOCS-2`, -3… when the code already has a path by that
    name (compared without case, so the archive also unpacks on case-insensitive disks)."""
    taken = {decode_name(e.path).split("/", 1)[0].casefold() for e in manifest.entries}
    name, n = DOCS_FOLDER, 1
    while name.casefold() in taken:
        n += 1
        name = f"{DOCS_FOLDER}-{n}"
    return name


def doc_files(folder: str, sections: dict[str, str]) -> list[ExtraFile]:
    """One Markdown file per documented section. Known sections get fixed names in reading
    order; any other section name is untrusted text, so it becomes a lower-case slug (never a
    `/`, `..` or control character), numbered when two slugs meet."""
    files: list[ExtraFile] = []
    used: set[str] = set(_KNOWN_SECTIONS.values())
    for section in sorted(sections, key=lambda s: (_KNOWN_SECTIONS.get(s, "~"), s)):
        name = _KNOWN_SECTIONS.get(section)
        if name is None:
            slug = re.sub(r"[^a-z0-9]+", "-", section.casefold()).strip("-")[:60] or "section"
            name, n = f"{slug}.md", 1
            while name in used:
                n += 1
                name = f"{slug}-{n}.md"
            used.add(name)
        files.append(ExtraFile(f"{folder}/{name}", sections[section].encode("utf-8")))
    return files
