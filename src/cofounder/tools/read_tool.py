"""read_file: a window of a text file as numbered lines (like `cat -n`).

Numbers let the model cite and edit precisely; the window (offset/limit, and a character
budget) keeps one read from flooding the context, and the footer says how to read on.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from cofounder.tools.base import Args, ToolContext, ToolDef, ToolFailure, ToolOutput, plural
from cofounder.tools.fileio import MAX_READ_BYTES, in_workspace, open_file

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
    with in_workspace(ctx, args["path"]) as (root, path):
        opened = open_file(root, path, limit=MAX_READ_BYTES)
    with opened, os.fdopen(os.dup(opened.fd), "rb") as fh:
        return _window(fh, opened.rel, ctx, args)


def _window(fh: BinaryIO, rel: str, ctx: ToolContext, args: Args) -> ToolOutput:
    offset = int(args.get("offset", 1))
    limit = int(args.get("limit", DEFAULT_LIMIT))
    budget = max(1000, ctx.output_limit_chars - 200)
    shown: list[str] = []
    used = 0
    total = 0
    last = offset - 1
    budget_hit = False
    breaks = crlf = 0
    if b"\x00" in fh.read(_SNIFF_BYTES):
        raise binary_failure(rel, "it contains NUL bytes")
    fh.seek(0)
    for number, raw in enumerate(fh, start=1):
        if fh.tell() > MAX_READ_BYTES:  # it grew past the cap while we read it
            break
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
        breaks += text.endswith("\n")
        crlf += text.endswith("\r\n")
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
    if crlf:
        which = "all" if crlf == breaks else f"{crlf} of the {breaks}"
        body += (
            f"\n[{which} line breaks shown are CRLF (\\r\\n), not displayed; edit_file keeps them]"
        )
    return ToolOutput(content=body, summary=summary)


TOOL = ToolDef(
    name="read_file",
    description=DESCRIPTION,
    schema=SCHEMA,
    label=lambda a: f"Reading {a['path']}",
    run=run,
    read_only=True,
)
