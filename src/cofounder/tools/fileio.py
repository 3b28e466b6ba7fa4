"""Atomic file replacement and strict text loading, shared by write_file and edit_file.

Atomic: the new content goes to a temp file in the same directory and is renamed over the
target, so a crash or a full disk leaves the old file or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from cofounder.tools.base import ToolFailure

NEW_FILE_MODE = 0o644


def atomic_write(target: Path, data: bytes) -> bool:
    """Replace `target` with `data`; keep an existing file's mode. Returns whether it existed.

    `target` must already be the real path (symlinks resolved), so the rename replaces the file
    itself rather than a link to it.
    """
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, NEW_FILE_MODE if mode is None else mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return mode is not None


def read_text(host: str, rel: str) -> str:
    """The whole file as UTF-8 text, line endings untouched; binary files are refused."""
    with open(host, "rb") as fh:
        data = fh.read()
    if b"\x00" in data:
        raise ToolFailure(
            f"{rel} looks like a binary file (it contains NUL bytes); it cannot be edited as text",
            "binary file",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ToolFailure(
            f"{rel} is not valid UTF-8 (first bad byte on line {line}); "
            "it cannot be edited as text",
            "not UTF-8 text",
        ) from None


def ensure_parent(target: Path, rel: str) -> None:
    """Create the parent directories of `target`, with a clear error when a file is in the way."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ToolFailure(
            f"cannot create {rel}: a parent path exists and is not a directory",
            "parent is not a directory",
        ) from None
