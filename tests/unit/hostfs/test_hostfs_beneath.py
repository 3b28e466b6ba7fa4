"""Resolution beneath a held root: links inside are followed as the sandbox sees them, nothing
outside is ever reached, and a component swapped by another thread never leads out."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from cofounder.hostfs import Beneath, Escape, MissingDirectory, lstat_at, write_atomic

ALIAS = PurePosixPath("/workspace")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src" / "app").mkdir(parents=True)
    (root / "src" / "app" / "main.py").write_text("x = 1\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text("secret\n")
    return d


@pytest.fixture
def root(ws: Path) -> Iterator[Beneath]:
    with Beneath(ws, alias=ALIAS) as held:
        yield held


def where(root: Beneath, rel: str, **kw: bool) -> tuple[str, str]:
    with root.locate(rel, **kw) as spot:
        return spot.rel, spot.name


@pytest.mark.parametrize(
    ("rel", "real"),
    [
        ("src/app/main.py", "src/app/main.py"),
        ("./src//app/./main.py", "src/app/main.py"),
        ("src/app/../app/main.py", "src/app/main.py"),
        ("src/..", "."),
        ("src/app/..", "src"),
        (".", "."),
        ("src/new.txt", "src/new.txt"),
    ],
)
def test_plain_paths(root: Beneath, rel: str, real: str) -> None:
    assert where(root, rel)[0] == real


def test_links_inside_are_followed_relative_and_through_the_alias(ws: Path, root: Beneath) -> None:
    os.symlink("src/app", ws / "code")
    os.symlink("/workspace/src/app/main.py", ws / "abs-main")
    os.symlink("..", ws / "src" / "app" / "up")
    os.symlink("main.py", ws / "src" / "app" / "entry")
    assert where(root, "code/main.py") == ("src/app/main.py", "main.py")
    assert where(root, "abs-main") == ("src/app/main.py", "main.py")
    assert where(root, "src/app/up/app/entry") == ("src/app/main.py", "main.py")
    assert where(root, "code/..")[0] == "src"  # `..` after a link: the target's parent


@pytest.mark.parametrize(
    ("link", "target", "rel"),
    [
        ("out", "{outside}", "out/secret.txt"),
        ("out", "{outside}/secret.txt", "out"),
        ("out", "../outside", "out/secret.txt"),
        ("out", "/etc", "out/passwd"),
        ("out", "/workspace/../etc", "out/passwd"),
        ("src/out", "../../outside/secret.txt", "src/out"),
    ],
)
def test_links_leading_out_are_refused_and_named(
    ws: Path, outside: Path, root: Beneath, link: str, target: str, rel: str
) -> None:
    os.symlink(target.format(outside=outside), ws / link)
    with pytest.raises(Escape) as info:
        where(root, rel)
    assert info.value.link == link
    assert info.value.target == target.format(outside=outside)


def test_dotdot_above_the_root_and_absolute_paths_are_refused(root: Beneath) -> None:
    for rel in ("..", "src/../..", "/etc/passwd"):
        with pytest.raises(Escape):
            where(root, rel)


def test_without_an_alias_every_absolute_link_is_outside(ws: Path) -> None:
    os.symlink("/workspace/src", ws / "abs")
    with Beneath(ws) as plain, pytest.raises(Escape):
        where(plain, "abs/app")


def test_link_loops_stop(ws: Path, root: Beneath) -> None:
    os.symlink("b", ws / "a")
    os.symlink("a", ws / "b")
    with pytest.raises(OSError) as info:
        where(root, "a/x")
    assert info.value.errno == errno.ELOOP


def test_strict_mode_refuses_any_link_on_the_way_and_never_follows_the_last(
    ws: Path, root: Beneath
) -> None:
    os.symlink("src", ws / "code")
    with pytest.raises(OSError) as info:
        where(root, "code/app", follow=False)
    assert info.value.errno == errno.ELOOP
    assert where(root, "code", follow=False) == ("code", "code")  # the link itself


def test_missing_directories_are_named_or_made(ws: Path, root: Beneath) -> None:
    with pytest.raises(MissingDirectory) as info:
        where(root, "src/no/such/../file.txt")
    assert info.value.filename == "src/no" and info.value.would_be == "src/no/file.txt"
    assert where(root, "src/deep/er/file.txt", make_parents=True)[0] == "src/deep/er/file.txt"
    assert (ws / "src" / "deep" / "er").is_dir()


def test_a_file_in_the_way_is_not_a_directory(root: Beneath) -> None:
    with pytest.raises(NotADirectoryError):
        where(root, "src/app/main.py/x")


def test_a_directory_swapped_for_a_link_by_another_thread_never_leads_out(
    ws: Path, outside: Path
) -> None:
    """A host thread flips `a` between a directory and a link to the outside folder while
    files are written and looked up beneath `a`: every one lands inside or is refused."""
    (ws / "park" / "dir").mkdir(parents=True)
    os.symlink(outside, ws / "park" / "link")
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            for parked in ("dir", "link"):
                try:
                    os.rename(ws / "park" / parked, ws / "a")
                    os.rename(ws / "a", ws / "park" / parked)
                except OSError:
                    pass

    swapper = threading.Thread(target=swap)
    swapper.start()
    landed = refused = i = 0
    deadline = time.monotonic() + 60
    try:
        with Beneath(ws, alias=ALIAS) as root:
            # At least 2,000 rounds, and on until both states were met: which one a round
            # meets is up to the scheduler, and a loaded machine once gave 2,000 refusals.
            while i < 2000 or (not (landed and refused) and time.monotonic() < deadline):
                i += 1
                try:
                    write_atomic(root, f"a/f{i % 5}.txt", b"x", make_parents=False)
                    landed += 1
                except (Escape, FileNotFoundError):
                    refused += 1
                try:
                    with root.locate("a/secret.txt") as spot:
                        assert lstat_at(spot.dir_fd, spot.name) is None
                except (Escape, FileNotFoundError):
                    pass
    finally:
        stop.set()
        swapper.join()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert landed and refused  # both states were met
