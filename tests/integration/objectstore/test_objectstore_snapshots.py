"""Snapshots over a real object store, a local directory and S3 on loopback alike: uploads grow
with the change, not the workspace; every recorded iteration restores with verified hashes;
damage is named; writes are create-only; retention never drops a referenced blob."""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import threading
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest
from obstore.exceptions import AlreadyExistsError

from cofounder.storage import SnapshotError, SnapshotStore
from cofounder.storage.snapshots.trees import tree_key

if TYPE_CHECKING:
    from obstore.store import ObjectStore

Tree = dict[str, tuple[str, int, bytes | str | None]]


def tree(root: Path) -> Tree:
    out: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", 0, os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), None)
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), full.read_bytes())
    return out


_V = TypeVar("_V")


def recorded(t: dict[str, _V]) -> dict[str, _V]:
    return {k: v for k, v in t.items() if "node_modules" not in k}


def mtimes(root: Path) -> dict[str, int]:
    """Every path's own modification time (links not followed)."""
    out: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            out[full.relative_to(root).as_posix()] = full.lstat().st_mtime_ns
    return out


def keys(store: ObjectStore, prefix: str) -> dict[str, int]:
    return {m["path"]: m["size"] for chunk in store.list(prefix) for m in chunk}


def make_workspace(root: Path, files: int, size: int = 2000, salt: str = "") -> Path:
    for i in range(files):
        path = root / f"pkg{i % 10}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"# module {i}{salt}\n".encode() + bytes([97 + i % 26]) * size)
    (root / "run.sh").write_text(f"#!/bin/sh\necho hi{salt}\n")
    (root / "run.sh").chmod(0o755)
    os.symlink("run.sh", root / "start")
    (root / "node_modules" / "dep").mkdir(parents=True)
    (root / "node_modules" / "dep" / "index.js").write_text("module.exports = 1\n")
    return root


