"""Reading a workspace into a manifest, re-hashing only files that may have changed.

A per-workspace hash cache keyed on (size, mtime, ctime, inode) answers for unchanged files, so
a snapshot of a large workspace with one edit hashes one file.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
import time
import uuid
from collections.abc import Collection
from pathlib import Path

import structlog

from cofounder.hostfs import (
    Beneath,
    Entry,
    NotRegularFile,
    open_regular_at,
    read_bytes,
    sha256_fd,
    walk,
)
from cofounder.storage.snapshots.manifest import (
    SHA256,
    Manifest,
    ManifestEntry,
    SnapshotError,
    decode_name,
    encode_name,
)
from cofounder.storage.snapshots.trees import TreeMemo

log = structlog.get_logger(__name__)
_NO_LIMIT = 1 << 62  # a snapshot holds whatever the workspace guard allowed
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
        self.trees: dict[str, str] = {}  # the last snapshot's tree id per directory
        # In memory only: the entry each path gave last time, with the stat it had and since
        # when it is trusted, so an unchanged path costs one stat and no new object.
        self.entries: dict[str, tuple[tuple[int, ...], int, ManifestEntry]] = {}
        self.tree_memo: TreeMemo = {}
        self.saved_as: tuple[int, int, int] | None = None  # the file's stat after our save
        if path and path.exists():
            try:
                raw = json.loads(path.read_text())
            except (OSError, ValueError):
                raw = None
            if isinstance(raw, dict) and isinstance(raw.get("files"), dict):
                self._data = raw["files"]
                last = raw.get("snapshot")
                self.snapshot = last if isinstance(last, str) and SHA256.match(last) else None
                trees = raw.get("trees")
                if self.snapshot and isinstance(trees, dict):
                    self.trees = {
                        str(d): t
                        for d, t in trees.items()
                        if isinstance(t, str) and SHA256.match(t)
                    }

    def get(self, rel: str, st: os.stat_result) -> str | None:
        hit = self._data.get(rel)
        if (
            isinstance(hit, list)
            and len(hit) == 6
            and hit[0] == st.st_size
            and hit[1] == st.st_mtime_ns
            and hit[2] == st.st_ctime_ns
            and hit[3] == st.st_ino
            and isinstance(hit[4], int)
            and st.st_ctime_ns < hit[4] - RACY_NS
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
        state = {"snapshot": self.snapshot, "trees": self.trees, "files": self._data}
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self._path)
        st = self._path.stat()
        self.saved_as = (st.st_mtime_ns, st.st_size, st.st_ino)

    def still_current(self) -> bool:
        """Whether the file on disk is still the one this object last saved."""
        if self._path is None or self.saved_as is None:
            return False
        try:
            st = self._path.stat()
        except OSError:
            return False
        return (st.st_mtime_ns, st.st_size, st.st_ino) == self.saved_as


class CacheShelf:
    """The hash caches a store last saved, kept with their in-memory entries (which make a
    re-scan cheap) for as long as each file on disk is still as the store left it."""

    def __init__(self) -> None:
        self._kept: dict[Path, HashCache] = {}
        self._lock = threading.Lock()

    def open(self, cache_file: Path | None) -> HashCache:
        if cache_file is None:
            return HashCache(None)
        with self._lock:
            kept = self._kept.get(cache_file)
        if kept is not None and kept.still_current():
            return kept
        cache = HashCache(cache_file)
        with self._lock:
            self._kept[cache_file] = cache
        return cache


def read_for_upload(root: Beneath, path: str) -> bytes | None:
    """The bytes of the manifest's file at `path`, by fd and following no link; None when it
    was removed or replaced by something else since the scan (a process is changing it)."""
    try:
        data, _ = read_bytes(root, decode_name(path), limit=_NO_LIMIT, follow=False)
    except (FileNotFoundError, NotRegularFile) as exc:
        log.info("snapshot_file_vanished", path=path, error=str(exc))
        return None
    except OSError as exc:
        if exc.errno != errno.ELOOP:  # ELOOP: a link on the way now, not the file we saw
            raise SnapshotError(f"cannot read {path} to snapshot it: {exc}") from exc
        log.info("snapshot_file_vanished", path=path, error=str(exc))
        return None
    return data


def hash_file(found: Entry) -> tuple[str, os.stat_result] | None:
    """The sha256 of a listed file and its stat as opened; None if it is no longer a file."""
    try:
        fd, st = open_regular_at(found.dir_fd, found.name)
    except OSError:
        return None
    try:
        return sha256_fd(fd)[0], st
    finally:
        os.close(fd)


def scan_workspace(
    workspace: Path, excludes: Collection[str], cache: HashCache
) -> tuple[Manifest, set[str]]:
    """The workspace as a manifest (sorted by path), and the cached paths still alive.

    Excluded folders are recorded by name only; nothing below them is read. Background
    processes may be changing the tree meanwhile, so it is walked by directory fds and files
    are opened without following links (`cofounder.hostfs`): nothing outside is ever read.
    """
    entries: list[ManifestEntry] = []
    live: set[str] = set()
    start = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for found in walk(start, descend=lambda e: e.name not in excludes):
            entry = _entry(found, excludes, cache)
            if entry is not None:
                entries.append(entry)
                if entry.kind == "file":
                    live.add(entry.path)
    finally:
        os.close(start)
    entries.sort(key=lambda e: e.path)
    return Manifest(entries=entries), live


def _entry(found: Entry, excludes: Collection[str], cache: HashCache) -> ManifestEntry | None:
    """One manifest entry, or None for an entry that vanished or changed kind meanwhile.

    An entry whose stat is as it was last time (and old enough to trust, as with hashes) is
    the same object again: this runs once per workspace entry on every iteration.
    """
    rel = encode_name(found.rel)
    st = found.st
    key = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    memo = cache.entries.get(rel)
    if memo is not None and memo[0] == key and st.st_ctime_ns < memo[1] - RACY_NS:
        return memo[2]
    entry = _fresh_entry(found, rel, excludes, cache)
    if entry is not None:
        cache.entries[rel] = (key, time.time_ns(), entry)
    return entry


def _fresh_entry(
    found: Entry, rel: str, excludes: Collection[str], cache: HashCache
) -> ManifestEntry | None:
    st = found.st
    mode = st.st_mode
    if stat.S_ISREG(mode):
        sha = cache.get(rel, st)
        if sha is None:
            hashed = hash_file(found)
            if hashed is None:
                return None
            sha, st = hashed
            cache.put(rel, st, sha)
        return ManifestEntry(
            path=rel,
            kind="file",
            mode=stat.S_IMODE(st.st_mode),
            size=st.st_size,
            sha256=sha,
            mtime_ns=st.st_mtime_ns,
        )
    if stat.S_ISDIR(mode):
        if found.name in excludes:
            return ManifestEntry(path=rel, kind="excluded")
        return ManifestEntry(path=rel, kind="dir", mode=stat.S_IMODE(mode), mtime_ns=st.st_mtime_ns)
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(found.name, dir_fd=found.dir_fd)
        except OSError:
            return None
        return ManifestEntry(
            path=rel, kind="symlink", target=encode_name(target), mtime_ns=st.st_mtime_ns
        )
    return None


def apply_upload_fixes(
    entries: list[ManifestEntry], fixes: dict[str, tuple[str, int] | None], cache: HashCache
) -> list[ManifestEntry]:
    """The entries with what uploading found: files that changed since the scan get their true
    hash and size; files that vanished are dropped. Their cache entries are forgotten."""
    fixed: list[ManifestEntry] = []
    for entry in entries:
        if entry.path in fixes:
            cache.drop(entry.path)
            fix = fixes[entry.path]
            if fix is None:
                continue
            entry = entry.model_copy(update={"sha256": fix[0], "size": fix[1]})
        fixed.append(entry)
    return fixed
