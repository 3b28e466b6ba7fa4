"""Map a path the model gave to a place beneath the workspace, or refuse it precisely.

The model sees the workspace as `/workspace`. Accepted: paths relative to it and absolute paths
under `/workspace`. Refused: anything that leads outside (by `..`, an absolute path, or a
symlink in any component). Symlinks that stay inside are followed, as the sandbox would follow
them (a link to `/workspace/x` points inside).

Background processes in the sandbox keep running while a tool works on the host, so nothing
here checks a path and then uses it by name: the tools open what they touch through
`cofounder.hostfs`, one component at a time beneath a held workspace fd. `resolve` is for
display and for handing a path to a command that runs inside the sandbox.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cofounder.hostfs import Beneath, Escape, MissingDirectory

SANDBOX_ROOT = PurePosixPath("/workspace")


class PathRefused(ValueError):
    """The path is malformed or leads outside the workspace; the message says which and why."""


@dataclass(frozen=True)
class WorkspacePath:
    host: Path  # the host path it resolved to (for display and tests; never opened by name)
    rel: str  # path relative to the workspace root as the model should see it ("." for root)


def relative_part(raw: str) -> PurePosixPath:
    """`raw` as a path relative to the workspace root, refusing what cannot be inside."""
    if "\x00" in raw:
        raise PathRefused(f"path {raw!r} contains a NUL byte")
    if not raw.strip():
        raise PathRefused("path is empty")
    path = PurePosixPath(raw)
    if path.is_absolute():
        if path == SANDBOX_ROOT or SANDBOX_ROOT in path.parents:
            path = path.relative_to(SANDBOX_ROOT)
        else:
            raise PathRefused(
                f"absolute path {raw!r} is outside the workspace; "
                "use a path relative to the workspace or one under /workspace/"
            )
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            raise PathRefused(f"path {raw!r} uses '..' to leave the workspace")
    return path


def open_root(workspace: Path) -> Beneath:
    """The workspace held by fd; links are read as the sandbox sees them."""
    return Beneath(workspace, alias=SANDBOX_ROOT)


@contextlib.contextmanager
def refusals(raw: str) -> Iterator[None]:
    """Turn what a walk beneath the workspace met into PathRefused with the model's words."""
    try:
        yield
    except Escape as exc:
        if exc.link is None:
            raise PathRefused(f"path {raw!r} resolves outside the workspace") from None
        raise PathRefused(
            f"path {raw!r} is refused: '{exc.link}' is a symlink to {exc.target!r}, "
            "which is outside the workspace"
        ) from None
    except NotADirectoryError as exc:
        raise PathRefused(f"path {raw!r} is refused: '{exc.filename}' is not a directory") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PathRefused(f"path {raw!r} is refused: {exc.strerror}") from None
        raise


def resolve(workspace: Path, raw: str) -> WorkspacePath:
    """Where `raw` leads beneath `workspace` (it may not exist yet), or raise PathRefused."""
    rel = relative_part(raw)
    with open_root(workspace) as root, refusals(raw):
        try:
            with root.locate(rel) as spot:
                shown = spot.rel
        except MissingDirectory as exc:
            shown = exc.would_be
    host = Path(os.path.realpath(workspace))
    return WorkspacePath(host=host if shown == "." else host / shown, rel=shown)


def to_sandbox(path: WorkspacePath) -> str:
    """The same location as seen from inside the sandbox (`/workspace/...`)."""
    return str(SANDBOX_ROOT) if path.rel == "." else str(SANDBOX_ROOT / path.rel)
