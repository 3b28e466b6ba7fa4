"""Resolve a path beneath a held directory, one component at a time, never leaving it.

The workspace is shared with hostile processes that keep running between two of our system
calls, so a path checked and then used by name can lead anywhere by the time it is used. Here
every step is relative to a directory fd we already hold and opened without following links
(`O_NOFOLLOW`): a component swapped for a symlink is seen as a symlink, and its target is
resolved by the same walk, so nothing is ever reached outside the root. `..` pops a held fd
and cannot climb above the root. Directories cannot be moved out from under us: the sandbox
only sees the workspace mount, and a rename across mounts fails.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LINKS = 40  # the kernel's own limit for one lookup


class MissingDirectory(FileNotFoundError):
    """A directory on the way does not exist; `would_be` is the real path the whole walk would
    have reached (lexically, from there on), for callers that only need to name it."""

    def __init__(self, rel: str, would_be: str) -> None:
        super().__init__(errno.ENOENT, "no such directory", rel)
        self.would_be = would_be


class Escape(ValueError):
    """The path leads outside the root: by `..`, by an absolute path, or through a symlink."""

    def __init__(self, message: str, *, link: str | None = None, target: str | None = None):
        super().__init__(message)
        self.link = link  # the symlink (relative to the root) that led out, if one did
        self.target = target  # what it pointed to


@dataclass(frozen=True)
class Spot:
    """Where a path ends: a held directory and the final name in it (`.` for the root).

    The name was not a symlink when it was looked at (or did not exist); use it only with
    calls that do not follow links, relative to `dir_fd`. Valid inside `locate`'s block.
    """

    dir_fd: int
    name: str
    rel: str  # the real path relative to the root ('.' for the root itself)


def _parts(rel: str | PurePosixPath) -> list[str]:
    path = PurePosixPath(rel)
    if path.is_absolute():
        raise Escape(f"absolute path {str(rel)!r} is not beneath the root")
    return [p for p in path.parts if p != "."]


class Beneath:
    """A held root directory; every lookup through it stays beneath it.

    `alias` is where the root appears to the processes that make the links (`/workspace` in
    the sandbox): an absolute link under it points back inside and is followed; any other
    absolute link leads out.
    """

    def __init__(self, root: Path | str, *, alias: PurePosixPath | None = None) -> None:
        self.fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.alias = alias

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Beneath:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def locate(
        self, rel: str | PurePosixPath, *, follow: bool = True, make_parents: bool = False
    ) -> Iterator[Spot]:
        """Walk to `rel`. With `follow`, symlinks that stay beneath the root are followed in
        every component, the last one included; without it any symlink on the way is refused
        (ELOOP) and the last component is never followed. `make_parents` creates missing
        directories on the way (mode 0755). Missing intermediate directories otherwise raise
        MissingDirectory; a non-directory on the way raises NotADirectoryError."""
        walk = _Walk(self, follow=follow, make_parents=make_parents)
        try:
            yield walk.run(_parts(rel))
        finally:
            walk.close()


class _Walk:
    def __init__(self, root: Beneath, *, follow: bool, make_parents: bool) -> None:
        self.root = root
        self.follow = follow
        self.make_parents = make_parents
        self.fds: list[int] = [os.dup(root.fd)]
        self.names: list[str] = []
        self.links = 0
        self.last_link: tuple[str, str] | None = None

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def _rel(self, *more: str) -> str:
        return "/".join([*self.names, *more]) or "."

    def _up(self) -> None:
        if len(self.fds) == 1:
            if self.last_link is not None:
                link, target = self.last_link
                raise Escape(
                    f"{link!r} is a symlink to {target!r}, which leads outside",
                    link=link,
                    target=target,
                )
            raise Escape("'..' leads above the root")
        os.close(self.fds.pop())
        self.names.pop()

    def _to_root(self) -> None:
        while len(self.fds) > 1:
            os.close(self.fds.pop())
        self.names.clear()

    def _splice(self, part: str, link_fd: int, pending: list[str]) -> None:
        """Replace the symlink `part` by its target's components. The target is read from the
        link we opened (`link_fd`), not looked up again by name, so it cannot be swapped."""
        link = self._rel(part)
        target = os.readlink("", dir_fd=link_fd)
        self.links += 1
        if self.links > MAX_LINKS:
            raise OSError(errno.ELOOP, f"too many levels of symbolic links at {link}")
        self.last_link = (link, target)
        path = PurePosixPath(target)
        if path.is_absolute():
            alias = self.root.alias
            if alias is None or not (path == alias or alias in path.parents):
                raise Escape(
                    f"{link!r} is a symlink to {target!r}, which is outside",
                    link=link,
                    target=target,
                )
            self._to_root()
            path = path.relative_to(alias)
        pending[:0] = [p for p in path.parts if p != "."]

    def _open(self, part: str) -> int | None:
        """An O_PATH fd for `part` in the current directory, or None when it is missing
        (after creating it as a directory, when asked and it is not the last component)."""
        try:
            return os.open(part, _O_PATH, dir_fd=self.fds[-1])
        except FileNotFoundError:
            return None

    def run(self, parts: list[str]) -> Spot:
        pending = list(parts)
        while pending:
            part = pending.pop(0)
            if part == "..":
                self._up()
                continue
            last = not pending
            if last and not self.follow:
                return Spot(self.fds[-1], part, self._rel(part))
            fd = self._open(part)
            if fd is None:
                if last:
                    return Spot(self.fds[-1], part, self._rel(part))
                if not self.make_parents:
                    rest = os.path.normpath("/".join([self._rel(part), *pending]))
                    raise MissingDirectory(self._rel(part), rest)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=self.fds[-1])
                pending.insert(0, part)
                continue
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                try:
                    if not self.follow:
                        raise OSError(errno.ELOOP, "a symlink is in the way", self._rel(part))
                    self._splice(part, fd, pending)
                finally:
                    os.close(fd)
                continue
            if last:
                os.close(fd)
                return Spot(self.fds[-1], part, self._rel(part))
            if not stat.S_ISDIR(mode):
                os.close(fd)
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", self._rel(part))
            self.fds.append(fd)
            self.names.append(part)
        if len(self.fds) == 1:
            return Spot(self.fds[0], ".", ".")
        # The path ended on a directory reached by `..` or a link: name it from its parent.
        name = self.names[-1]
        os.close(self.fds.pop())
        self.names.pop()
        return Spot(self.fds[-1], name, self._rel(name))
