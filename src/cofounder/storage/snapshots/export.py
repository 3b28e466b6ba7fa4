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
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            for _ in _fill(tar, manifest, fetch, root, extras):
                pass
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return sum(1 for e in manifest.entries if e.kind == "file")


def tar_stream(
    manifest: Manifest,
    fetch: FetchVerified,
    root: str,
    extras: Sequence[ExtraFile | ExtraTree] = (),
) -> Iterator[bytes]:
    """The archive `write_tar` writes, as gzip pieces while it is made (an HTTP export sends
    each on at once: nothing is written to disk and memory holds one slice of blobs). The
    first piece comes after the first slice was fetched and verified, so most bad blobs are
    raised before anything is sent; a later one ends the stream early with SnapshotError."""
    sink = _Pieces()
    with tarfile.open(fileobj=sink, mode="w|gz") as tar:  # type: ignore[call-overload]
        for _ in _fill(tar, manifest, fetch, root, extras):
            if sink.size:
                yield sink.take()
    yield sink.take()


class _Pieces:
    """A write-only file whose bytes are taken as they come."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def take(self) -> bytes:
        data, self._parts, self.size = b"".join(self._parts), [], 0
        return data


def _fill(
    tar: tarfile.TarFile,
    manifest: Manifest,
    fetch: FetchVerified,
    root: str,
    extras: Sequence[ExtraFile | ExtraTree],
) -> Iterator[None]:
    """Add every recorded path under `root/`, then the extras; pauses after each slice of
    files (fetched in slices so memory holds a bounded number of blobs at once)."""
    entries = [e for e in manifest.entries if e.kind != "excluded"]
    files = [e for e in entries if e.kind == "file"]
    now = int(time.time())
    tar.addfile(_dir_info(root, now))
    blobs: dict[int, bytes] = {}
    for chunk in chunks(files, 64):
        blobs.clear()
        fetch(chunk, blobs.__setitem__)
        for index, entry in enumerate(chunk):
            info = _tar_info(entry, root)
            info.size = len(blobs[index])
            tar.addfile(info, io.BytesIO(blobs[index]))
        yield
    for entry in entries:
        if entry.kind != "file":
            tar.addfile(_tar_info(entry, root))
    _add_extras(tar, root, extras, now)
    yield


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
    for section in reading_order(sections):
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


def reading_order(sections: Iterable[str]) -> list[str]:
    """Section names in the order a founder reads them: the known ones first, then the rest
    by name."""
    return sorted(sections, key=lambda s: (_KNOWN_SECTIONS.get(s, "~"), s))
