"""read_file: a window of a text file as numbered lines (like `cat -n`).

Numbers let the model cite and edit precisely; the window (offset/limit, and a character
budget) keeps one read from flooding the context, and the footer says how to read on.
"""

from __future__ import annotations

import os
import stat

from cofounder.tools.base import Args, ToolContext, ToolDef, ToolFailure, ToolOutput, plural
from cofounder.tools.paths import resolve

DEFAULT_LIMIT = 2000
MAX_LINE_CHARS = 2000
_SNIFF_BYTES = 8192

SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "File path relative to the workspace."},
        "offset": {
            "type": "integer",
            "minimum": 1,
            "description": "1-based line number to start at (default 1).",
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "description": f"How many lines to return (default {DEFAULT_LIMIT}).",
        },
    },
    "required": ["path"],
    "additionalProperties": False,
}

DESCRIPTION = (
    "Read a UTF-8 text file from the workspace. Returns numbered lines (`cat -n` style, "
    f"1-based). Reads up to {DEFAULT_LIMIT} lines by default; use offset and limit to page "
    f"through long files. Lines longer than {MAX_LINE_CHARS} characters are clipped. "
    "Binary files are refused; inspect them with bash."
)


def open_regular_file(ctx: ToolContext, raw_path: str) -> tuple[str, str]:
    """Resolve `raw_path` to an existing regular file; return (host path, display path)."""
    target = resolve(ctx.workspace, raw_path)
    try:
        st = os.stat(target.host)
    except FileNotFoundError:
        raise ToolFailure(f"file not found: {target.rel}", "file not found") from None
    if stat.S_ISDIR(st.st_mode):
        raise ToolFailure(
            f"{target.rel} is a directory, not a file; list it with glob or bash `ls`",
            "is a directory",
        )
    if not stat.S_ISREG(st.st_mode):
        raise ToolFailure(f"{target.rel} is not a regular file", "not a regular file")
    return str(target.host), target.rel


def binary_failure(rel: str, why: str) -> ToolFailure:
    return ToolFailure(
        f"{rel} looks like a binary file ({why}); inspect it with bash "
        "(e.g. `file`, `xxd | head`) instead",
        "binary file",
    )


def _clip_line(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return f"{line[:MAX_LINE_CHARS]}… [line clipped, {len(line) - MAX_LINE_CHARS} more chars]"


def run(ctx: ToolContext, args: Args) -> ToolOutput:
    host, rel = open_regular_file(ctx, args["path"])
    offset = int(args.get("offset", 1))
    limit = int(args.get("limit", DEFAULT_LIMIT))
    budget = max(1000, ctx.output_limit_chars - 200)
    shown: list[str] = []
    used = 0
    total = 0
    last = offset - 1
    budget_hit = False
    with open(host, "rb") as fh:
        if b"\x00" in fh.read(_SNIFF_BYTES):
            raise binary_failure(rel, "it contains NUL bytes")
        fh.seek(0)
        for number, raw in enumerate(fh, start=1):
            total = number
            if number < offset or budget_hit or number >= offset + limit:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise binary_failure(rel, f"line {number} is not valid UTF-8") from None
            entry = f"{number:>6}\t{_clip_line(text.rstrip(chr(10)).rstrip(chr(13)))}"
            if shown and used + len(entry) + 1 > budget:
                budget_hit = True
                continue
            shown.append(entry)
            used += len(entry) + 1
            last = number
    if total == 0:
        return ToolOutput(content=f"{rel} is empty (0 lines)", summary="empty file")
    if offset > total:
        raise ToolFailure(
            f"offset {offset} is past the end of {rel}, which has {plural(total, 'line')}",
            "offset past end of file",
        )
    body = "\n".join(shown)
    if last < total:
        why = " (output size cap)" if budget_hit else ""
        body += (
            f"\n[showing lines {offset}-{last} of {total}{why}; continue with offset={last + 1}]"
        )
        summary = f"read lines {offset}-{last} of {total}"
    else:
        summary = f"read {plural(last - offset + 1, 'line')}"
    return ToolOutput(content=body, summary=summary)


TOOL = ToolDef(
    name="read_file",
    description=DESCRIPTION,
    schema=SCHEMA,
    label=lambda a: f"Reading {a['path']}",
    run=run,
)
