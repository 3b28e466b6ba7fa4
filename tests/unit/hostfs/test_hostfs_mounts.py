"""Reading the mount table: the fields the workspace volume and the cgroup probe rely on."""

from __future__ import annotations

import os
from pathlib import Path

from cofounder.hostfs.mounts import mount_at, parse_mounts

TABLE = (
    "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=1k\n"
    "45 27 7:0 / /srv/data\\040dir/workspaces rw,nosuid,nodev - ext4 /dev/loop0 rw\n"
    "46 45 8:1 /srv/elsewhere /srv/data\\040dir/workspaces rw - ext4 /dev/sda1 rw,errors=x\n"
    "garbage line without a separator\n"
)


def test_fields_are_unescaped_and_malformed_lines_skipped() -> None:
    mounts = parse_mounts(TABLE)
    assert [m.mount_point for m in mounts] == [
        "/dev",
        "/srv/data dir/workspaces",
        "/srv/data dir/workspaces",
    ]
    loop = mounts[1]
    assert (loop.root, loop.fstype, loop.source) == ("/", "ext4", "/dev/loop0")
    assert loop.device == os.makedev(7, 0)  # what os.stat gives a path on it as st_dev
    assert loop.super_options == frozenset({"rw"})
    # The mount's own flags, which nosuid and nodev are, apart from the filesystem's.
    assert loop.flags == frozenset({"rw", "nosuid", "nodev"})
    assert mounts[2].flags == frozenset({"rw"})
    assert mounts[2].super_options == frozenset({"rw", "errors=x"})


def test_the_visible_mount_is_the_last_one_stacked_on_a_mount_point(tmp_path: Path) -> None:
    (tmp_path / "mountinfo").write_text(TABLE)
    top = mount_at(Path("/srv/data dir/workspaces"), proc_self=tmp_path)
    assert top is not None and (top.root, top.source) == ("/srv/elsewhere", "/dev/sda1")
    assert mount_at(Path("/srv"), proc_self=tmp_path) is None
