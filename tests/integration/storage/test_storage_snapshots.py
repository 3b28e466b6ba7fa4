"""Content-addressed workspace snapshots on a real disk: restore gives back exactly the bytes,
modes and links that were taken; excluded folders are neither recorded nor touched; blobs are
stored once; the hash cache is trusted on size+mtime+inode; damage is reported clearly."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from cofounder.hostfs import Entry
from cofounder.storage import LocalSnapshotStore, SnapshotError
from cofounder.storage.snapshots import manifest as snapshot_manifest
from cofounder.storage.snapshots import scan as snapshot_scan

Tree = dict[str, tuple[str, int, bytes | str | None]]


def tree(root: Path) -> Tree:
    """Everything under `root` (excluded folders included): kind, permission bits, content."""
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


def names_hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every file the scan hashes from now on, in order."""
    hashed: list[str] = []
    real = snapshot_scan.hash_file

    def hash_file(found: Entry) -> tuple[str, os.stat_result] | None:
        hashed.append(found.name)
        return real(found)

    monkeypatch.setattr(snapshot_scan, "hash_file", hash_file)
    return hashed


def blob_count(store_root: Path) -> int:
    return sum(1 for p in (store_root / "blobs").rglob("*") if p.is_file())


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(store_root: Path) -> LocalSnapshotStore:
    return LocalSnapshotStore(store_root)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A small app: nested folders, a duplicate file, an executable, links, an empty folder."""
    root = tmp_path / "ws"
    (root / "src" / "app" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "src" / "app" / "main.py").write_text("print('hello')\n")
    (root / "src" / "app" / "deep" / "util.py").write_text("X = 1\n")
    (root / "src" / "app" / "copy.py").write_text("X = 1\n")  # same bytes as util.py
    (root / "data.bin").write_bytes(bytes(range(256)) * 64)
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "private.key").write_text("not really\n")
    (root / "private.key").chmod(0o600)
    (root / "README.md").write_text("# app\n")
    os.symlink("src/app/main.py", root / "entry.py")
    os.symlink("empty", root / "empty-link")
    os.symlink("does/not/exist", root / "dangling")
    (root / "node_modules" / "left").mkdir(parents=True)
    (root / "node_modules" / "left" / "index.js").write_text("module.exports = 1\n")
    (root / "src" / "app" / "__pycache__").mkdir()
    (root / "src" / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\x00pyc")
    return root


def _mutate(ws: Path) -> None:
    (ws / "src" / "app" / "main.py").write_text("print('changed')\n")  # modify
    (ws / "README.md").unlink()  # delete
    (ws / "NEW.md").write_text("new\n")  # add
    (ws / "added" / "nested" / "more").mkdir(parents=True)  # new nested folders
    (ws / "added" / "nested" / "more" / "f.txt").write_text("f\n")
    (ws / "run.sh").chmod(0o644)  # lose the executable bit
    (ws / "private.key").chmod(0o644)
    os.unlink(ws / "entry.py")  # retarget a link
    os.symlink("README.md", ws / "entry.py")
    (ws / "empty").rmdir()  # the empty folder goes, and a file takes its place
    (ws / "empty").write_text("now a file\n")
    (ws / "src" / "app" / "deep" / "util.py").unlink()  # a file becomes a folder
    (ws / "src" / "app" / "deep" / "util.py").mkdir()
    (ws / "src" / "app" / "deep" / "util.py" / "x").write_text("x\n")
    (ws / "dangling").unlink()  # a link becomes a file
    (ws / "dangling").write_text("real now\n")
    (ws / "data.bin").write_bytes(b"truncated")
    (ws / "node_modules" / "left" / "index.js").write_text("module.exports = 2\n")
    (ws / "node_modules" / "added.js").write_text("new dep\n")
    (ws / "src" / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\x00pyc2")


def _excluded(t: Tree) -> Tree:
    return {k: v for k, v in t.items() if "node_modules" in k or "__pycache__" in k}


def _recorded(t: Tree) -> Tree:
    return {k: v for k, v in t.items() if k not in _excluded(t)}


@pytest.mark.parametrize("with_cache", [False, True], ids=["no-cache", "cache"])
def test_restore_gives_back_exactly_what_was_taken(
    store: LocalSnapshotStore, ws: Path, tmp_path: Path, with_cache: bool
) -> None:
    cache = tmp_path / "hash-cache.json" if with_cache else None
    before = tree(ws)
    snapshot_id = store.take(ws, cache)
    assert tree(ws) == before  # taking changes nothing

    _mutate(ws)
    mutated = tree(ws)
    assert _recorded(mutated) != _recorded(before)
    store.restore(snapshot_id, ws, cache)

    after = tree(ws)
    assert _recorded(after) == _recorded(before)
    assert after["run.sh"][1] == 0o755 and after["private.key"][1] == 0o600
    assert after["entry.py"] == ("symlink", 0, "src/app/main.py")
    assert after["dangling"] == ("symlink", 0, "does/not/exist")
    assert after["empty"][0] == "dir" and not any((ws / "empty").iterdir())
    assert _excluded(after) == _excluded(mutated)  # rebuildable folders are left alone
    assert not list(ws.rglob("*.restore.tmp"))
    assert store.take(ws, cache) == snapshot_id  # and the result is the same snapshot again


def test_restore_into_an_empty_folder(store: LocalSnapshotStore, ws: Path, tmp_path: Path) -> None:
    snapshot_id = store.take(ws)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store.restore(snapshot_id, elsewhere)
    assert tree(elsewhere) == _recorded(tree(ws))


def test_excluded_folders_are_not_recorded(
    store: LocalSnapshotStore, store_root: Path, ws: Path
) -> None:
    snapshot_id = store.take(ws)
    paths = [e.path for e in store.load(snapshot_id).entries]
    assert "src/app/main.py" in paths and "empty" in paths
    kinds = {e.path: e.kind for e in store.load(snapshot_id).entries}
    assert kinds["node_modules"] == "excluded"  # the name only, so a restore can tidy up
    assert kinds["src/app/__pycache__"] == "excluded"
    assert not [p for p in paths if "node_modules/" in p or "__pycache__/" in p]
    blobs = {p.name for p in (store_root / "blobs").rglob("*") if p.is_file()}
    recorded = {e.sha256 for e in store.load(snapshot_id).entries if e.kind == "file"}
    assert blobs == recorded
    # Adding to an excluded folder does not change the snapshot; a new one is noted by name.
    (ws / "node_modules" / "huge.js").write_text("x" * 10_000)
    assert store.take(ws) == snapshot_id
    (ws / "src" / "__pycache__").mkdir()
    (ws / "src" / "__pycache__" / "a.pyc").write_bytes(b"a")
    noted = store.load(store.take(ws)).entries
    assert [e.kind for e in noted if e.path == "src/__pycache__"] == ["excluded"]


def test_restore_removes_excluded_folders_created_after_the_snapshot(
    store: LocalSnapshotStore, ws: Path
) -> None:
    snapshot_id = store.take(ws)
    (ws / ".venv" / "bin").mkdir(parents=True)  # half-made by an interrupted batch
    (ws / "node_modules" / "late.js").write_text("kept: the folder existed before")
    store.restore(snapshot_id, ws)
    assert not (ws / ".venv").exists()
    assert (ws / "node_modules" / "late.js").exists()


def test_unchanged_workspace_gives_the_same_id(
    store: LocalSnapshotStore, ws: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache.json"
    first = store.take(ws)
    assert store.take(ws) == first
    assert store.take(ws, cache) == first
    assert store.take(ws, cache) == first  # now answered from the cache
    copy = tmp_path / "copy"
    store.restore(first, copy)  # same content and times elsewhere (rebuildable folders aside)
    recorded = [e for e in store.load(first).entries if e.kind != "excluded"]
    assert store.load(store.take(copy)).entries == recorded
    (ws / "README.md").write_text("# app!\n")
    assert store.take(ws, cache) != first


def test_modification_times_are_recorded_and_restored(
    store: LocalSnapshotStore, ws: Path, tmp_path: Path
) -> None:
    """Tools list files newest first (`glob`, `ls -t`): a restored workspace must keep the
    order it had, so a touch is a recorded change and a restore puts every time back."""
    cache = tmp_path / "cache.json"
    os.utime(ws / "README.md", ns=(10**18, 10**18))
    os.utime(ws / "entry.py", ns=(2 * 10**18, 2 * 10**18), follow_symlinks=False)
    os.utime(ws / "src" / "app", ns=(3 * 10**18, 3 * 10**18))
    before = mtimes(ws)
    first = store.take(ws, cache)
    os.utime(ws / "README.md", ns=(1, 1))  # a touch alone
    assert store.take(ws, cache) != first
    (ws / "src" / "app" / "main.py").write_text("print('changed')\n")  # also bumps app/
    (ws / "src" / "app" / "new.py").write_text("")
    store.restore(first, ws, cache)
    assert mtimes(ws) == before
    assert store.take(ws, cache) == first
    elsewhere = tmp_path / "elsewhere"
    store.restore(first, elsewhere)
    rebuildable = ("node_modules", "__pycache__")
    assert mtimes(elsewhere) == {
        k: v for k, v in before.items() if not any(part in k for part in rebuildable)
    }


def test_manifests_without_times_still_restore(
    store: LocalSnapshotStore, store_root: Path, ws: Path, tmp_path: Path
) -> None:
    """Snapshots recorded before times were kept stay readable: content, modes and links come
    back, and times are left as they fall."""
    manifest = store.load(store.take(ws))
    old = snapshot_manifest.Manifest(
        entries=[e.model_copy(update={"mtime_ns": None}) for e in manifest.entries]
    )
    body = old.model_dump_json().encode()  # the old format: every field, no mtime_ns
    assert b"mtime_ns" not in body.replace(b'"mtime_ns":null', b"")
    old_id = hashlib.sha256(body).hexdigest()
    (store_root / "manifests" / f"{old_id}.json").write_bytes(body)
    target = tmp_path / "from-old"
    store.restore(old_id, target)
    assert tree(target) == _recorded(tree(ws))
    assert store.load(old_id).entries[0].mtime_ns is None


def mtimes(root: Path) -> dict[str, int]:
    """Every path's own modification time (links not followed)."""
    out: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            out[full.relative_to(root).as_posix()] = full.lstat().st_mtime_ns
    return out


