"""Reading and replacing files beneath a held root, by directory fd, never by path.

Every open is relative to a directory fd from `Beneath.locate` and never follows a link in its
last component; a file is used only after `fstat` on the opened fd says it is a regular file
(so a FIFO or device swapped in is refused without blocking: the open is non-blocking).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath

from cofounder.hostfs.beneath import Beneath

_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
NEW_FILE_MODE = 0o644
_CHUNK = 1 << 20


class NotRegularFile(OSError):
    """The entry is not a regular file (a directory, device, FIFO or socket)."""

    def __init__(self, rel: str, st: os.stat_result) -> None:
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        super().__init__(errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL, kind, rel)
        self.is_dir = stat.S_ISDIR(st.st_mode)


class FileTooLarge(OSError):
    """Reading the file would take more host memory than the caller allows."""

    def __init__(self, rel: str, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"{size} bytes, over the {limit}-byte limit", rel)
        self.size = size
        self.limit = limit


def open_regular_at(dir_fd: int, name: str, rel: str | None = None) -> tuple[int, os.stat_result]:
    """Open `name` in `dir_fd` for reading, only if it is a regular file right now.

    A symlink raises OSError(ELOOP), a missing entry FileNotFoundError, anything else that is
    not a regular file NotRegularFile. The caller owns the returned fd.
    """
    fd = os.open(name, _O_READ, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(rel or name, st)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_dir_at(dir_fd: int, name: str) -> int:
    """A readable fd for the directory `name` in `dir_fd`; a symlink raises ENOTDIR."""
    return os.open(name, _O_DIR, dir_fd=dir_fd)


@dataclass(frozen=True)
class Opened:
    """A regular file opened for reading beneath a root; close it (or use `with`)."""

    fd: int
    st: os.stat_result
    rel: str  # its real path relative to the root

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_regular(root: Beneath, rel: str | PurePosixPath, *, follow: bool = True) -> Opened:
    """Open the regular file at `rel` for reading (links beneath the root followed, unless
    `follow` is False, when any link on the way is refused)."""
    with root.locate(rel, follow=follow) as spot:
        fd, st = open_regular_at(spot.dir_fd, spot.name, spot.rel)
    return Opened(fd, st, spot.rel)


def read_all(fd: int, size_hint: int, limit: int, rel: str) -> bytes:
    """The whole file behind `fd`, refusing to hold more than `limit` bytes (it may grow)."""
    if size_hint > limit:
        raise FileTooLarge(rel, size_hint, limit)
    chunks: list[bytes] = []
    total = 0
    while chunk := os.read(fd, _CHUNK):
        total += len(chunk)
        if total > limit:
            raise FileTooLarge(rel, total, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def read_bytes(
    root: Beneath, rel: str | PurePosixPath, *, limit: int, follow: bool = True
) -> tuple[bytes, str]:
    """The bytes of the regular file at `rel`, and its real relative path."""
    with open_regular(root, rel, follow=follow) as f:
        return read_all(f.fd, f.st.st_size, limit, f.rel), f.rel


def sha256_fd(fd: int) -> tuple[str, int]:
    """The sha256 of everything readable from `fd`, and how many bytes that was."""
    digest = hashlib.sha256()
    size = 0
    while chunk := os.read(fd, _CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """The entry itself (links not followed), or None when it does not exist."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def write_atomic(
    root: Beneath, rel: str | PurePosixPath, data: bytes, *, make_parents: bool = True
) -> tuple[bool, str]:
    """Replace the file at `rel` (following links beneath the root) with `data`.

    The bytes go to a fresh temp file in the same held directory, then are renamed over the
    name, so a crash or a full disk leaves the old file or the new one. An existing file keeps
    its permission bits. Returns (whether it existed, its real relative path).
    """
    with root.locate(rel, make_parents=make_parents) as spot:
        if spot.name == ".":
            raise IsADirectoryError(errno.EISDIR, "is a directory", spot.rel)
        old = lstat_at(spot.dir_fd, spot.name)
        if old is not None and stat.S_ISDIR(old.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", spot.rel)
        mode = NEW_FILE_MODE if old is None else stat.S_IMODE(old.st_mode)
        tmp = f".{spot.name[:100]}.{uuid.uuid4().hex[:12]}.tmp"
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600, dir_fd=spot.dir_fd,
        )  # fmt: skip
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fchmod(fh.fileno(), mode & ~(stat.S_ISUID | stat.S_ISGID))
                os.fsync(fh.fileno())
            os.rename(tmp, spot.name, src_dir_fd=spot.dir_fd, dst_dir_fd=spot.dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=spot.dir_fd)
            raise
        return old is not None, spot.rel
