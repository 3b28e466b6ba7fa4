"""Content-addressed workspace snapshots on the local disk.

A snapshot is a manifest (paths, modes, sizes, sha256, symlink targets) whose own hash is its id;
file contents live once each as blobs. Taking one uploads only blobs the store lacks, and files
whose size and mtime are unchanged are not re-hashed. Restoring makes a workspace match a
manifest exactly (rebuildable folders such as `node_modules` aside).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import stat
import time
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

DEFAULT_EXCLUDES = frozenset(
    {
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".cache",
    }
)


class SnapshotError(Exception):
    """A snapshot could not be taken, or a stored one is missing or corrupt."""


_RAW = "\x00b64:"  # NUL cannot occur in a POSIX name, so this prefix is unambiguous


def encode_name(name: str) -> str:
    """A JSON-safe, lossless form of a path from os.walk (which may carry non-UTF-8 bytes)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return _RAW + base64.b64encode(os.fsencode(name)).decode()


def decode_name(stored: str) -> str:
    if stored.startswith(_RAW):
        return os.fsdecode(base64.b64decode(stored.removeprefix(_RAW)))
    return stored


class ManifestEntry(BaseModel):
    """`path` and `target` are stored with `encode_name`; "excluded" marks a rebuildable dir
    (its name only), so a restore can remove one that an interrupted batch created."""

    model_config = ConfigDict(frozen=True)

    path: str
    kind: Literal["file", "dir", "symlink", "excluded"]
    mode: int = 0
    size: int = 0
    sha256: str | None = None
    target: str | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    entries: list[ManifestEntry]


# A cached hash is trusted only for a file whose ctime is this much older than the moment it was
# cached: a later write within the same clock tick would otherwise keep every stat field equal.
_RACY_NS = 2_000_000_000


