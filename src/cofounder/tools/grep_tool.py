"""grep: ripgrep run inside the sandbox, so a search can never read outside the workspace.

ripgrep's own rules decide what is searched (hidden files, .gitignore, binaries are skipped);
we add excludes for directories that are never worth searching and cap the lines returned.
"""

from __future__ import annotations

import shlex

from cofounder.hostfs import MissingDirectory, lstat_at
from cofounder.tools.base import Args, ToolContext, ToolDef, ToolFailure, ToolOutput, clip, plural
from cofounder.tools.fileio import in_workspace

MAX_LINES = 500
MAX_COLUMNS = 400
TIMEOUT_S = 60.0
EXCLUDED_DIRS = (".git", "node_modules", ".venv")
_NOTHING_SEARCHED = "No files were searched"

SCHEMA = {
    "type": "object",
    "properties": {
        "pattern": {
            "type": "string",
            "minLength": 1,
            "description": "Regular expression (ripgrep / Rust regex syntax).",
        },
        "path": {
            "type": "string",
            "description": "File or directory to search, relative to the workspace (default: all).",
        },
        "glob": {
            "type": "string",
            "description": "Only search files matching this glob, e.g. '*.py' or 'src/**/*.ts'.",
        },
    },
    "required": ["pattern"],
    "additionalProperties": False,
}

DESCRIPTION = (
    "Search file contents with ripgrep. Returns matching lines as path:line:text. Skips "
    "hidden files, files ignored by .gitignore, binary files, and .git, node_modules and "
    f".venv. At most {MAX_LINES} lines are returned; narrow with path or glob."
)


def build_command(pattern: str, target: str | None, glob: str | None) -> str:
    """The shell command run in the sandbox; rg's exit status is kept despite the `head`."""
    argv = [
        "rg", "-n", "--with-filename", "--no-heading", "--color", "never", "--no-require-git",
        "--sort", "path", "--max-columns", str(MAX_COLUMNS), "--max-columns-preview",
    ]  # fmt: skip
    if glob:
        argv += ["--glob", glob]
    for name in EXCLUDED_DIRS:  # after the user's glob: later globs take precedence in rg
        argv += ["--glob", f"!{name}"]
    argv += ["-e", pattern]
    if target is not None:
        argv += ["--", target]
    return f"{shlex.join(argv)} | head -n {MAX_LINES + 1}; exit ${{PIPESTATUS[0]}}"


def run(ctx: ToolContext, args: Args) -> ToolOutput:
    target: str | None = None
    if args.get("path"):
        # Only the name goes to ripgrep, which runs inside the sandbox and cannot leave it.
        with in_workspace(ctx, args["path"]) as (root, rel):
            try:
                with root.locate(rel) as spot:
                    there = lstat_at(spot.dir_fd, spot.name) is not None
                    shown = spot.rel
            except MissingDirectory as exc:
                there, shown = False, exc.would_be
        if not there:
            raise ToolFailure(f"path not found: {shown}", "path not found")
        target = None if shown == "." else shown
    result = ctx.sandbox.exec(
        build_command(args["pattern"], target, args.get("glob")), timeout_s=TIMEOUT_S
    )
    if result.timed_out:
        raise ToolFailure(
            f"search timed out after {TIMEOUT_S:g}s; narrow it with path or glob", "timed out"
        )
    if result.exit_code == 127:
        raise ToolFailure(
            "ripgrep (rg) is not installed in the sandbox; install it with "
            "`apt-get install -y ripgrep`",
            "ripgrep missing",
        )
    if result.exit_code == 1:
        return ToolOutput(content="No matches.", summary="no matches", exit_code=1)
    if result.exit_code == 2 and not result.stdout and _NOTHING_SEARCHED in result.stderr:
        return ToolOutput(
            content="No matches: no files were searched (none are left after the path, glob "
            "and ignore rules: hidden files, .gitignore, .git, node_modules, .venv).",
            summary="no matches (no files searched)",
            exit_code=2,
        )
    if result.exit_code != 0:
        raise ToolFailure(
            f"ripgrep failed (exit {result.exit_code}): {result.stderr.strip()}",
            clip(f"rg error: {result.stderr.strip()}", 100),
        )
    lines = result.stdout.splitlines()
    capped = len(lines) > MAX_LINES
    lines = lines[:MAX_LINES]
    files = {line.split(":", 1)[0] for line in lines}
    body = "\n".join(lines)
    if capped:
        body += f"\n[showing the first {MAX_LINES} matching lines; narrow with path or glob]"
    summary = f"{plural(len(lines), 'match', 'matches')} in {plural(len(files), 'file')}"
    return ToolOutput(
        content=body, summary=("over " if capped else "") + summary, exit_code=0, truncated=capped
    )


TOOL = ToolDef(
    name="grep",
    description=DESCRIPTION,
    schema=SCHEMA,
    label=lambda a: f"Searching for {clip(a['pattern'], 60)!r}",
    run=run,
    read_only=True,
)
