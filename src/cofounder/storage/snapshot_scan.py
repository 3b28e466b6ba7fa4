"""Reading a workspace into a manifest, re-hashing only files that may have changed.

A per-workspace hash cache keyed on (size, mtime, ctime, inode) answers for unchanged files, so
a snapshot of a large workspace with one edit hashes one file.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
import uuid
from collections.abc import Collection
from pathlib import Path

from cofounder.storage.snapshot_manifest import SHA256, Manifest, ManifestEntry, encode_name

# A cached hash is trusted only for a file whose ctime is this much older than the moment it was
# cached: a later write within the same clock tick would otherwise keep every stat field equal.
RACY_NS = 2_000_000_000


class HashCache:
    """(size, mtime, ctime, inode) → sha256, persisted per workspace so re-hashing is rare.

    ctime is in the key because the sandbox can set mtime (`touch -d`, `cp -p`, `tar x`) but not
    ctime; entries cached within `RACY_NS` of the file's last change are re-hashed (git's rule).
    The file also names the workspace's last snapshot, whose blobs are then known to be stored.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._data: dict[str, list[object]] = {}
        self.snapshot: str | None = None
        if path and path.exists():
            try:
                raw = json.loads(path.read_text())
            except (OSError, ValueError):
                raw = None
            if isinstance(raw, dict) and isinstance(raw.get("files"), dict):
                self._data = raw["files"]
                last = raw.get("snapshot")
                self.snapshot = last if isinstance(last, str) and SHA256.match(last) else None

    def get(self, rel: str, st: os.stat_result) -> str | None:
        hit = self._data.get(rel)
        if (
            isinstance(hit, list)
            and len(hit) == 6
            and hit[:4] == [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
            and st.st_ctime_ns < int(str(hit[4])) - RACY_NS
        ):
            return str(hit[5])
        return None

    def put(self, rel: str, st: os.stat_result, sha: str) -> None:
        self._data[rel] = [
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_ino,
            time.time_ns(),
            sha,
        ]

    def drop(self, rel: str) -> None:
        self._data.pop(rel, None)

    def save(self, live: set[str]) -> None:
        if self._path is None:
            return
        self._data = {k: v for k, v in self._data.items() if k in live}
        tmp = self._path.with_name(f".{self._path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps({"snapshot": self.snapshot, "files": self._data}))
        os.replace(tmp, self._path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def scan_workspace(
    workspace: Path, excludes: Collection[str], cache: HashCache
) -> tuple[Manifest, set[str]]:
    """The workspace as a manifest (sorted by path), and the cached paths still alive.

    Excluded folders are recorded by name only; nothing below them is read.
    """
    entries: list[ManifestEntry] = []
    live: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(workspace):
        base = Path(dirpath)
        for name in sorted(d for d in dirnames if d in excludes):
            rel = encode_name((base / name).relative_to(workspace).as_posix())
            entries.append(ManifestEntry(path=rel, kind="excluded"))
        dirnames[:] = sorted(d for d in dirnames if d not in excludes)
        for name in dirnames + sorted(filenames):
            full = base / name
            rel = encode_name(full.relative_to(workspace).as_posix())
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = encode_name(os.readlink(full))
                entries.append(
                    ManifestEntry(path=rel, kind="symlink", target=target, mtime_ns=st.st_mtime_ns)
                )
            elif stat.S_ISDIR(st.st_mode):
                entries.append(
                    ManifestEntry(
                        path=rel, kind="dir", mode=stat.S_IMODE(st.st_mode), mtime_ns=st.st_mtime_ns
                    )
                )
            elif stat.S_ISREG(st.st_mode):
                sha = cache.get(rel, st) or sha256_file(full)
                cache.put(rel, st, sha)
                live.add(rel)
                entries.append(
                    ManifestEntry(
                        path=rel,
                        kind="file",
                        mode=stat.S_IMODE(st.st_mode),
                        size=st.st_size,
                        sha256=sha,
                        mtime_ns=st.st_mtime_ns,
                    )
                )
    entries.sort(key=lambda e: e.path)
    return Manifest(entries=entries), live