def same_times(root: Path, mtime_ns: int = 10**18) -> Path:
    """Give every path one modification time, as if copied from one template with `cp -p`:
    manifests record times, so only then do equal trees give equal snapshot ids."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(Path(dirpath) / name, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
    return root


def test_bytes_uploaded_grow_with_the_change_not_the_workspace(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    sent: dict[int, int] = {}
    for files in (50, 500):
        store = SnapshotStore(object_store)
        ws = make_workspace(tmp_path / f"ws{files}", files, salt=f"{files:04d}")
        cache = tmp_path / f"cache{files}.json"
        first = store.take_with_stats(ws, cache)
        assert first.blobs_uploaded == files + 1  # every module and run.sh; node_modules none
        before = sum(keys(object_store, "blobs").values())
        trees_before = keys(object_store, "trees")

        changed = ws / "pkg3" / "mod3.py"
        changed.write_bytes(changed.read_bytes() + b"# one more line\n")
        second = store.take_with_stats(ws, cache)
        after = sum(keys(object_store, "blobs").values())
        new_trees = {k: v for k, v in keys(object_store, "trees").items() if k not in trees_before}

        assert second.blobs_uploaded == 1 and second.blobs_checked == 1
        assert after - before == changed.stat().st_size  # measured in the store itself
        assert len(new_trees) == 2  # the changed folder's tree and the root's, nothing else
        manifest_size = keys(object_store, "manifests")[f"manifests/{second.snapshot_id}.json"]
        metadata = manifest_size + sum(new_trees.values())
        assert second.bytes_uploaded == changed.stat().st_size + metadata
        sent[files] = second.bytes_uploaded - metadata
        # Unchanged: nothing at all is sent, not even an existence check.
        again = store.take_with_stats(ws, cache)
        assert again.snapshot_id == second.snapshot_id
        assert (again.blobs_checked, again.bytes_uploaded) == (0, 0)
    assert sent[50] == sent[500]  # ten times the workspace, the same bytes for the same change


def test_a_new_process_learns_what_is_stored_from_the_last_snapshot(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws", 40)
    cache = tmp_path / "cache.json"
    first = SnapshotStore(object_store).take(ws, cache)
    (ws / "new.txt").write_text("new\n")
    fresh = SnapshotStore(object_store)  # another process, same workspace and cache file
    result = fresh.take_with_stats(ws, cache)
    assert result.snapshot_id != first
    assert (result.blobs_checked, result.blobs_uploaded) == (1, 1)
    # Without the cache, every blob is checked (HEAD), but none is sent again.
    cold = SnapshotStore(object_store).take_with_stats(ws)
    assert cold.snapshot_id == result.snapshot_id
    assert cold.blobs_checked == 42 and cold.blobs_uploaded == 0 and cold.bytes_uploaded == 0


def test_every_recorded_iteration_restores_exactly(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    store = SnapshotStore(object_store)
    ws = make_workspace(tmp_path / "ws", 30)
    cache = tmp_path / "cache.json"
    history: list[tuple[str, Tree, dict[str, int]]] = []
    for iteration in range(5):
        if iteration:
            (ws / f"pkg{iteration}" / f"mod{iteration}.py").write_text(f"v{iteration}\n")
            (ws / f"added{iteration}.txt").write_text("a" * iteration)
            (ws / f"pkg{iteration + 4}").rename(ws / f"moved{iteration}")
            (ws / "run.sh").chmod(0o700 if iteration % 2 else 0o755)
        history.append((store.take(ws, cache), tree(ws), mtimes(ws)))
    assert len({snapshot_id for snapshot_id, _, _ in history}) == 5

    for snapshot_id, expected, times in history:  # each into a fresh directory, another process
        target = tmp_path / f"restored-{snapshot_id[:8]}"
        SnapshotStore(object_store).restore(snapshot_id, target)
        assert tree(target) == recorded(expected)
        assert mtimes(target) == recorded(times)  # files, links and folders keep their times
    for snapshot_id, expected, times in reversed(history):  # in place, backwards in time
        store.restore(snapshot_id, ws, cache)
        assert recorded(tree(ws)) == recorded(expected)
        assert recorded(mtimes(ws)) == recorded(times)
        assert store.take(ws, cache) == snapshot_id
    assert not list(tmp_path.glob(".*.restore-*"))  # staging is always cleaned up


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_damaged_blobs_are_named_and_the_workspace_is_left_alone(
    object_store: ObjectStore, tmp_path: Path, damage: str
) -> None:
    store = SnapshotStore(object_store)
    ws = make_workspace(tmp_path / "ws", 20)
    snapshot_id = store.take(ws)
    victims = {}
    for entry in store.load(snapshot_id).entries:
        if entry.path in ("pkg2/mod2.py", "run.sh"):
            assert entry.sha256 is not None
            victims[entry.path] = entry.sha256
            key = SnapshotStore.blob_key(entry.sha256)
            if damage == "corrupt":
                object_store.put(key, b"bit rot", mode="overwrite")
            else:
                object_store.delete(key)

    target = tmp_path / "target"
    with pytest.raises(SnapshotError, match=damage) as info:
        SnapshotStore(object_store).restore(snapshot_id, target)
    for path, sha in victims.items():  # every damaged blob is named, with its path
        assert path in str(info.value) and sha in str(info.value)
    assert target.is_dir() and not any(target.iterdir())  # verified before anything is written

    (ws / "pkg2" / "mod2.py").write_text("edited since\n")
    before = tree(ws)
    with pytest.raises(SnapshotError, match=damage):
        store.restore(snapshot_id, ws)
    assert tree(ws) == before
    assert not list(tmp_path.glob(".*.restore-*"))
    with pytest.raises(SnapshotError, match=damage):
        store.export_tar(snapshot_id, tmp_path / "out.tar.gz", "app")
    assert not list(tmp_path.glob("*.tar.gz*")) and not list(tmp_path.glob(".out.tar.gz*"))


def test_a_corrupt_manifest_is_detected(object_store: ObjectStore, tmp_path: Path) -> None:
    store = SnapshotStore(object_store)
    snapshot_id = store.take(make_workspace(tmp_path / "ws", 3))
    key = SnapshotStore.manifest_key(snapshot_id)
    body = bytes(object_store.get(key).bytes())
    object_store.put(key, body.replace(b'"root":"', b'"root":"0'), mode="overwrite")
    with pytest.raises(SnapshotError, match=f"{snapshot_id} is corrupt"):
        store.load(snapshot_id)
    # A damaged folder tree is caught by its own hash, whichever folder it is.
    object_store.put(key, body, mode="overwrite")
    _, tree_ids = store.load_with_trees(snapshot_id)
    tree = tree_key(tree_ids["pkg1"])
    damaged = zlib.compress(zlib.decompress(bytes(object_store.get(tree).bytes())) + b" ")
    object_store.put(tree, damaged, mode="overwrite")
    with pytest.raises(SnapshotError, match=f"tree {tree_ids['pkg1']} is corrupt"):
        SnapshotStore(object_store).load(snapshot_id)
    with pytest.raises(SnapshotError, match="not a snapshot id"):
        store.load("../../etc/passwd")


def test_writes_are_create_only(object_store: ObjectStore, tmp_path: Path) -> None:
    object_store.put("probe", b"first", mode="create")
    with pytest.raises(AlreadyExistsError):
        object_store.put("probe", b"second", mode="create")
    assert bytes(object_store.get("probe").bytes()) == b"first"

    # A take never overwrites what is already at a content address.
    ws = make_workspace(tmp_path / "ws", 2)
    sha = hashlib.sha256((ws / "run.sh").read_bytes()).hexdigest()
    object_store.put(SnapshotStore.blob_key(sha), b"planted", mode="create")
    snapshot_id = SnapshotStore(object_store).take(ws)
    assert bytes(object_store.get(SnapshotStore.blob_key(sha)).bytes()) == b"planted"
    with pytest.raises(SnapshotError, match=f"blob {sha} for run.sh is corrupt"):
        SnapshotStore(object_store).restore(snapshot_id, tmp_path / "out")


def test_concurrent_writers_of_the_same_content_agree(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    workspaces = [same_times(make_workspace(tmp_path / f"ws{i}", 30)) for i in range(6)]
    barrier = threading.Barrier(len(workspaces))
    ids: list[str] = []
    errors: list[BaseException] = []

    def take(root: Path) -> None:
        try:
            barrier.wait()
            ids.append(SnapshotStore(object_store).take(root))  # one "process" each
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(root,)) for root in workspaces]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(set(ids)) == 1 and len(ids) == len(workspaces)
    assert len(keys(object_store, "blobs")) == 31
    for key in keys(object_store, "blobs"):
        data = bytes(object_store.get(key).bytes())
        assert hashlib.sha256(data).hexdigest() == key.rsplit("/", 1)[-1]


def test_prune_keeps_every_blob_a_kept_manifest_references(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    store = SnapshotStore(object_store)
    ws = make_workspace(tmp_path / "ws", 10)
    ids = []
    for i in range(4):
        (ws / "changing.txt").write_text(f"version {i}\n")
        ids.append(store.take(ws))
    (ws / "changing.txt").unlink()
    (ws / "pkg1" / "mod1.py").write_text("only in the last one")
    ids.append(store.take(ws))
    keep = {ids[1], ids[4]}

    result = store.prune(keep)
    assert result.manifests_deleted == 3
    assert result.blobs_deleted == 3  # changing.txt versions 0, 2 and 3
    assert store.snapshot_ids() == keep
    for snapshot_id in keep:
        target = tmp_path / f"kept-{snapshot_id[:8]}"
        store.restore(snapshot_id, target)
    assert (tmp_path / f"kept-{ids[1][:8]}" / "changing.txt").read_text() == "version 1\n"
    with pytest.raises(SnapshotError, match="missing"):
        store.restore(ids[0], tmp_path / "gone")
    assert store.prune(keep) == type(result)(0, 0)  # idempotent

    # A kept manifest that cannot be read stops the prune before anything is deleted.
    with pytest.raises(SnapshotError, match="missing"):
        store.prune({ids[0], ids[4]})
    assert store.snapshot_ids() == keep
    # After a prune nothing is assumed stored: a take re-checks and re-uploads what is gone.
    (ws / "changing.txt").write_text("version 0\n")
    again = store.take_with_stats(ws)
    assert again.blobs_uploaded == 1
    store.restore(again.snapshot_id, tmp_path / "again")


def test_export_writes_the_code_with_modes_links_and_git(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    store = SnapshotStore(object_store)
    ws = make_workspace(tmp_path / "ws", 5)
    (ws / ".git" / "objects").mkdir(parents=True)
    (ws / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    out = tmp_path / "app.tar.gz"
    assert store.export_tar(store.take(ws), out, "my-app") == 7
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert "my-app/.git/HEAD" in members and "my-app/.git/objects" in members
        assert members["my-app/run.sh"].mode == 0o755
        assert members["my-app/run.sh"].mtime == int((ws / "run.sh").stat().st_mtime)
        assert members["my-app/start"].issym() and members["my-app/start"].linkname == "run.sh"
        assert not [n for n in members if "node_modules" in n]
        tar.extractall(tmp_path / "unpacked", filter="tar")
    assert recorded(tree(tmp_path / "unpacked" / "my-app")) == recorded(tree(ws))
