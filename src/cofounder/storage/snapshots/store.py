"""Content-addressed workspace snapshots in an object store (obstore: local dir, S3, memory).

File contents live once each as blobs (`blobs/<sha[:2]>/<sha>`), directories as trees
(`snapshot_trees`), and a snapshot is a tiny root record whose own hash is its id
(`manifests/<id>.json`). Taking one re-hashes only files whose stat changed and writes only the
blobs and trees the store lacks; every write is create-only, so two writers never clobber each
other. Restoring (`snapshot_apply`) verifies every blob before touching the workspace.
This module is the store; the names other code uses are re-exported here.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from obstore.exceptions import AlreadyExistsError, BaseError
from obstore.store import LocalStore

from cofounder.hostfs import Beneath
from cofounder.storage.objectstore import describe
from cofounder.storage.snapshots.apply import restore
from cofounder.storage.snapshots.export import chunks, write_tar
from cofounder.storage.snapshots.manifest import (
    DEFAULT_EXCLUDES,
    SHA256,
    Manifest,
    ManifestEntry,
    SnapshotError,
)
from cofounder.storage.snapshots.retention import PruneResult, prune_store
from cofounder.storage.snapshots.scan import (
    CacheShelf,
    HashCache,
    apply_upload_fixes,
    read_for_upload,
    scan_workspace,
)
from cofounder.storage.snapshots.trees import (
    Tree,
    build_trees,
    flatten,
    parent_dir,
    parse_tree,
    root_body,
    root_of,
    tree_key,
)

if TYPE_CHECKING:
    from obstore.store import ObjectStore


_T = TypeVar("_T")
_R = TypeVar("_R")
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


class SnapshotStore:
    """Snapshots over any obstore store; one instance may serve many threads."""

    def __init__(self, store: ObjectStore, excludes: frozenset[str] = DEFAULT_EXCLUDES) -> None:
        self._store = store
        self._excludes = excludes
        # Blobs this process has seen stored (uploaded, found, fetched, or named by a verified
        # manifest): they are not checked again. Only `prune` deletes blobs, and it forgets.
        self._known: set[str] = set()
        self._seeded: set[str] = set()
        self._caches = CacheShelf()
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

    def open_cache(self, cache_file: Path | None) -> HashCache:
        return self._caches.open(cache_file)

    # -- taking ------------------------------------------------------------------------------

    def scan(self, workspace: Path, cache_file: Path | None = None) -> Manifest:
        cache = self.open_cache(cache_file)
        manifest, live = scan_workspace(workspace, self._excludes, cache)
        cache.save(live)
        return manifest

    def take(self, workspace: Path, cache_file: Path | None = None) -> str:
        """Record the workspace; returns the snapshot id (the manifest's sha256)."""
        return self.take_with_stats(workspace, cache_file).snapshot_id

    def take_with_stats(self, workspace: Path, cache_file: Path | None = None) -> TakeResult:
        cache = self.open_cache(cache_file)
        manifest, live = scan_workspace(workspace, self._excludes, cache)
        stored_trees = self._stored_trees(cache)
        _, trees = build_trees(manifest.entries, cache.tree_memo)
        changed = {d for d, tree in trees.items() if stored_trees.get(d) != tree.sha}
        self._learn_blobs(changed, stored_trees, cache.snapshot)
        # Files in a directory whose tree is stored unchanged have their blobs stored too.
        files = [
            e
            for e in manifest.entries
            if e.kind == "file" and e.sha256 and parent_dir(e.path) in changed
        ]
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
        entries = manifest.entries
        if fixes:
            entries = apply_upload_fixes(entries, fixes, cache)
            _, trees = build_trees(entries, cache.tree_memo)
        sent += self._put_trees(
            tree for d, tree in trees.items() if stored_trees.get(d) != tree.sha
        )
        body = root_body(trees[""].sha)
        snapshot_id = hashlib.sha256(body).hexdigest()
        if self._put_create(self.manifest_key(snapshot_id), body):
            sent += len(body)
        with self._lock:
            self._seeded.add(snapshot_id)
        cache.snapshot = snapshot_id
        cache.trees = {d: tree.sha for d, tree in trees.items()}
        cache.save(live)
        return TakeResult(
            snapshot_id=snapshot_id,
            files=sum(1 for e in entries if e.kind == "file"),
            blobs_checked=len(unknown),
            blobs_uploaded=sum(1 for _, n in uploads if n),
            bytes_uploaded=sent,
        )

    def _stored_trees(self, cache: HashCache) -> dict[str, str]:
        """The trees of the workspace's last snapshot, by directory, if that snapshot is still
        in the store (a prune may have removed it since): those need not be written again."""
        if not cache.trees or not cache.snapshot:
            return {}
        with self._lock:
            seen = cache.snapshot in self._seeded
        if not seen:
            try:
                self._store.head(self.manifest_key(cache.snapshot))
            except FileNotFoundError:
                return {}
            except BaseError as exc:
                raise SnapshotError(
                    f"cannot check snapshot {cache.snapshot} in {self.location}: {_first_line(exc)}"
                ) from exc
            with self._lock:
                self._seeded.add(cache.snapshot)
        return cache.trees

    def _learn_blobs(self, changed: set[str], stored: dict[str, str], last: str | None) -> None:
        """Learn which blobs the changed directories held before (their previous trees), so
        only really new files are checked against the store; without stored trees, learn from
        the whole last snapshot."""
        if not stored:
            if last:
                self._seed(last)
            return
        previous = [stored[d] for d in changed if d in stored]
        for sha, data in zip(previous, self._get_trees(previous), strict=True):
            rows = parse_tree(sha, data)
            with self._lock:
                self._known.update(str(r["sha256"]) for r in rows if "sha256" in r)

    def _put_trees(self, trees: Iterable[Tree]) -> int:
        todo = list(trees)
        written = _map(lambda tree: self._put_create(tree_key(tree.sha), tree.stored()), todo)
        return sum(len(tree.stored()) for tree, new in zip(todo, written, strict=True) if new)

    def _get_trees(self, shas: list[str]) -> list[bytes]:
        return _map(lambda sha: self._get(tree_key(sha), f"tree {sha}"), shas)

    def _get(self, key: str, what: str) -> bytes:
        try:
            return bytes(self._store.get(key).bytes())
        except FileNotFoundError as exc:
            raise SnapshotError(f"{what} is missing from the store {self.location}") from exc
        except BaseError as exc:
            raise SnapshotError(
                f"cannot read {what} from {self.location}: {_first_line(exc)}"
            ) from exc

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
        return self.load_with_trees(snapshot_id)[0]

    def load_with_trees(self, snapshot_id: str) -> tuple[Manifest, dict[str, str]]:
        """The snapshot's manifest (every tree and the root verified against its hash) and
        its tree ids by directory (none for a flat, format 1 snapshot)."""
        if not SHA256.match(snapshot_id):
            raise SnapshotError(f"{snapshot_id!r} is not a snapshot id (64 hex digits)")
        body = self._get(self.manifest_key(snapshot_id), f"snapshot {snapshot_id}")
        if hashlib.sha256(body).hexdigest() != snapshot_id:
            raise SnapshotError(f"snapshot manifest {snapshot_id} is corrupt (hash mismatch)")
        root = root_of(body)
        if root is None:
            return Manifest.model_validate_json(body), {}
        return flatten(root, self._get_trees)

    def _fetch(self, entry: ManifestEntry) -> bytes:
        """A blob's verified bytes; SnapshotError naming the blob and the path otherwise."""
        assert entry.sha256 is not None
        data = self._get(self.blob_key(entry.sha256), f"blob {entry.sha256} for {entry.path}")
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
        """Make `workspace` match the snapshot exactly (see `snapshot_apply.restore`)."""
        restore(self, snapshot_id, workspace, cache_file)

    def export_tar(self, snapshot_id: str, out: Path, root: str) -> int:
        """Write the snapshot as a gzipped tar with every path under `root/`; returns the
        number of files. Every blob is verified; on any problem `out` is not created."""
        return write_tar(self.load(snapshot_id), self.fetch_verified, out, root)

    # -- retention ---------------------------------------------------------------------------

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under `prefix` in the store."""
        try:
            for chunk in self._store.list(prefix, chunk_size=1000):
                for meta in chunk:
                    yield meta["path"]
        except BaseError as exc:
            raise SnapshotError(
                f"cannot list {prefix} in {self.location}: {_first_line(exc)}"
            ) from exc

    def snapshot_ids(self) -> set[str]:
        return {m.group(1) for key in self.keys("manifests") if (m := _MANIFEST_KEY.match(key))}

    def prune(self, keep: set[str]) -> PruneResult:
        """Delete every snapshot not in `keep`, then every tree and blob no kept snapshot
        references (see `snapshot_retention`)."""
        with self._lock:
            self._known.clear()
            self._seeded.clear()
        return prune_store(self, keep)

    def delete(self, keys: list[str]) -> None:
        for batch in chunks(keys, 500):
            try:
                self._store.delete(batch)
            except BaseError as exc:
                raise SnapshotError(
                    f"cannot delete from {self.location}: {_first_line(exc)}"
                ) from exc


class LocalSnapshotStore(SnapshotStore):
    """A snapshot store in a local directory (obstore's LocalStore), mainly for tests."""

    def __init__(self, root: Path, excludes: frozenset[str] = DEFAULT_EXCLUDES) -> None:
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(LocalStore(root.resolve()), excludes)
