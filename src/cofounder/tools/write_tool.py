"""write_file: create or overwrite a whole file, atomically, creating parent directories."""

from __future__ import annotations

from cofounder.hostfs import write_atomic
from cofounder.tools.base import Args, ToolContext, ToolDef, ToolFailure, ToolOutput, plural
from cofounder.tools.fileio import in_workspace, parent_failure

SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "File path relative to the workspace."},
        "content": {"type": "string", "description": "The complete new content of the file."},
    },
    "required": ["path", "content"],
    "additionalProperties": False,
}

DESCRIPTION = (
    "Create a file or replace its whole content. Parent directories are created as needed; "
    "an existing file keeps its permissions. Prefer edit_file for small changes to an "
    "existing file."
)


def count_lines(text: str) -> int:
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def run(ctx: ToolContext, args: Args) -> ToolOutput:
    raw: str = args["path"]
    content: str = args["content"]
    data = content.encode("utf-8")
    with in_workspace(ctx, raw) as (root, rel):
        try:
            existed, shown = write_atomic(root, rel, data)
        except IsADirectoryError as exc:
            raise ToolFailure(
                f"{exc.filename} is a directory; give a file path", "is a directory"
            ) from None
        except NotADirectoryError as exc:
            raise parent_failure(raw, str(exc.filename)) from None
    lines = count_lines(content)
    verb = "Overwrote" if existed else "Created"
    return ToolOutput(
        content=f"{verb} {shown} ({plural(lines, 'line')}, {plural(len(data), 'byte')})",
        summary=f"wrote {plural(lines, 'line')}",
    )


TOOL = ToolDef(
    name="write_file",
    description=DESCRIPTION,
    schema=SCHEMA,
    label=lambda a: f"Writing {a['path']}",
    run=run,
)
