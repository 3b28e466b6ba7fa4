"""Walking a tree by directory fds, never following a link, while others change it.

Each directory is listed through an fd opened (without following links) relative to its held
parent, so a directory swapped for a symlink between the listing and the descent is refused
by the kernel rather than followed. Entries that vanish or change kind mid-walk are skipped
or reported as what they are now; the walk never reaches outside the tree it started in.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cofounder.hostfs.files import open_dir_at


@dataclass(slots=True)
class Entry:
    """One entry met by `walk`; `dir_fd` is its held parent, valid until the walk moves on."""

    rel: str  # posix path relative to the walk's start
    name: str
    dir_fd: int
    st: os.stat_result  # the entry itself (lstat), as listed

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


def walk(
    start_fd: int,
    *,
    descend: Callable[[Entry], bool] = lambda _entry: True,
    prefix: str = "",
) -> Iterator[Entry]:
    """Every entry below `start_fd` (a directory fd the caller keeps open), depth first: a
    directory is followed at once by its contents (when `descend(entry)` says to enter it),
    each directory's entries in name order. `prefix` is prepended to every `rel`. Only the
    chain of open directories is held, so the fds in use grow with depth, not width."""
    frames = [_Frame(start_fd, prefix, owned=False)]
    try:
        while frames:
            frame = frames[-1]
            name = next(frame.names, None)
            if name is None:
                frames.pop().close()
                continue
            try:
                st = os.stat(name, dir_fd=frame.fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # vanished since the listing
            entry = Entry(f"{frame.base}/{name}" if frame.base else name, name, frame.fd, st)
            yield entry
            if stat.S_ISDIR(st.st_mode) and descend(entry):
                try:
                    fd = open_dir_at(frame.fd, name)
                except OSError as exc:
                    if exc.errno in (errno.EMFILE, errno.ENFILE):
                        raise
                    continue  # swapped for a link or removed since: not ours to follow
                frames.append(_Frame(fd, entry.rel, owned=True))
    finally:
        for frame in frames:
            frame.close()


class _Frame:
    """One open directory of the walk and the names still to visit in it."""

    def __init__(self, fd: int, base: str, *, owned: bool) -> None:
        self.fd = fd
        self.base = base
        self.owned = owned
        try:
            with os.scandir(fd) as listing:
                found = sorted(e.name for e in listing)
        except OSError:
            found = []
        self.names = iter(found)

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)
            self.owned = False
