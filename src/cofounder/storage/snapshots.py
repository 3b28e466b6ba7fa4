"""Content-addressed workspace snapshots in an object store (obstore: local dir, S3, memory).

A snapshot is a manifest (paths, modes, sizes, sha256, symlink targets) whose own hash is its id,
stored at `manifests/<id>.json`; file contents live once each as blobs at
`blobs/<sha[:2]>/<sha>`. Taking one uploads only blobs the store lacks, and files whose size,
mtime, ctime and inode are unchanged are not re-hashed. Every write is create-only (a conditional
put), so two writers never clobber each other: an object that already exists under a content
address already holds those bytes. Restoring makes a workspace match a manifest exactly
(rebuildable folders such as `node_modules` aside) after verifying every blob it fetches.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from obstore.exceptions import AlreadyExistsError, BaseError
from obstore.store import LocalStore
from pydantic import BaseModel, ConfigDict

from cofounder.storage.objectstore import describe

if TYPE_CHECKING:
    from obstore.store import ObjectStore

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


_T = TypeVar("_T")
_R = TypeVar("_R")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_BLOB_KEY = re.compile(r"^blobs/[0-9a-f]{2}/([0-9a-f]{64})$")
_MANIFEST_KEY = re.compile(r"^manifests/([0-9a-f]{64})\.json$")
_WORKERS = 16  # obstore releases the GIL; S3 round trips overlap


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
                self.snapshot = last if isinstance(last, str) and _SHA.match(last) else None

    def get(self, rel: str, st: os.stat_result) -> str | None:
        hit = self._data.get(rel)
        if (
            isinstance(hit, list)
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

    def drop(self, rel: str) -> None:
        self._data.pop(rel, None)

    def save(self, live: set[str]) -> None:
        if self._path is None:
            return
        self._data = {k: v for k, v in self._data.items() if k in live}
        tmp = self._path.with_name(f".{self._path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps({"snapshot": self.snapshot, "files": self._data}))
        os.replace(tmp, self._path)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _map(fn: Callable[[_T], _R], items: list[_T]) -> list[_R]:
    if len(items) <= 2:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(_WORKERS, len(items))) as pool:
        return list(pool.map(fn, items))


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


@dataclass(frozen=True)
class TakeResult:
    """What one `take` did: the id, and how much it had to check and send."""

    snapshot_id: str
    files: int
    blobs_checked: int  # existence checks sent to the store (HEAD), blobs not known locally
    blobs_uploaded: int
    bytes_uploaded: int  # blob bytes plus the manifest, when it was new


@dataclass(frozen=True)
class PruneResult:
    manifests_deleted: int
    blobs_deleted: int


class SnapshotStore:
    """Snapshots over any obstore store; one instance may serve many threads."""

    def __init__(self, store: ObjectStore, excludes: frozenset[str] = DEFAULT_EXCLUDES) -> None:
        self._store = store
        self._excludes = excludes
        # Blobs this process has seen stored (uploaded, found, fetched, or named by a verified
        # manifest): they are not checked again. Only `prune` deletes blobs, and it forgets.
        self._known: set[str] = set()
        self._seeded: set[str] = set()
        self._lock = threading.Lock()

    @property
    def excludes(self) -> frozenset[str]:
        return self._excludes

    @property
    def location(self) -> str:
        return describe(self._store)

    @staticmethod
    def blob_key(sha: str) -> str:
        return f"blobs/{sha[:2]}/{sha}"

    @staticmethod
    def manifest_key(snapshot_id: str) -> str:
        return f"manifests/{snapshot_id}.json"

    # -- taking ------------------------------------------------------------------------------

    def scan(self, workspace: Path, cache_file: Path | None = None) -> Manifest:
        cache = _HashCache(cache_file)
        manifest, live = self._scan(workspace, cache)
        cache.save(live)
        return manifest

    def _scan(self, workspace: Path, cache: _HashCache) -> tuple[Manifest, set[str]]:
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
        entries.sort(key=lambda e: e.path)
        return Manifest(entries=entries), live

    def take(self, workspace: Path, cache_file: Path | None = None) -> str:
        """Record the workspace; returns the snapshot id (the manifest's sha256)."""
        return self.take_with_stats(workspace, cache_file).snapshot_id

    def take_with_stats(self, workspace: Path, cache_file: Path | None = None) -> TakeResult:
        cache = _HashCache(cache_file)
        manifest, live = self._scan(workspace, cache)
        if cache.snapshot:
            self._seed(cache.snapshot)
        files = [e for e in manifest.entries if e.kind == "file" and e.sha256]
        by_sha: dict[str, list[ManifestEntry]] = {}
        for entry in files:
            assert entry.sha256 is not None
            by_sha.setdefault(entry.sha256, []).append(entry)
        with self._lock:
            unknown = [sha for sha in by_sha if sha not in self._known]
        present = _map(self._exists, unknown)
        missing = [sha for sha, there in zip(unknown, present, strict=True) if not there]
        uploads = _map(lambda sha: self._upload(workspace, by_sha[sha]), missing)
        fixes: dict[str, tuple[str, int]] = {}
        sent = 0
        for fixed, nbytes in uploads:
            fixes.update(fixed)
            sent += nbytes
        entries: list[ManifestEntry] = []
        for entry in manifest.entries:
            if entry.path in fixes:  # the bytes were not what the scan (or cache) said
                sha, size = fixes[entry.path]
                entry = entry.model_copy(update={"sha256": sha, "size": size})
                cache.drop(entry.path)
            entries.append(entry)
        body = Manifest(entries=entries).model_dump_json().encode()
        snapshot_id = hashlib.sha256(body).hexdigest()
        if self._put_create(self.manifest_key(snapshot_id), body):
            sent += len(body)
        with self._lock:
            self._seeded.add(snapshot_id)
        cache.snapshot = snapshot_id
        cache.save(live)
        return TakeResult(
            snapshot_id=snapshot_id,
            files=len(files),
            blobs_checked=len(unknown),
            blobs_uploaded=sum(1 for _, n in uploads if n),
            bytes_uploaded=sent,
        )

    def _exists(self, sha: str) -> bool:
        try:
            self._store.head(self.blob_key(sha))
        except FileNotFoundError:
            return False
        except BaseError as exc:
            raise SnapshotError(
                f"cannot check blob {sha} in {self.location}: {_first_line(exc)}"
            ) from exc
        with self._lock:
            self._known.add(sha)
        return True

    def _put_create(self, key: str, body: bytes) -> bool:
        """Create-only write; False when the key already exists (same content by its name)."""
        try:
            self._store.put(key, body, mode="create")
        except AlreadyExistsError:
            return False
        except BaseError as exc:
            raise SnapshotError(
                f"cannot write {key} to {self.location}: {_first_line(exc)}"
            ) from exc
        return True

    def _upload(
        self, workspace: Path, entries: list[ManifestEntry]
    ) -> tuple[dict[str, tuple[str, int]], int]:
        """Store the blob that `entries` (paths believed to share one hash) name.

        A file that changed after it was hashed (a process still writing it, or a stale cache
        entry) is filed under its true hash and reported as a fix, so no blob ever fails its
        own check; the next path with the same believed hash is tried then.
        """
        fixes: dict[str, tuple[str, int]] = {}
        sent = 0
        for entry in entries:
            assert entry.sha256 is not None
            try:
                data = (workspace / decode_name(entry.path)).read_bytes()
            except OSError as exc:
                raise SnapshotError(f"cannot read {entry.path} to snapshot it: {exc}") from exc
            actual = hashlib.sha256(data).hexdigest()
            with self._lock:
                known = actual in self._known
            if not known and self._put_create(self.blob_key(actual), data):
                sent += len(data)
            with self._lock:
                self._known.add(actual)
            if actual == entry.sha256:
                return fixes, sent
            fixes[entry.path] = (actual, len(data))
        return fixes, sent

    def _seed(self, snapshot_id: str) -> None:
        """Learn which blobs are stored from a snapshot this workspace was last recorded as."""
        with self._lock:
            if snapshot_id in self._seeded:
                return
            self._seeded.add(snapshot_id)
        try:
            manifest = self.load(snapshot_id)
        except SnapshotError:
            return  # pruned or never written: every blob is checked instead
        with self._lock:
            self._known.update(e.sha256 for e in manifest.entries if e.sha256)

    # -- reading -----------------------------------------------------------------------------

    def load(self, snapshot_id: str) -> Manifest:
        if not _SHA.match(snapshot_id):
            raise SnapshotError(f"{snapshot_id!r} is not a snapshot id (64 hex digits)")
        try:
            body = bytes(self._store.get(self.manifest_key(snapshot_id)).bytes())
        except FileNotFoundError as exc:
            raise SnapshotError(
                f"snapshot {snapshot_id} is missing from the store {self.location}"
            ) from exc
        except BaseError as exc:
            raise SnapshotError(
                f"cannot read snapshot {snapshot_id} from {self.location}: {_first_line(exc)}"
            ) from exc
        if hashlib.sha256(body).hexdigest() != snapshot_id:
            raise SnapshotError(f"snapshot manifest {snapshot_id} is corrupt (hash mismatch)")
        return Manifest.model_validate_json(body)

    def _fetch(self, entry: ManifestEntry) -> bytes:
        """A blob's verified bytes; SnapshotError naming the blob and the path otherwise."""
        assert entry.sha256 is not None
        try:
            data = bytes(self._store.get(self.blob_key(entry.sha256)).bytes())
        except FileNotFoundError as exc:
            raise SnapshotError(
                f"blob {entry.sha256} for {entry.path} is missing from the store"
            ) from exc
        except BaseError as exc:
            raise SnapshotError(
                f"cannot read blob {entry.sha256} for {entry.path}: {_first_line(exc)}"
            ) from exc
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise SnapshotError(f"blob {entry.sha256} for {entry.path} is corrupt (hash mismatch)")
        with self._lock:
            self._known.add(entry.sha256)
        return data

    def _fetch_all(self, entries: list[ManifestEntry], sink: Callable[[int, bytes], None]) -> None:
        """Fetch and verify every entry's blob, handing each to `sink`; every bad blob is
        named in one SnapshotError (after all were tried), so one restore reports them all."""
        problems: list[str] = []

        def one(item: tuple[int, ManifestEntry]) -> None:
            index, entry = item
            try:
                sink(index, self._fetch(entry))
            except SnapshotError as exc:
                problems.append(str(exc))

        _map(one, list(enumerate(entries)))
        if problems:
            problems.sort()
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise SnapshotError("; ".join(problems[:5]) + more)

    def restore(self, snapshot_id: str, workspace: Path, cache_file: Path | None = None) -> None:
        """Make `workspace` match the snapshot exactly; it is created if need be.

        Every blob needed is fetched and verified before the workspace is touched, so a missing
        or corrupt one leaves it as it was. Rebuildable (excluded) folders that existed then are
        left as they are; ones created since are removed, so a redone batch does not trip over
        its own half-finished work.
        """
        wanted = self.load(snapshot_id)
        workspace.mkdir(parents=True, exist_ok=True)
        cache = _HashCache(cache_file)
        scanned, live = self._scan(workspace, cache)
        current = {e.path: e for e in scanned.entries}
        to_write = [e for e in wanted.entries if e.kind == "file" and current.get(e.path) != e]
        staging = workspace.parent / f".{workspace.name}.restore-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:

            def stage(index: int, data: bytes) -> None:
                path = staging / str(index)
                path.write_bytes(data)
                path.chmod(to_write[index].mode)

            self._fetch_all(to_write, stage)
            staged = {e.path: staging / str(i) for i, e in enumerate(to_write)}
            self._apply(wanted, current, workspace, staged)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        cache.snapshot = snapshot_id
        cache.save(live)

    def _apply(
        self,
        wanted: Manifest,
        current: dict[str, ManifestEntry],
        workspace: Path,
        staged: dict[str, Path],
    ) -> None:
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
                full.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(staged[entry.path], full)  # a rename on the same file system
        for entry in wanted.entries:  # directory modes last: writing files may need them writable
            if entry.kind == "dir":
                (workspace / decode_name(entry.path)).chmod(entry.mode)

    def export_tar(self, snapshot_id: str, out: Path, root: str) -> int:
        """Write the snapshot as a gzipped tar with every path under `root/`; returns the
        number of files. Every blob is verified; on any problem `out` is not created."""
        manifest = self.load(snapshot_id)
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
                for chunk in _chunks(files, 64):
                    blobs.clear()
                    self._fetch_all(chunk, blobs.__setitem__)
                    for index, entry in enumerate(chunk):
                        info = self._tar_info(entry, root)
                        info.size = len(blobs[index])
                        tar.addfile(info, io.BytesIO(blobs[index]))
                for entry in entries:
                    if entry.kind != "file":
                        tar.addfile(self._tar_info(entry, root))
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return len(files)

    @staticmethod
    def _tar_info(entry: ManifestEntry, root: str) -> tarfile.TarInfo:
        info = tarfile.TarInfo(f"{root}/{decode_name(entry.path)}")
        info.mtime = int(time.time())
        info.mode = entry.mode
        if entry.kind == "dir":
            info.type = tarfile.DIRTYPE
        elif entry.kind == "symlink":
            info.type, info.mode = tarfile.SYMTYPE, 0o777
            info.linkname = decode_name(entry.target or "")
        return info

    # -- retention ---------------------------------------------------------------------------

    def _keys(self, prefix: str) -> Iterator[str]:
        try:
            for chunk in self._store.list(prefix, chunk_size=1000):
                for meta in chunk:
                    yield meta["path"]
        except BaseError as exc:
            raise SnapshotError(
                f"cannot list {prefix} in {self.location}: {_first_line(exc)}"
            ) from exc

    def snapshot_ids(self) -> set[str]:
        return {m.group(1) for key in self._keys("manifests") if (m := _MANIFEST_KEY.match(key))}

    def prune(self, keep: set[str]) -> PruneResult:
        """Delete every manifest not in `keep`, then every blob no kept manifest references.

        A kept manifest that cannot be read stops the prune before anything is deleted. Run it
        while no other process is taking snapshots of workspaces whose latest snapshot is not
        kept: such a process may skip uploading a blob it has seen stored before.
        """
        referenced: set[str] = set()
        for snapshot_id in keep:
            referenced.update(e.sha256 for e in self.load(snapshot_id).entries if e.sha256)
        doomed_manifests = [self.manifest_key(i) for i in sorted(self.snapshot_ids() - keep)]
        doomed_blobs = [
            key
            for key in self._keys("blobs")
            if (m := _BLOB_KEY.match(key)) and m.group(1) not in referenced
        ]
        with self._lock:
            self._known.clear()
            self._seeded.clear()
        for batch in _chunks(doomed_manifests + doomed_blobs, 500):
            try:
                self._store.delete(batch)
            except BaseError as exc:
                raise SnapshotError(
                    f"cannot delete from {self.location}: {_first_line(exc)}"
                ) from exc
        return PruneResult(len(doomed_manifests), len(doomed_blobs))


def _chunks(items: list[_T], size: int) -> Iterable[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class LocalSnapshotStore(SnapshotStore):
    """A snapshot store in a local directory (obstore's LocalStore), mainly for tests."""

    def __init__(self, root: Path, excludes: frozenset[str] = DEFAULT_EXCLUDES) -> None:
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(LocalStore(root.resolve()), excludes)