def test_only_new_content_adds_blobs(store: LocalSnapshotStore, store_root: Path, ws: Path) -> None:
    store.take(ws)
    # 7 files, util.py and copy.py share one blob; excluded folders add none.
    assert blob_count(store_root) == 6
    store.take(ws)
    assert blob_count(store_root) == 6

    (ws / "another-copy.py").write_text("X = 1\n")  # content already stored
    (ws / "moved").mkdir()
    os.rename(ws / "data.bin", ws / "moved" / "data.bin")  # same content, new path
    store.take(ws)
    assert blob_count(store_root) == 6

    (ws / "README.md").write_text("# app, v2\n")
    (ws / "fresh.txt").write_text("fresh\n")
    store.take(ws)
    assert blob_count(store_root) == 8
    manifests = list((store_root / "manifests").iterdir())
    assert len(manifests) == 3 and all(p.suffix == ".json" for p in manifests)


def test_hash_cache_skips_rehashing_but_sees_edits_that_keep_size_and_mtime(
    store: LocalSnapshotStore, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unchanged files are not re-hashed; an edit that restores size and mtime (`cp -p`,
    `touch -d`) still changes ctime, which the sandbox cannot set, so it is seen."""
    monkeypatch.setattr(snapshot_scan, "RACY_NS", 0)
    hashed = names_hashed(monkeypatch)
    cache = tmp_path / "cache.json"
    target = ws / "src" / "app" / "main.py"
    original = store.take(ws, cache)
    hashed.clear()
    assert store.take(ws, cache) == original
    assert hashed == []  # everything answered from the cache

    st = target.stat()
    time.sleep(0.01)
    with target.open("r+b") as handle:  # same inode, same size
        handle.write(b"PRINT")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_mtime_ns == st.st_mtime_ns
    changed = store.take(ws, cache)
    assert hashed == ["main.py"] and changed != original


def test_recently_changed_files_are_rehashed_not_trusted(
    store: LocalSnapshotStore, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed = names_hashed(monkeypatch)
    cache = tmp_path / "cache.json"
    (ws / "fresh.txt").write_text("just written")
    store.take(ws, cache)
    hashed.clear()
    store.take(ws, cache)
    assert "fresh.txt" in hashed  # within the racy window: a same-tick rewrite could hide


def test_non_utf8_file_names_round_trip(store: LocalSnapshotStore, ws: Path) -> None:
    odd = os.fsdecode(b"bad\xffname.txt")
    (ws / odd).write_bytes(b"odd")
    os.symlink(odd, ws / "link-to-odd")
    snapshot_id = store.take(ws)
    (ws / odd).unlink()
    (ws / "link-to-odd").unlink()
    store.restore(snapshot_id, ws)
    assert (ws / odd).read_bytes() == b"odd"
    assert os.readlink(ws / "link-to-odd") == odd


def test_a_corrupt_or_foreign_hash_cache_is_harmless(
    store: LocalSnapshotStore, ws: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache.json"
    expected = store.take(ws)
    cache.write_text("{not json")
    assert store.take(ws, cache) == expected
    # Entries whose stat does not match (another inode, size or mtime) are ignored.
    cache.write_text('{"README.md": [6, 0, 0, "' + "0" * 64 + '"]}')
    assert store.take(ws, cache) == expected


def test_a_stale_cache_never_corrupts_the_store(ws: Path, tmp_path: Path) -> None:
    """A file that changes between hashing and copying (here: a stale cache entry, in life: a
    dev server writing a log) must not be stored under a hash its bytes do not have."""
    cache = tmp_path / "cache.json"
    target = ws / "src" / "app" / "main.py"
    LocalSnapshotStore(tmp_path / "first").take(ws, cache)
    st = target.stat()
    with target.open("r+b") as handle:
        handle.write(b"PRINT")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))

    fresh = LocalSnapshotStore(tmp_path / "second")  # lacks the blob the stale hash names
    snapshot_id = fresh.take(ws, cache)
    blobs = [p for p in (tmp_path / "second" / "blobs").rglob("*") if p.is_file()]
    assert blobs
    for blob in blobs:
        if blob.is_file():
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    elsewhere = tmp_path / "elsewhere"
    fresh.restore(snapshot_id, elsewhere)
    assert (elsewhere / "src" / "app" / "main.py").read_bytes() == target.read_bytes()


def test_concurrent_takes_of_the_same_content_share_the_store(tmp_path: Path) -> None:
    """One worker runs many sessions on threads over one store; identical files (a template's
    package.json) are often written at the same moment."""
    store = LocalSnapshotStore(tmp_path / "store")
    workspaces = []
    for i in range(8):
        root = tmp_path / f"ws{i}"
        root.mkdir()
        for n in range(40):
            (root / f"f{n}.txt").write_bytes(f"shared content {n}\n".encode() * 2000)
            os.utime(root / f"f{n}.txt", ns=(10**18, 10**18))  # one template, copied with -p
        workspaces.append(root)
    barrier = threading.Barrier(len(workspaces))
    ids: list[str] = []
    errors: list[BaseException] = []

    def take(root: Path) -> None:
        try:
            barrier.wait()
            ids.append(store.take(root))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(root,)) for root in workspaces]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(set(ids)) == 1 and len(ids) == len(workspaces)
    assert blob_count(tmp_path / "store") == 40
    restored = tmp_path / "restored"
    store.restore(ids[0], restored)
    assert tree(restored) == tree(workspaces[0])


def test_missing_blob_is_reported(store: LocalSnapshotStore, store_root: Path, ws: Path) -> None:
    snapshot_id = store.take(ws)
    entry = next(e for e in store.load(snapshot_id).entries if e.path == "src/app/main.py")
    assert entry.sha256 is not None
    (store_root / "blobs" / entry.sha256[:2] / entry.sha256).unlink()
    (ws / "src" / "app" / "main.py").write_text("changed\n")
    with pytest.raises(SnapshotError, match="missing") as info:
        store.restore(snapshot_id, ws)
    assert entry.sha256 in str(info.value) and "src/app/main.py" in str(info.value)


def test_corrupt_blob_is_reported_and_not_written(
    store: LocalSnapshotStore, store_root: Path, ws: Path
) -> None:
    snapshot_id = store.take(ws)
    entry = next(e for e in store.load(snapshot_id).entries if e.path == "data.bin")
    assert entry.sha256 is not None
    blob = store_root / "blobs" / entry.sha256[:2] / entry.sha256
    blob.write_bytes(b"bit rot" + blob.read_bytes()[7:])
    (ws / "data.bin").unlink()
    with pytest.raises(SnapshotError, match="corrupt") as info:
        store.restore(snapshot_id, ws)
    assert entry.sha256 in str(info.value) and "data.bin" in str(info.value)
    assert not (ws / "data.bin").exists()  # the bad bytes never land in the workspace
    assert not list(ws.rglob("*.restore.tmp"))


def test_corrupt_or_missing_manifest_is_reported(
    store: LocalSnapshotStore, store_root: Path, ws: Path
) -> None:
    snapshot_id = store.take(ws)
    before = tree(ws)
    manifest = store_root / "manifests" / f"{snapshot_id}.json"
    body = manifest.read_bytes()
    manifest.write_bytes(body.replace(b'"root":"', b'"root":"0'))  # another tree
    assert manifest.read_bytes() != body
    with pytest.raises(SnapshotError, match="corrupt") as info:
        store.restore(snapshot_id, ws)
    assert snapshot_id in str(info.value)
    manifest.unlink()
    with pytest.raises(SnapshotError, match="missing") as info:
        store.restore(snapshot_id, ws)
    assert snapshot_id in str(info.value)
    assert tree(ws) == before  # nothing was touched
