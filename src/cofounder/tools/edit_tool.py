"""edit_file: replace an exact snippet in a file.

The snippet must be unique unless replace_all is set: an ambiguous edit is refused with the
match count and line numbers, so the model can add context instead of editing the wrong place.
"""

from __future__ import annotations

import re

from cofounder.hostfs import FileTooLarge, read_all, write_atomic
from cofounder.tools.base import Args, ToolContext, ToolDef, ToolFailure, ToolOutput, plural
from cofounder.tools.fileio import (
    MAX_EDIT_BYTES,
    decode_text,
    in_workspace,
    open_file,
    too_large,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "File path relative to the workspace."},
        "old_string": {
            "type": "string",
            "minLength": 1,
            "description": "Exact text to replace, including whitespace and indentation.",
        },
        "new_string": {"type": "string", "description": "Text to put in its place."},
        "replace_all": {
            "type": "boolean",
            "description": "Replace every occurrence instead of requiring exactly one.",
        },
    },
    "required": ["path", "old_string", "new_string"],
    "additionalProperties": False,
}

DESCRIPTION = (
    "Replace old_string with new_string in a file. old_string must match the file exactly "
    "(whitespace included) and occur exactly once, unless replace_all is true. If it occurs "
    "more than once, include more surrounding lines to make it unique. Read the file first."
)

_CONTEXT_LINES = 3


def match_lines(text: str, needle: str) -> list[int]:
    """1-based line numbers where each non-overlapping occurrence of `needle` starts."""
    lines: list[int] = []
    pos = text.find(needle)
    while pos >= 0:
        lines.append(text.count("\n", 0, pos) + 1)
        pos = text.find(needle, pos + len(needle))
    return lines


def _format_lines(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:20])
    return shown + (f", … ({len(lines) - 20} more)" if len(lines) > 20 else "")


_BARE_LF = re.compile(r"(?<!\r)\n")


def to_crlf(text: str) -> str:
    """Every bare `\n` as `\r\n` (existing `\r\n` untouched)."""
    return _BARE_LF.sub("\r\n", text)


def is_crlf(text: str) -> bool:
    """Whether every line break in `text` is `\r\n` (and there is at least one)."""
    return "\r\n" in text and _BARE_LF.search(text) is None


def fit_line_endings(text: str, old: str, new: str) -> tuple[str, str]:
    """`old` and `new` as they should be matched and written in `text`.

    read_file does not show `\r`, so a model edits a CRLF file with `\n` line breaks: when
    `old` only matches with CRLF breaks, both are converted; in a file whose breaks are all
    CRLF, `new`'s bare `\n` become CRLF too, so an edit never leaves mixed line endings.
    """
    if old not in text and "\n" in old and "\r\n" in text and to_crlf(old) in text:
        return to_crlf(old), to_crlf(new)
    if is_crlf(text):
        return old, to_crlf(new)
    return old, new


def _not_found(text: str, old: str, rel: str) -> ToolFailure:
    hint = ""
    if "\r\n" in text and "\n" in old:
        hint = " The file has CRLF (\\r\\n) line endings; multi-line text was also tried with them."
    stripped = old.strip()
    if stripped and stripped != old:
        near = match_lines(text, stripped)
        if near:
            hint += (
                f" Text matching it without leading/trailing whitespace occurs on line "
                f"{_format_lines(near)}; check indentation and line breaks."
            )
    return ToolFailure(
        f"old_string was not found in {rel} (0 matches).{hint} "
        "Read the file and copy the exact text.",
        "old_string not found (0 matches)",
    )


def _snippet(text: str, first_line: int, new: str) -> str:
    lines = text.splitlines()
    start = max(1, first_line - _CONTEXT_LINES)
    end = min(len(lines), first_line + new.count("\n") + _CONTEXT_LINES)
    return "\n".join(f"{n:>6}\t{lines[n - 1]}" for n in range(start, end + 1))


def run(ctx: ToolContext, args: Args) -> ToolOutput:
    old: str = args["old_string"]
    new: str = args["new_string"]
    replace_all = bool(args.get("replace_all", False))
    if old == new:
        raise ToolFailure("old_string and new_string are identical; nothing to change", "no-op")
    with in_workspace(ctx, args["path"]) as (root, path):
        with open_file(root, path, limit=MAX_EDIT_BYTES) as opened:
            try:
                data = read_all(opened.fd, opened.st.st_size, MAX_EDIT_BYTES, opened.rel)
            except FileTooLarge as exc:
                raise too_large(exc) from None
        rel = opened.rel
        text = decode_text(data, rel)
        old, new = fit_line_endings(text, old, new)
        updated, where = _replace(text, old, new, rel, replace_all=replace_all)
        write_atomic(root, rel, updated.encode("utf-8"), make_parents=False)
    # The first match starts on the same line in the new text, so the snippet shows it.
    count = len(where)
    at = f"line {where[0]}" if count == 1 else f"lines {_format_lines(where)}"
    head = f"Edited {rel}: replaced {plural(count, 'occurrence')} ({at})."
    return ToolOutput(
        content=f"{head}\n{_snippet(updated, where[0], new)}",
        summary=f"replaced {plural(count, 'occurrence')}",
    )


def _replace(
    text: str, old: str, new: str, rel: str, *, replace_all: bool
) -> tuple[str, list[int]]:
    where = match_lines(text, old)
    if not where:
        raise _not_found(text, old, rel)
    if len(where) > 1 and not replace_all:
        raise ToolFailure(
            f"old_string matches {len(where)} times in {rel} (lines {_format_lines(where)}); "
            "include more surrounding context so it matches exactly once, "
            "or set replace_all to true",
            f"old_string is ambiguous ({len(where)} matches)",
        )
    updated = text.replace(old, new) if replace_all else text.replace(old, new, 1)
    return updated, where


TOOL = ToolDef(
    name="edit_file",
    description=DESCRIPTION,
    schema=SCHEMA,
    label=lambda a: f"Editing {a['path']}",
    run=run,
)