class _HashCache:
    """(size, mtime, ctime, inode) → sha256, persisted per workspace so re-hashing is rare.

    ctime is in the key because the sandbox can set mtime (`touch -d`, `cp -p`, `tar x`) but not
    ctime; entries cached within `_RACY_NS` of the file's last change are re-hashed (git's rule).
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._data: dict[str, list[object]] = {}
        if path and path.exists():
            try:
                self._data = json.loads(path.read_text())
            except (OSError, ValueError):
                self._data = {}

    def get(self, rel: str, st: os.stat_result) -> str | None:
        hit = self._data.get(rel)
        if (
            hit
            and len(hit) == 6
            and hit[:4] == [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
            and st.st_ctime_ns < int(str(hit[4])) - _RACY_NS
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

    def save(self, live: set[str]) -> None:
        if self._path is None:
            return
        self._data = {k: v for k, v in self._data.items() if k in live}
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._data))
        os.replace(tmp, self._path)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class LocalSnapshotStore:
    def __init__(self, root: Path, excludes: frozenset[str] = DEFAULT_EXCLUDES) -> None:
        self._blobs = root / "blobs"
        self._manifests = root / "manifests"
        self._excludes = excludes
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._manifests.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, sha: str) -> Path:
        return self._blobs / sha[:2] / sha

    def _put_blob_from(self, source: Path, sha: str) -> tuple[str, int] | None:
        """Store `source`'s bytes as a blob unless blob `sha` is already stored.

        Returns the hash and size of the bytes stored, which are not `sha` when the file changed
        after it was hashed (a process still writing it, or a stale hash cache entry): the blob
        is then filed under its true hash, so no blob ever fails its own check.
        """
        if self._blob_path(sha).exists():
            return None
        tmp = self._blobs / f".{uuid.uuid4().hex}.tmp"  # unique per call: threads share a pid
        digest = hashlib.sha256()
        size = 0
        try:
            with source.open("rb") as src, tmp.open("wb") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
            actual = digest.hexdigest()
            target = self._blob_path(actual)
            target.parent.mkdir(exist_ok=True)
            with contextlib.suppress(FileExistsError):  # create-only: the first writer wins
                os.link(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return actual, size

    def scan(self, workspace: Path, cache_file: Path | None = None) -> Manifest:
        cache = _HashCache(cache_file)
        entries: list[ManifestEntry] = []
        live: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(workspace):
            base = Path(dirpath)
            for name in sorted(d for d in dirnames if d in self._excludes):
                rel = encode_name((base / name).relative_to(workspace).as_posix())
                entries.append(ManifestEntry(path=rel, kind="excluded"))
            dirnames[:] = sorted(d for d in dirnames if d not in self._excludes)
            for name in dirnames + sorted(filenames):
                full = base / name
                rel = encode_name(full.relative_to(workspace).as_posix())
                st = full.lstat()
                if stat.S_ISLNK(st.st_mode):
                    entries.append(
                        ManifestEntry(
                            path=rel, kind="symlink", target=encode_name(os.readlink(full))
                        )
                    )
                elif stat.S_ISDIR(st.st_mode):
                    entries.append(
                        ManifestEntry(path=rel, kind="dir", mode=stat.S_IMODE(st.st_mode))
                    )
                elif stat.S_ISREG(st.st_mode):
                    sha = cache.get(rel, st) or _sha256_file(full)
                    cache.put(rel, st, sha)
                    live.add(rel)
                    entries.append(
                        ManifestEntry(
                            path=rel,
                            kind="file",
                            mode=stat.S_IMODE(st.st_mode),
                            size=st.st_size,
                            sha256=sha,
                        )
                    )
        cache.save(live)
        entries.sort(key=lambda e: e.path)
        return Manifest(entries=entries)

    def take(self, workspace: Path, cache_file: Path | None = None) -> str:
        """Record the workspace; returns the snapshot id (the manifest's sha256)."""
        entries: list[ManifestEntry] = []
        for entry in self.scan(workspace, cache_file).entries:
            if entry.kind == "file" and entry.sha256:
                stored = self._put_blob_from(workspace / decode_name(entry.path), entry.sha256)
                if stored is not None and stored != (entry.sha256, entry.size):
                    entry = entry.model_copy(update={"sha256": stored[0], "size": stored[1]})
            entries.append(entry)
        body = Manifest(entries=entries).model_dump_json().encode()
        snapshot_id = hashlib.sha256(body).hexdigest()
        path = self._manifests / f"{snapshot_id}.json"
        if not path.exists():
            tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(body)
            os.replace(tmp, path)
        return snapshot_id

    def load(self, snapshot_id: str) -> Manifest:
        path = self._manifests / f"{snapshot_id}.json"
        try:
            body = path.read_bytes()
        except FileNotFoundError as exc:
            raise SnapshotError(f"snapshot {snapshot_id} is missing from the store") from exc
        if hashlib.sha256(body).hexdigest() != snapshot_id:
            raise SnapshotError(f"snapshot manifest {snapshot_id} is corrupt (hash mismatch)")
        return Manifest.model_validate_json(body)

    def restore(self, snapshot_id: str, workspace: Path, cache_file: Path | None = None) -> None:
        """Make `workspace` match the snapshot exactly.

        Rebuildable (excluded) folders that existed then are left as they are; ones created
        since are removed, so a redone batch does not trip over its own half-finished work.
        """
        wanted = self.load(snapshot_id)
        current = {e.path: e for e in self.scan(workspace, cache_file).entries}
        wanted_paths = {e.path for e in wanted.entries}
        for path in sorted(set(current) - wanted_paths, reverse=True):
            full = workspace / decode_name(path)
            if current[path].kind in ("dir", "excluded"):
                shutil.rmtree(full, ignore_errors=True)
            else:
                full.unlink(missing_ok=True)
        for entry in wanted.entries:
            full = workspace / decode_name(entry.path)
            have = current.get(entry.path)
            if have == entry or entry.kind == "excluded":
                continue
            if have is not None and have.kind != entry.kind:
                if have.kind in ("dir", "excluded"):
                    shutil.rmtree(full)
                else:
                    full.unlink()
            if entry.kind == "dir":
                full.mkdir(parents=True, exist_ok=True)
                full.chmod(entry.mode)
            elif entry.kind == "symlink":
                full.unlink(missing_ok=True)
                assert entry.target is not None
                os.symlink(decode_name(entry.target), full)
            else:
                self._write_file(entry, full)
        for entry in wanted.entries:  # directory modes last: writing files may need them writable
            if entry.kind == "dir":
                (workspace / decode_name(entry.path)).chmod(entry.mode)

    def _write_file(self, entry: ManifestEntry, full: Path) -> None:
        assert entry.sha256 is not None
        blob = self._blob_path(entry.sha256)
        if not blob.exists():
            raise SnapshotError(f"blob {entry.sha256} for {entry.path} is missing from the store")
        full.parent.mkdir(parents=True, exist_ok=True)
        tmp = full.with_name(f".{full.name}.restore.tmp")
        shutil.copyfile(blob, tmp)
        if _sha256_file(tmp) != entry.sha256:
            tmp.unlink()
            raise SnapshotError(f"blob {entry.sha256} for {entry.path} is corrupt (hash mismatch)")
        tmp.chmod(entry.mode)
        os.replace(tmp, full)
