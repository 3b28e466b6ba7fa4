"""Content-addressed workspace snapshots in an object store (obstore: local dir, S3, memory).

A snapshot is a manifest (paths, modes, sizes, modification times, sha256, symlink targets) whose
own hash is its id, stored at `manifests/<id>.json`; file contents live once each as blobs at
`blobs/<sha[:2]>/<sha>`. Taking one uploads only blobs the store lacks, and files whose size,
mtime, ctime and inode are unchanged are not re-hashed. Every write is create-only (a conditional
put), so two writers never clobber each other: an object that already exists under a content
address already holds those bytes. Restoring makes a workspace match a manifest exactly
(rebuildable folders such as `node_modules` aside) after verifying every blob it fetches.

This module is the store (upload, download, restore, export, prune); the manifest model and
name encoding live in `snapshot_manifest`, workspace scanning and the hash cache in
`snapshot_scan`, writing a manifest into a workspace in `snapshot_apply`, and the tar export in
`snapshot_export`. The names other code uses are re-exported here.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from obstore.exceptions import AlreadyExistsError, BaseError
from obstore.store import LocalStore

from cofounder.hostfs import Beneath
from cofounder.storage.objectstore import describe
from cofounder.storage.snapshot_apply import apply_manifest
from cofounder.storage.snapshot_export import chunks, write_tar
from cofounder.storage.snapshot_manifest import (
    DEFAULT_EXCLUDES,
    SHA256,
    Manifest,
    ManifestEntry,
    SnapshotError,
    decode_name,
    encode_name,
)
from cofounder.storage.snapshot_scan import HashCache, read_for_upload, scan_workspace

if TYPE_CHECKING:
    from obstore.store import ObjectStore

__all__ = [
    "DEFAULT_EXCLUDES",
    "LocalSnapshotStore",
    "Manifest",
    "ManifestEntry",
    "PruneResult",
    "SnapshotError",
    "SnapshotStore",
    "TakeResult",
    "decode_name",
    "encode_name",
]

_T = TypeVar("_T")
_R = TypeVar("_R")
_BLOB_KEY = re.compile(r"^blobs/[0-9a-f]{2}/([0-9a-f]{64})$")
_MANIFEST_KEY = re.compile(r"^manifests/([0-9a-f]{64})\.json$")
_WORKERS = 16  # obstore releases the GIL; S3 round trips overlap


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
        cache = HashCache(cache_file)
        manifest, live = scan_workspace(workspace, self._excludes, cache)
        cache.save(live)
        return manifest

    def take(self, workspace: Path, cache_file: Path | None = None) -> str:
        """Record the workspace; returns the snapshot id (the manifest's sha256)."""
        return self.take_with_stats(workspace, cache_file).snapshot_id

    def take_with_stats(self, workspace: Path, cache_file: Path | None = None) -> TakeResult:
        cache = HashCache(cache_file)
        manifest, live = scan_workspace(workspace, self._excludes, cache)
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
        with Beneath(workspace) as root:
            uploads = _map(lambda sha: self._upload(root, by_sha[sha]), missing)
        fixes: dict[str, tuple[str, int] | None] = {}
        sent = 0
        for fixed, nbytes in uploads:
            fixes.update(fixed)
            sent += nbytes
        entries: list[ManifestEntry] = []
        for entry in manifest.entries:
            if entry.path in fixes:  # the bytes were not what the scan (or cache) said
                fix = fixes[entry.path]
                if fix is None:  # removed or replaced by a non-file since the scan
                    cache.drop(entry.path)
                    continue
                sha, size = fix
                entry = entry.model_copy(update={"sha256": sha, "size": size})
                cache.drop(entry.path)
            entries.append(entry)
        body = Manifest(entries=entries).body()
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
        self, root: Beneath, entries: list[ManifestEntry]
    ) -> tuple[dict[str, tuple[str, int] | None], int]:
        """Store the blob that `entries` (paths believed to share one hash) name.

        A file that changed after it was hashed (a process still writing it, or a stale cache
        entry) is filed under its true hash and reported as a fix, so no blob ever fails its
        own check; the next path with the same believed hash is tried then.
        """
        fixes: dict[str, tuple[str, int] | None] = {}
        sent = 0
        for entry in entries:
            assert entry.sha256 is not None
            data = read_for_upload(root, entry.path)
            if data is None:  # removed or replaced by a non-file since the scan
                fixes[entry.path] = None
                continue
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
        if not SHA256.match(snapshot_id):
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

    def fetch_verified(
        self, entries: list[ManifestEntry], sink: Callable[[int, bytes], None]
    ) -> None:
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
        cache = HashCache(cache_file)
        scanned, live = scan_workspace(workspace, self._excludes, cache)
        current = {e.path: e for e in scanned.entries}
        to_write = [
            e
            for e in wanted.entries
            if e.kind == "file" and not e.same_content(current.get(e.path))
        ]
        staging = workspace.parent / f".{workspace.name}.restore-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:

            def stage(index: int, data: bytes) -> None:
                path = staging / str(index)
                path.write_bytes(data)
                path.chmod(to_write[index].mode)

            self.fetch_verified(to_write, stage)
            staged = {e.path: staging / str(i) for i, e in enumerate(to_write)}
            apply_manifest(wanted, current, workspace, staged)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        cache.snapshot = snapshot_id
        cache.save(live)

    def export_tar(self, snapshot_id: str, out: Path, root: str) -> int:
        """Write the snapshot as a gzipped tar with every path under `root/`; returns the
        number of files. Every blob is verified; on any problem `out` is not created."""
        return write_tar(self.load(snapshot_id), self.fetch_verified, out, root)

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
        for batch in chunks(doomed_manifests + doomed_blobs, 500):
            try:
                self._store.delete(batch)
            except BaseError as exc:
                raise SnapshotError(
                    f"cannot delete from {self.location}: {_first_line(exc)}"
                ) from exc
        return PruneResult(len(doomed_manifests), len(doomed_blobs))


class LocalSnapshotStore(SnapshotStore):
    """A snapshot store in a local directory (obstore's LocalStore), mainly for tests."""

    def __init__(self, root: Path, excludes: frozenset[str] = DEFAULT_EXCLUDES) -> None:
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(LocalStore(root.resolve()), excludes)
