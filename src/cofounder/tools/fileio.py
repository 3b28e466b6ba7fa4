"""How the file tools reach the workspace: beneath its held fd, with errors the model can use.

Background processes in the sandbox may swap any directory for a symlink while a tool runs, so
every tool opens and writes through `cofounder.hostfs` (one component at a time, never
following a link out) and never by host path. Writes are atomic (a temp file renamed over the
target), so a crash or a full disk leaves the old file or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import PurePosixPath

from cofounder.hostfs import (
    Beneath,
    FileTooLarge,
    MissingDirectory,
    NotRegularFile,
    Opened,
    open_regular,
)
from cofounder.tools.base import ToolContext, ToolFailure
from cofounder.tools.paths import open_root, refusals, relative_part

MIB = 1024 * 1024
# edit_file holds the old text, the new text and their bytes at once (about four times the file).
MAX_EDIT_BYTES = 8 * MIB
# read_file streams, but one line is held whole; beyond this a file is not worth paging.
MAX_READ_BYTES = 64 * MIB


@contextlib.contextmanager
def in_workspace(ctx: ToolContext, raw: str) -> Iterator[tuple[Beneath, PurePosixPath]]:
    """The held workspace and `raw` as a relative path; walk errors become PathRefused."""
    rel = relative_part(raw)
    with open_root(ctx.workspace) as root, refusals(raw):
        yield root, rel


def open_file(root: Beneath, rel: PurePosixPath, *, limit: int) -> Opened:
    """The existing regular file at `rel`, opened for reading, or a ToolFailure saying why not."""
    try:
        opened = open_regular(root, rel)
    except MissingDirectory as exc:
        raise ToolFailure(f"file not found: {exc.would_be}", "file not found") from None
    except FileNotFoundError as exc:
        raise ToolFailure(f"file not found: {exc.filename}", "file not found") from None
    except NotRegularFile as exc:
        if exc.is_dir:
            raise ToolFailure(
                f"{exc.filename} is a directory, not a file; list it with glob or bash `ls`",
                "is a directory",
            ) from None
        raise ToolFailure(f"{exc.filename} is not a regular file", "not a regular file") from None
    if opened.st.st_size > limit:
        opened.close()
        raise too_large(FileTooLarge(opened.rel, opened.st.st_size, limit))
    return opened


def too_large(exc: FileTooLarge) -> ToolFailure:
    return ToolFailure(
        f"{exc.filename} is {exc.size / MIB:.1f} MiB, over this tool's {exc.limit // MIB} MiB "
        "limit; use bash (`head`, `sed -n`, `grep`, `sed -i`) for files this large",
        "file too large",
    )


def decode_text(data: bytes, rel: str) -> str:
    """The file as UTF-8 text, line endings untouched; binary files are refused."""
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


def parent_failure(raw: str, blocker: str) -> ToolFailure:
    return ToolFailure(
        f"cannot create {raw}: '{blocker}' exists and is not a directory",
        "parent is not a directory",
    )
