"""A background process in the sandbox swaps directories and files for symlinks to a host
folder, as fast as it can, while the host works on the workspace: the file tools, snapshots
(take and restore) and the size walk with its setuid strip. Nothing outside may be created,
read or changed.

The swapper uses renames (one system call each), so each name flips between a real entry and
a link many thousand times a second: with the earlier check-then-use code this test created
directories and files in the host folder, returned its secret and stripped its setuid bit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cofounder.sandbox.local.workspace_guard import measure
from cofounder.storage.snapshots import LocalSnapshotStore, SnapshotError
from cofounder.tools import ToolRun

Call = Callable[..., ToolRun]

SWAPPER = r"""
import os, sys
out = sys.argv[1]
os.makedirs("park/dir/b", exist_ok=True)
with open("park/dir/b/f.txt", "w") as fh:
    fh.write("inside\n")
with open("park/file.txt", "w") as fh:
    fh.write("inside\n")
os.symlink(out, "park/dirlink")
os.symlink(out + "/secret.txt", "park/filelink")
os.symlink(out + "/suid.bin", "park/suidlink")
open("ready", "w").close()
while True:
    for name, real, link in (("a", "dir", "dirlink"), ("f.txt", "file.txt", "filelink"),
                             ("s.bin", "file.txt", "suidlink")):
        try:
            os.rename("park/" + real, name)
            os.rename(name, "park/" + real)
            os.rename("park/" + link, name)
            os.rename(name, "park/" + link)
        except OSError:
            pass
"""


def _tree(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry below `root`: mode, size, mtime and content hash (links not followed)."""
    found: dict[str, tuple[int, int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            st = full.lstat()
            digest = ""
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(full.read_bytes()).hexdigest()
            found[str(full.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return found


@pytest.fixture
def trap(ws: Path, outside: Path, call: Call) -> Path:
    """Start the swapper in the background; return the host folder it points at."""
    suid = outside / "suid.bin"
    suid.write_bytes(b"\x7fELF not really")
    suid.chmod(0o4755)
    (ws / "swap.py").write_text(SWAPPER)
    started = call("bash", command=f"python3 swap.py {outside}", background=True)
    assert started.result.ok, started.result.content
    deadline = time.monotonic() + 10
    while not (ws / "ready").exists():
        assert time.monotonic() < deadline, "the swapper did not start"
        time.sleep(0.01)
    return outside


def test_nothing_outside_is_touched_while_the_workspace_is_swapped_under_us(
    ws: Path, trap: Path, call: Call, tmp_path: Path
) -> None:
    outside = trap
    before = _tree(outside)
    secret = (outside / "secret.txt").read_bytes()
    secret_sha = hashlib.sha256(secret).hexdigest()
    store = LocalSnapshotStore(tmp_path / "store")
    results: list[str] = []
    snapshots: list[str] = []
    for i in range(300):
        flip = ("inside", "INSIDE") if i % 2 == 0 else ("INSIDE", "inside")
        runs = [
            call("write_file", path=f"a/b/new{i % 7}.txt", content=f"written {i}\n"),
            call("read_file", path="a/secret.txt"),
            call("read_file", path="f.txt"),
            # Both ways: the file is the real one only between two of the swapper's renames,
            # and a restore may have set it back, so the one expected flip alone could miss
            # all 300 rounds on a loaded machine (it did once in CI).
            call("edit_file", path="f.txt", old_string=flip[0], new_string=flip[1]),
            call("edit_file", path="f.txt", old_string=flip[1], new_string=flip[0]),
            call("edit_file", path="a/b/f.txt", old_string=flip[0], new_string=flip[1]),
            call("glob", pattern="a/**"),
        ]
        results += [run.result.content for run in runs]
        measure(ws)
        if i % 25 == 0:
            snapshots.append(store.take(ws))
        if i % 60 == 30 and snapshots:
            # A restore may fail while names flip; it must never write outside.
            with contextlib.suppress(SnapshotError, OSError):
                store.restore(snapshots[0], ws)
    assert _tree(outside) == before
    assert stat.S_IMODE((outside / "suid.bin").stat().st_mode) == 0o4755
    assert not [r for r in results if "HOST-SECRET" in r or "suid.bin" in r]
    for snapshot_id in snapshots:
        for entry in store.load(snapshot_id).entries:
            assert entry.sha256 != secret_sha
            assert not entry.path.startswith(("a/secret", "a/suid"))
    # The tools did work on the real entries in between: the race was really run.
    assert any(r.startswith("Created a/b/new") for r in results)
    assert any(r.startswith("Edited f.txt") for r in results)
