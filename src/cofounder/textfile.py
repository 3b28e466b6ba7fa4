"""Reading a small input file (project, trajectory, config) without hanging or ballooning.

`Path.read_bytes()` on `/dev/zero` never returns and on a FIFO blocks until a writer appears;
a multi-gigabyte file is read whole before its size is known. Here the file is opened
non-blocking, refused unless `fstat` says it is a regular file, and read no further than the
limit, so every such input gets a one-line refusal instead of a hang.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_O_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class FileRefused(Exception):
    """The file cannot be used; the message is a founder-readable reason (no path in it)."""


def read_limited(path: Path, limit: int, *, what: str = "file") -> bytes:
    """The bytes of the regular file at `path`, if it holds at most `limit` of them.

    `what` names the file in messages ("is a directory, not a project file"). Raises
    FileRefused for a missing, unreadable, special (FIFO, device, socket) or oversized file.
    """
    try:
        fd = os.open(path, _O_READ)
    except FileNotFoundError:
        raise FileRefused("no such file") from None
    except PermissionError:
        raise FileRefused("cannot read the file: permission denied") from None
    except OSError as exc:
        raise FileRefused(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileRefused(f"is a directory, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"is {_kind(info.st_mode)}, not a regular file; refusing to read it")
        if info.st_size > limit:
            raise FileRefused(_too_large(info.st_size, limit))
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # a file may grow after fstat: never read past limit + 1
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileRefused(_too_large(limit, limit, at_least=True))
        return b"".join(chunks)
    except OSError as exc:
        raise FileRefused(f"cannot read the file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _too_large(size: int, limit: int, *, at_least: bool = False) -> str:
    more = "more than " if at_least else ""
    return f"the file is too large ({more}{size} bytes; the limit is {limit})"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"
