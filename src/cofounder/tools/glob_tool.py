"""glob: find files by name pattern, newest first.

Matching runs on the host (it only reads directory entries), so it must keep itself inside
the workspace while background processes change it: patterns may not be absolute or climb
with `..`; the directories a pattern names literally are reached like any tool path (links
that stay inside are followed, and results keep the names the agent used); below them the
walk follows no link at all.
"""

from __future__ import annotations

import os
import stat
from pathlib import PurePosixPath

from wcmatch import glob as wcglob

from cofounder.hostfs import Beneath, Entry, MissingDirectory, lstat_at, open_dir_at, walk
from cofounder.tools.base import Args, ToolContext, ToolDef, ToolFailure, ToolOutput, clip, plural
from cofounder.tools.fileio import in_workspace
from cofounder.tools.paths import SANDBOX_ROOT, refusals

MAX_RESULTS = 500
_FLAGS = wcglob.GLOBSTAR | wcglob.BRACE
# Skipped unless the pattern names them: huge, and never what the model is looking for.
_PRUNED = ("node_modules", ".git", ".venv")

SCHEMA = {
    "type": "object",
    "properties": {
        "pattern": {
            "type": "string",
            "minLength": 1,
            "description": "Glob such as '**/*.py', 'src/*.ts' or '**/*.{js,jsx}'.",
        },
        "path": {
            "type": "string",
            "description": "Directory to search from, relative to the workspace (default: root).",
        },
    },
    "required": ["pattern"],
    "additionalProperties": False,
}

DESCRIPTION = (
    "Find files whose path matches a glob pattern, newest first. '*' stays within one "
    "directory ('*.py' is the top level only); '**' spans directories ('**/*.py' is any "
    "depth); '{a,b}' alternates. Hidden files only match when the pattern names them "
    f"(e.g. '.*' or '**/.env'). node_modules, .git and .venv are skipped unless named. "
    f"At most {MAX_RESULTS} paths, relative to the workspace."
)


def _relative_pattern(raw: str) -> str:
    pattern = raw.strip()
    posix = PurePosixPath(pattern)
    if posix.is_absolute():
        if SANDBOX_ROOT not in posix.parents:
            raise ToolFailure(
                f"pattern {raw!r} is an absolute path outside the workspace; "
                "use a pattern relative to the workspace",
                "absolute pattern refused",
            )
        pattern = str(posix.relative_to(SANDBOX_ROOT))
    if ".." in pattern.split("/"):
        raise ToolFailure(f"pattern {raw!r} may not contain '..'", "'..' in pattern refused")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern


_MAGIC = frozenset("*?[{\\")


def split_literal(pattern: str) -> tuple[PurePosixPath, PurePosixPath]:
    """The leading directories a pattern names literally, and the rest that must be matched
    (at least the last component): `src/api/**/*.py` → (`src/api`, `**/*.py`)."""
    parts = PurePosixPath(pattern).parts
    literal = 0
    while literal < len(parts) - 1 and not _MAGIC.intersection(parts[literal]):
        literal += 1
    return PurePosixPath(*parts[:literal]), PurePosixPath(*parts[literal:])


def _matches(
    root: Beneath, start: PurePosixPath, rest: str, pruned: frozenset[str]
) -> list[tuple[float, str]]:
    """(-mtime, path below `start`) of every non-directory entry matching `rest`.

    The start (the agent's own words) is reached through links that stay inside; below it
    nothing is followed: the walk goes by directory fds, so a directory swapped for a link
    while we look is never entered.
    """
    depth = None if "**" in rest else rest.count("/") + 1
    try:
        with root.locate(start) as spot:
            dir_fd = open_dir_at(spot.dir_fd, spot.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found: list[tuple[float, str]] = []

    def descend(entry: Entry) -> bool:
        if entry.name in pruned:
            return False
        return depth is None or entry.rel.count("/") + 1 < depth

    try:
        for entry in walk(dir_fd, descend=descend):
            if not entry.is_dir and wcglob.globmatch(entry.rel, rest, flags=_FLAGS):
                found.append((-entry.st.st_mtime, entry.rel))
    finally:
        os.close(dir_fd)
    return found


def run(ctx: ToolContext, args: Args) -> ToolOutput:
    raw_base = args.get("path") or "."
    pattern = _relative_pattern(args["pattern"])
    literal, rest = split_literal(pattern)
    pruned = frozenset(name for name in _PRUNED if name not in pattern)
    with in_workspace(ctx, raw_base) as (root, base):
        try:
            with root.locate(base) as spot:
                base_kind = lstat_at(spot.dir_fd, spot.name)
        except MissingDirectory:
            base_kind = None
        if base_kind is None or not stat.S_ISDIR(base_kind.st_mode):
            raise ToolFailure(f"{raw_base} is not a directory", "not a directory")
        with refusals(args["pattern"]):
            found = _matches(root, base / literal, str(rest), pruned)
    shown_base = os.path.normpath(base / literal)
    where = "the workspace" if os.path.normpath(base) == "." else os.path.normpath(base)
    if not found:
        return ToolOutput(content=f"No files match {pattern!r} in {where}.", summary="no files")
    found.sort()
    shown = [
        path if shown_base == "." else f"{shown_base}/{path}" for _, path in found[:MAX_RESULTS]
    ]
    body = "\n".join(shown)
    capped = len(found) > MAX_RESULTS
    if capped:
        body += (
            f"\n[showing the {MAX_RESULTS} newest of {len(found)} matching files; "
            "narrow the pattern or path]"
        )
    return ToolOutput(content=body, summary=plural(len(found), "file"), truncated=capped)


TOOL = ToolDef(
    name="glob",
    description=DESCRIPTION,
    schema=SCHEMA,
    label=lambda a: f"Finding files: {clip(a['pattern'], 60)}",
    run=run,
    read_only=True,
)
