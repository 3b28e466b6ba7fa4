"""glob: find files by name pattern, newest first.

Matching runs on the host (it only reads directory entries), so it must keep itself inside
the workspace: patterns may not be absolute or climb with `..`, `**` never descends into
symlinked directories, and any match whose real location is outside is dropped.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from wcmatch import glob as wcglob

from cofounder.tools.base import Args, ToolContext, ToolDef, ToolFailure, ToolOutput, clip, plural
from cofounder.tools.paths import SANDBOX_ROOT, resolve

MAX_RESULTS = 500
_FLAGS = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.NODIR
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


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root + os.sep)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return os.lstat(path).st_mtime


def run(ctx: ToolContext, args: Args) -> ToolOutput:
    root = os.path.realpath(ctx.workspace)
    base = resolve(ctx.workspace, args.get("path") or ".")
    if not os.path.isdir(base.host):
        raise ToolFailure(f"{base.rel} is not a directory", "not a directory")
    pattern = _relative_pattern(args["pattern"])
    excludes = [f"**/{name}/**" for name in _PRUNED if name not in pattern]
    found: list[tuple[float, str]] = []
    for match in wcglob.iglob(pattern, flags=_FLAGS, root_dir=str(base.host), exclude=excludes):
        full = os.path.join(base.host, match)
        if not _inside(os.path.realpath(full), root):
            continue
        found.append((-_mtime(full), os.path.relpath(full, root)))
    if not found:
        where = "the workspace" if base.rel == "." else base.rel
        return ToolOutput(content=f"No files match {pattern!r} in {where}.", summary="no files")
    found.sort()
    shown = [path for _, path in found[:MAX_RESULTS]]
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
)
