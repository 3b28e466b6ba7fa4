"""Path resolution: everything that lands outside the workspace is refused, precisely."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cofounder.tools.paths import PathRefused, resolve, to_sandbox


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("x = 1\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text("host secret\n")
    return d


@pytest.mark.parametrize(
    "raw", ["src/app.py", "./src/app.py", "/workspace/src/app.py", "src/../src/app.py"]
)
def test_paths_inside_resolve_to_the_real_file(ws: Path, raw: str) -> None:
    got = resolve(ws, raw)
    assert got.host == (ws / "src" / "app.py").resolve()
    assert got.rel == "src/app.py"
    assert to_sandbox(got) == "/workspace/src/app.py"


@pytest.mark.parametrize("raw", [".", "/workspace", "/workspace/"])
def test_workspace_root_itself(ws: Path, raw: str) -> None:
    got = resolve(ws, raw)
    assert got.rel == "." and got.host == ws.resolve()
    assert to_sandbox(got) == "/workspace"


def test_new_file_in_new_dir_is_allowed(ws: Path) -> None:
    got = resolve(ws, "a/b/c.txt")
    assert got.host == ws.resolve() / "a" / "b" / "c.txt"


@pytest.mark.parametrize("raw", ["../x", "src/../../x", "/workspace/../etc/passwd", "a/../../.."])
def test_dotdot_escape_is_refused(ws: Path, raw: str) -> None:
    with pytest.raises(PathRefused, match=r"'\.\.'"):
        resolve(ws, raw)


@pytest.mark.parametrize("raw", ["/etc/passwd", "/root", "/workspacex/a", "/tmp/x"])
def test_absolute_paths_outside_workspace_are_refused(ws: Path, raw: str) -> None:
    with pytest.raises(PathRefused, match=r"absolute path .* outside the workspace"):
        resolve(ws, raw)


def test_host_absolute_path_of_the_workspace_is_refused_too(ws: Path) -> None:
    # The model only knows /workspace; a host path is not a way in.
    with pytest.raises(PathRefused):
        resolve(ws, str(ws / "src" / "app.py"))


def test_symlinked_file_pointing_outside_is_refused(ws: Path) -> None:
    os.symlink("/etc/passwd", ws / "pw")
    with pytest.raises(PathRefused, match="'pw' is a symlink to '/etc/passwd'"):
        resolve(ws, "pw")


def test_symlinked_parent_dir_pointing_outside_is_refused(ws: Path, outside: Path) -> None:
    os.symlink(outside, ws / "src" / "data")
    with pytest.raises(PathRefused, match="'src/data' is a symlink"):
        resolve(ws, "src/data/secret.txt")
    with pytest.raises(PathRefused):
        resolve(ws, "/workspace/src/data/new-file.txt")


def test_relative_symlink_climbing_out_is_refused(ws: Path, outside: Path) -> None:
    os.symlink("../outside/secret.txt", ws / "rel")
    with pytest.raises(PathRefused, match="outside the workspace"):
        resolve(ws, "rel")


def test_symlink_chain_ending_outside_is_refused(ws: Path) -> None:
    os.symlink("/etc", ws / "hop2")
    os.symlink("hop2", ws / "hop1")
    with pytest.raises(PathRefused):
        resolve(ws, "hop1/passwd")


def test_symlinks_that_stay_inside_are_followed(ws: Path) -> None:
    os.symlink("src", ws / "code")
    os.symlink("app.py", ws / "src" / "main.py")
    got = resolve(ws, "code/main.py")
    assert got.host == (ws / "src" / "app.py").resolve()
    assert got.rel == "src/app.py"


def test_workspace_reached_through_a_symlink_still_works(tmp_path: Path, ws: Path) -> None:
    alias = tmp_path / "alias"
    os.symlink(ws, alias)
    assert resolve(alias, "src/app.py").host == (ws / "src" / "app.py").resolve()


@pytest.mark.parametrize("raw", ["", "   ", "a\x00b"])
def test_malformed_paths_are_refused(ws: Path, raw: str) -> None:
    with pytest.raises(PathRefused):
        resolve(ws, raw)
