"""Reading, replacing and walking beneath a root: only regular files are read (a FIFO never
blocks), replacements are atomic and keep modes minus setuid, walks follow no link."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from cofounder.hostfs import (
    Beneath,
    FileTooLarge,
    NotRegularFile,
    open_dir_at,
    read_bytes,
    walk,
    write_atomic,
)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("x = 1\n")
    return root


@pytest.fixture
def root(ws: Path) -> Iterator[Beneath]:
    with Beneath(ws, alias=PurePosixPath("/workspace")) as held:
        yield held


def test_read_follows_inside_links_and_caps_memory(ws: Path, root: Beneath) -> None:
    os.symlink("src/app.py", ws / "main.py")
    assert read_bytes(root, "main.py", limit=100) == (b"x = 1\n", "src/app.py")
    with pytest.raises(FileTooLarge) as info:
        read_bytes(root, "main.py", limit=3)
    assert info.value.size == 6 and info.value.limit == 3


def test_special_files_are_refused_without_blocking(ws: Path, root: Beneath) -> None:
    os.mkfifo(ws / "pipe")
    with pytest.raises(NotRegularFile) as fifo:
        read_bytes(root, "pipe", limit=100)  # a blocking open would hang here
    assert not fifo.value.is_dir
    with pytest.raises(NotRegularFile) as directory:
        read_bytes(root, "src", limit=100)
    assert directory.value.is_dir


def test_strict_reads_refuse_a_link_even_inside(ws: Path, root: Beneath) -> None:
    os.symlink("src/app.py", ws / "main.py")
    with pytest.raises(OSError) as info:
        read_bytes(root, "main.py", limit=100, follow=False)
    assert info.value.errno == errno.ELOOP


def test_write_is_atomic_keeps_mode_drops_setuid_and_goes_through_inside_links(
    ws: Path, root: Beneath
) -> None:
    target = ws / "src" / "app.py"
    target.chmod(0o4755)
    inode = target.stat().st_ino
    os.symlink("/workspace/src/app.py", ws / "alias.py")
    existed, real = write_atomic(root, "alias.py", b"y = 2\n")
    assert existed and real == "src/app.py"
    assert target.read_bytes() == b"y = 2\n" and target.stat().st_ino != inode
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert os.readlink(ws / "alias.py") == "/workspace/src/app.py"  # the link is kept
    assert [p.name for p in (ws / "src").iterdir()] == ["app.py"]  # no temp file left


def test_write_creates_parents_and_refuses_directories(ws: Path, root: Beneath) -> None:
    assert write_atomic(root, "a/b/c.txt", b"new") == (False, "a/b/c.txt")
    assert stat.S_IMODE((ws / "a" / "b" / "c.txt").stat().st_mode) == 0o644
    with pytest.raises(IsADirectoryError):
        write_atomic(root, "src", b"x")
    with pytest.raises(NotADirectoryError):
        write_atomic(root, "src/app.py/x", b"x")


def test_walk_lists_links_as_links_and_prunes(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "secret").write_text("s")
    os.symlink(outside, ws / "out")
    (ws / "node_modules" / "x").mkdir(parents=True)
    start = os.open(ws, os.O_RDONLY | os.O_DIRECTORY)
    try:
        seen = {
            e.rel: stat.S_IFMT(e.st.st_mode)
            for e in walk(start, descend=lambda e: e.name != "node_modules")
        }
    finally:
        os.close(start)
    assert seen == {
        "node_modules": stat.S_IFDIR,
        "out": stat.S_IFLNK,
        "src": stat.S_IFDIR,
        "src/app.py": stat.S_IFREG,
    }


def test_walk_does_not_enter_a_directory_swapped_for_a_link(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "inner").mkdir(parents=True)
    start = os.open(ws, os.O_RDONLY | os.O_DIRECTORY)
    rels: list[str] = []
    try:
        for entry in walk(start):
            rels.append(entry.rel)
            if entry.rel == "src":  # listed as a directory; now it becomes a link out
                os.rename(ws / "src", tmp_path / "parked")
                os.symlink(outside, ws / "src")
    finally:
        os.close(start)
    assert rels == ["src"]


def test_open_dir_at_refuses_links(ws: Path) -> None:
    os.symlink("src", ws / "code")
    start = os.open(ws, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(NotADirectoryError):
            open_dir_at(start, "code")
    finally:
        os.close(start)
