"""Workspace size measurement, limit messages and the in-command watcher."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cofounder.sandbox.limits import MIB
from cofounder.sandbox.local.workspace_guard import WorkspaceGuard, measure


def guard(root: Path, limit: int = 10 * MIB, files: int = 1000, floor: int = 0) -> WorkspaceGuard:
    return WorkspaceGuard(root, limit_bytes=limit, limit_files=files, min_host_free_bytes=floor)


def test_counts_allocated_blocks_not_apparent_size(tmp_path: Path) -> None:
    (tmp_path / "real.bin").write_bytes(os.urandom(MIB))
    with open(tmp_path / "sparse.bin", "wb") as fh:
        fh.truncate(1024 * MIB)  # 1 GiB apparent, nothing allocated
    usage = measure(tmp_path)
    assert MIB <= usage.bytes < 2 * MIB
    assert usage.files == 2


def test_hard_links_count_once_and_symlinks_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(os.urandom(MIB))
    os.link(tmp_path / "a", tmp_path / "b")
    (tmp_path / "to-root").symlink_to("/")
    (tmp_path / "d").mkdir()
    usage = measure(tmp_path)
    assert usage.bytes < 2 * MIB
    assert usage.files == 4


def test_setuid_and_setgid_bits_are_dropped(tmp_path: Path) -> None:
    f = tmp_path / "tool"
    f.write_bytes(b"#!/bin/sh\n")
    f.chmod(0o6755)
    usage = measure(tmp_path)
    assert usage.stripped == 1
    assert stat.S_IMODE(f.stat().st_mode) == 0o755


def test_over_limit_messages_name_the_limit(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(os.urandom(2 * MIB))
    g = guard(tmp_path, limit=MIB)
    assert g.over_limit(g.measure()) == "the workspace uses 2.0 MiB, over its 1.0 MiB limit"
    for i in range(5):
        (tmp_path / f"f{i}").touch()
    g2 = guard(tmp_path, limit=100 * MIB, files=3)
    assert g2.over_limit(g2.measure()) == "the workspace holds 6 files, over its limit of 3"
    assert guard(tmp_path, limit=100 * MIB).over_limit(measure(tmp_path)) is None


def test_watcher_stops_on_limit_and_on_a_nearly_full_disk(tmp_path: Path) -> None:
    g = guard(tmp_path, limit=MIB)
    w = g.watcher()
    assert w.check() is None
    (tmp_path / "x").write_bytes(os.urandom(2 * MIB))
    assert "over its 1.0 MiB limit; the command was stopped" in (w.check() or "")

    huge_floor = guard(tmp_path, limit=100 * MIB, floor=2**62)
    w2 = huge_floor.watcher()
    assert w2.check() is None  # not growing: deleting files must stay possible
    (tmp_path / "y").write_bytes(os.urandom(MIB))
    assert "host disk has only" in (w2.check() or "")


def test_interval_grows_with_the_cost_of_a_walk(tmp_path: Path) -> None:
    g = guard(tmp_path)
    g.measure()
    assert 0.25 <= g.interval_s <= 5.0
