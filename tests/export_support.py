"""Helpers for the export tests: run git on a repository, unpack an archive, and read a folder
as comparable data (so a git checkout and a restore can be compared byte for byte)."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def unpack(archive: Path, into: Path) -> Path:
    """Extract into a new folder; returns the archive's single root folder."""
    into.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="tar")
    (root,) = into.iterdir()
    return root


def files_of(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every file and link under `root` but its top-level .git (a folder, or a worktree's
    file): kind and exec bit, then bytes or link target. Folders are left out: git keeps
    no empty ones."""
    out: dict[str, tuple[str, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if rel == ".git" or rel.startswith(".git/"):
                continue
            if full.is_symlink():
                out[rel] = ("link", os.fsencode(os.readlink(full)))
            elif full.is_file():
                out[rel] = (f"file{os.access(full, os.X_OK):d}", full.read_bytes())
    return out
