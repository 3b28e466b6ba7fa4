"""Map a path the model gave to a host path inside the workspace, or refuse it precisely.

The model sees the workspace as `/workspace`. Accepted: paths relative to it and absolute paths
under `/workspace`. Refused: anything whose real location (after resolving `..` and every
symlink, in any component) is outside the workspace. Symlinks that stay inside are fine, and
callers act on the resolved real path, so a write never lands anywhere else. Tool calls run
one at a time and nothing in the sandbox outlives its command, so the tree cannot change
between this check and the use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SANDBOX_ROOT = PurePosixPath("/workspace")


class PathRefused(ValueError):
    """The path is malformed or leads outside the workspace; the message says which and why."""


@dataclass(frozen=True)
class WorkspacePath:
    host: Path  # real (symlink-free) host path; may not exist yet
    rel: str  # path relative to the workspace root as the model should see it ("." for root)


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _relative_part(raw: str) -> PurePosixPath:
    if "\x00" in raw:
        raise PathRefused(f"path {raw!r} contains a NUL byte")
    if not raw.strip():
        raise PathRefused("path is empty")
    path = PurePosixPath(raw)
    if path.is_absolute():
        if path == SANDBOX_ROOT or SANDBOX_ROOT in path.parents:
            return path.relative_to(SANDBOX_ROOT)
        raise PathRefused(
            f"absolute path {raw!r} is outside the workspace; "
            "use a path relative to the workspace or one under /workspace/"
        )
    return path


def resolve(workspace: Path, raw: str) -> WorkspacePath:
    """Resolve `raw` against `workspace` (a host directory) or raise PathRefused."""
    root = os.path.realpath(workspace)
    rel = _relative_part(raw)
    lexical = os.path.normpath(os.path.join(root, str(rel)))
    if not _inside(lexical, root):
        raise PathRefused(f"path {raw!r} uses '..' to leave the workspace")
    real = os.path.realpath(os.path.join(root, str(rel)))
    if not _inside(real, root):
        raise PathRefused(_symlink_escape_message(raw, root, rel))
    shown = os.path.relpath(real, root)
    return WorkspacePath(host=Path(real), rel="." if shown == "." else shown)


def _symlink_escape_message(raw: str, root: str, rel: PurePosixPath) -> str:
    """Name the component whose symlink leads out, as the model would write it."""
    current = root
    shown = PurePosixPath()
    for part in rel.parts:
        current = os.path.join(current, part)
        shown = shown / part
        if os.path.islink(current) and not _inside(os.path.realpath(current), root):
            target = os.readlink(current)
            return (
                f"path {raw!r} is refused: '{shown}' is a symlink to {target!r}, "
                "which is outside the workspace"
            )
    return f"path {raw!r} resolves outside the workspace"


def to_sandbox(path: WorkspacePath) -> str:
    """The same location as seen from inside the sandbox (`/workspace/...`)."""
    return str(SANDBOX_ROOT) if path.rel == "." else str(SANDBOX_ROOT / path.rel)
