"""How a command's output reads to the model, and how healing reads it back.

Layout of a `bash` report (the first line is always ours, so nothing a program prints can
pass for it; each section header says how many lines its body has, so a program that prints
`--- stderr: ... ---` cannot end its own section early):

    Exit code 0 after 0.2s.
    --- stdout: 2 lines, 12 bytes ---
    hello
    world
    --- stderr: no output ---

A stream without a final newline says `, no newline at end` in its header (`echo -n x` and
`echo x` differ). A stream too long to show whole keeps its first and last lines with one
marker line between that counts, in the program's bytes, everything not shown, however many
layers cut it (the sandbox's capture cap, then the model's limit); the header then adds
`; showing the first H and last T lines`, and the body is those H lines, the marker, T lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cofounder.sandbox.output import Shown, plural
from cofounder.sandbox.protocol import ExecResult

# Room for the status line, both section headers and both markers, whatever their numbers.
_FRAME_CHARS = 600
_MIN_BODY_CHARS = 200

_HEADER = re.compile(
    r"--- (stdout|stderr): (?:no output|(\d+) lines?, \d+ bytes?(?:, no newline at end)?"
    r"(?:; showing the first (\d+) and last (\d+) lines?)?) ---"
)


def _count_lines(piece: str) -> int:
    """How many lines `piece` takes on screen (a final newline does not start another)."""
    return piece.removesuffix("\n").count("\n") + 1 if piece else 0


def section(name: str, stream: Shown) -> str:
    """`--- name: ... ---` and the body, without a trailing newline."""
    if not stream.total_bytes:
        return f"--- {name}: no output ---"
    about = f"{plural(stream.total_lines, 'line')}, {plural(stream.total_bytes, 'byte')}"
    if not stream.ends_with_newline:
        about += ", no newline at end"
    if stream.elided:
        head, tail = _count_lines(stream.head), _count_lines(stream.tail)
        about += f"; showing the first {head} and last {plural(tail, 'line')}"
    return f"--- {name}: {about} ---\n{stream.render().removesuffix(chr(10))}"


def _split_budget(limit: int, out: Shown, err: Shown) -> tuple[int, int]:
    """Share `limit` characters between the streams; a short stream lends its spare."""
    if out.chars + err.chars <= limit:
        return out.chars, err.chars
    half = limit // 2
    if out.chars <= half:
        return out.chars, limit - out.chars
    if err.chars <= half:
        return limit - err.chars, err.chars
    return half, limit - half


def format_exec(result: ExecResult, timeout_s: float, limit: int) -> tuple[str, bool]:
    """The model-facing report of one command, at most `limit` characters (at least 1000);
    returns (content, whether this cut anything)."""
    if result.timed_out:
        status = (
            f"Timed out after {timeout_s:g}s: the command and every process it started were "
            f"killed (exit code {result.exit_code})."
        )
    else:
        status = f"Exit code {result.exit_code} after {result.duration_ms / 1000:.1f}s."
    out = Shown.of(result.stdout, result.stdout_cut)
    err = Shown.of(result.stderr, result.stderr_cut)
    body = max(limit - _FRAME_CHARS, 2 * _MIN_BODY_CHARS)
    out_budget, err_budget = _split_budget(body, out, err)
    shown_out = out.shrink(max(out_budget, _MIN_BODY_CHARS))
    shown_err = err.shrink(max(err_budget, _MIN_BODY_CHARS))
    cut = shown_out is not out or shown_err is not err
    return f"{status}\n{section('stdout', shown_out)}\n{section('stderr', shown_err)}", cut


def format_log_tail(text: str, log_bytes: int, *, name: str = "output") -> str:
    """A background process's recent output (stdout and stderr together): `text`, the end of
    the `log_bytes` it has written so far, under a header saying how much came before."""
    shown = Shown(text)
    if not text and log_bytes > 0:
        return f"--- {name}: none of the {plural(log_bytes, 'byte')} written is shown ---"
    if log_bytes <= shown.total_bytes:
        return section(name, shown)
    about = f"the last {plural(shown.total_lines, 'line')} ({plural(shown.total_bytes, 'byte')})"
    about += f" of {log_bytes} bytes written"
    if not shown.ends_with_newline:
        about += ", no newline at end"
    return f"--- {name}: {about} ---\n{text.removesuffix(chr(10))}"


@dataclass(frozen=True)
class ExecSections:
    """A `bash` report taken apart: the status line(s) and each stream's body as shown (with
    the elision marker line when one was cut; empty for a stream with no output)."""

    status: str
    stdout: str
    stderr: str


def parse_exec_report(content: str) -> ExecSections:
    """Take a `bash` report apart by the line counts in its headers; reports written before
    the headers carried counts (`--- stdout ---` ... `(empty)`) are read the old way."""
    lines = content.split("\n")
    start = next((i for i, ln in enumerate(lines) if ln.startswith("--- stdout: ")), -1)
    bodies: list[str] = []
    at = start
    for name in ("stdout", "stderr"):
        match = _HEADER.fullmatch(lines[at]) if 0 <= at < len(lines) else None
        if match is None or match.group(1) != name:
            return _parse_legacy(content)
        total, first, last = match.group(2, 3, 4)
        count = int(first) + 1 + int(last) if last else int(total or 0)
        bodies.append("\n".join(lines[at + 1 : at + 1 + count]))
        at += 1 + count
    return ExecSections("\n".join(lines[:start]), bodies[0], bodies[1])


def _parse_legacy(content: str) -> ExecSections:
    out_at = content.find("\n--- stdout ---\n")
    err_at = content.rfind("\n--- stderr ---\n")
    if out_at < 0 or err_at < out_at:
        return ExecSections("", content, "")
    stdout = content[out_at + len("\n--- stdout ---\n") : err_at]
    stderr = content[err_at + len("\n--- stderr ---\n") :]
    return ExecSections(
        content[:out_at],
        "" if stdout == "(empty)" else stdout,
        "" if stderr == "(empty)" else stderr,
    )
