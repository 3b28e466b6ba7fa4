"""Failure signatures: the same failure, met twice, must read the same.

The old system hashed the raw message, so a temp path, a port or a timestamp made every
failure look new and nothing was ever grouped. Here a signature is the command's stable head,
its exit status and the error's key line with everything volatile replaced by a placeholder.
Verification failures count: a bash command that exits non-zero (tests, builds, health
checks) is a failure even though the tool itself ran.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from cofounder.agent.commands.head import command_head, is_local_check, is_probe, reset_key
from cofounder.agent.commands.spelling import canonical_command
from cofounder.agent.healing.error_class import ErrorCategory, classify_text
from cofounder.tools.exec_report import parse_exec_report
from cofounder.tools.types import ToolResult

KEY_LINE_CHARS = 200
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

# Order matters: ports before line numbers (`127.0.0.1:8000` is not `file.1:N`), times before
# numbers, and so on. Each pair is (pattern, placeholder).
_VOLATILE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), r)
    for p, r in (
        (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>"),
        (
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}[:_]\d{2}[:_]\d{2}(?:[.,_]\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
            "<time>",
        ),
        (r"\b\d{4}[-/]\d{2}[-/]\d{2}\b", "<date>"),
        (r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<time>"),
        (r"\b0x[0-9a-f]+\b", "0x<addr>"),
        (r"(?:/private)?/(?:tmp|var/tmp|var/folders|dev/shm)/[^\s'\"`:,;)\]]*", "/tmp/<tmp>"),
        (r"\btmp[a-z0-9_]{6,}\b", "tmp<x>"),
        (r"(?<=://)([^/\s:@]+):\d{1,5}\b", r"\1:<port>"),
        (r"\b(localhost|\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}\b", r"\1:<port>"),
        (r"(\[::1?\]):\d{1,5}\b", r"\1:<port>"),
        (r":::\d{2,5}\b", ":::<port>"),
        (r"\b(port)(\s*[=:]?\s*)\d{2,5}\b", r"\1 <port>"),
        (r"\b(pid|process|worker)(\s*[=:#]?\s*)\d+\b", r"\1 <pid>"),
        (r"\b(lines?|ln|row|col(?:umn)?)\s+\d+(?:\s*(?:,|-|and|to)\s*\d+)*", r"\1 N"),
        (r"(\.[a-z][a-z0-9]{0,5})\(\d+,\s*\d+\)", r"\1(N,N)"),
        (r"(\.[a-z][a-z0-9]{0,5}):\d+(?::\d+)?\b", r"\1:N"),
        (r"\b\d+(?:\.\d+)?\s?(?:ms|s|secs?|seconds?|mins?|minutes?|h|hours?)\b", "<dur>"),
        (r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", "<hash>"),
        (r"\b\d{5,}\b", "<n>"),
    )
)

# The line that says what went wrong, strongest first: a named error or a failed test ...
_STRONG = re.compile(
    r"\b[A-Z]\w*(?:Error|Exception)\b|(?:^|\s)(?:error|fatal)(?:\[\w+\])?:|^\s*(?:---\s*)?"
    r"(?:FAILED|FAIL|ERROR)\b|\berror\s+TS\d+|command not found|no such file or directory",
    re.IGNORECASE,
)
# ... else a weaker hint ...
_WEAK = re.compile(
    r"\bERR!|\bfailed\b|\bcannot\b|\bcan't\b|\bnot found\b|\bdenied\b|\brefused\b"
    r"|\bunable to\b|\bcould not\b|\bexception\b",
    re.IGNORECASE,
)
# ... but never the boilerplate tools print around the real error.
_NOISE = re.compile(
    r"a complete log of this run|\.npm/_logs/|^npm ERR!\s*$|this is probably not a problem with npm"
    r"|npm ERR! (?:errno|code ELIFECYCLE|command|path|signal|syscall)\b|exit status \d"
    r"|failed at the \S+ script|^Require stack:|^Node\.js v\d|short test summary info"
    r"|error: subprocess-exited-with-error|^\s*=+\s*$|^\s*\^+\s*$",
    re.IGNORECASE,
)
_BASH_HEAD = re.compile(r"^(?:Exit code (-?\d+) after|Timed out after .*\(exit code (-?\d+)\))")


class Failure(BaseModel):
    """What healing needs to know about one failed tool call."""

    model_config = ConfigDict(frozen=True)

    signature: str
    category: ErrorCategory
    rule: str | None = None
    head: str
    reset_key: str
    key_line: str
    exit_code: int | None = None
    timed_out: bool = False


def normalise(text: str) -> str:
    """Replace what differs between two runs of the same failure with placeholders."""
    text = _ANSI.sub("", text)
    for pattern, placeholder in _VOLATILE:
        text = pattern.sub(placeholder, text)
    return " ".join(text.split())


def _sections(content: str) -> tuple[str, str, str]:
    """Split the bash tool's report into (status line, stdout, stderr)."""
    parts = parse_exec_report(content)
    return parts.status, parts.stdout, parts.stderr


def _lines(text: str) -> list[str]:
    lines = (_ANSI.sub("", line).strip() for line in text.splitlines())
    return [line for line in lines if line and not _NOISE.search(line)]


def key_line(*texts: str) -> str:
    """The last strong error line of the first text that has one, else the last weak one, else
    the last line of the first non-empty text. Texts come in order of trust (stderr first)."""
    for tier in (_STRONG, _WEAK):
        for text in texts:
            hits = [line for line in _lines(text) if tier.search(line)]
            if hits:
                return hits[-1]
    for text in texts:
        lines = _lines(text)
        if lines:
            return lines[-1]
    return ""


def _clip(text: str) -> str:
    return text if len(text) <= KEY_LINE_CHARS else text[: KEY_LINE_CHARS - 1] + "…"


def is_failure(tool_name: str, tool_input: dict[str, Any], result: ToolResult) -> bool:
    """ok=False, or a bash command that exited non-zero, except a probe answering "no"."""
    if is_probe(tool_name, tool_input, result.exit_code):
        return False
    if not result.ok:
        return True
    return tool_name == "bash" and result.exit_code not in (None, 0)


def analyse(tool_name: str, tool_input: dict[str, Any], result: ToolResult) -> Failure | None:
    """None for a success; otherwise the failure's signature, category and key line."""
    if not is_failure(tool_name, tool_input, result):
        return None
    head = command_head(tool_name, tool_input)
    status_part = ""
    timed_out = False
    exit_code = result.exit_code
    if tool_name == "bash":
        status, stdout, stderr = _sections(result.content)
        match = _BASH_HEAD.match(status)
        timed_out = status.startswith("Timed out")
        if match and exit_code is None:
            exit_code = int(match.group(1) or match.group(2))
        raw_key = key_line(stderr, stdout)
        status_part = "timeout" if timed_out else (f"exit {exit_code}" if exit_code else "failed")
        tail = "\n".join(stderr.splitlines()[-40:] + stdout.splitlines()[-40:])
    else:
        raw_key = key_line(result.content)
        tail = "\n".join(result.content.splitlines()[-40:])
    key = _clip(normalise(raw_key))
    local = is_local_check(tool_name, tool_input)
    category, rule = classify_text(raw_key, local=local)
    if category == "ordinary":
        category, rule = classify_text(tail, local=local)
    # The last real command names the step (`npm install x && npm run build` fails as the
    # build does), so a different fix before the same failing step is the same failure.
    step = reset_key(tool_name, tool_input)
    parts = [step, status_part, key] if status_part else [step, key]
    return Failure(
        signature=" | ".join(p for p in parts if p),
        category=category,
        rule=rule,
        head=head,
        reset_key=step,
        key_line=key,
        exit_code=exit_code,
        timed_out=timed_out,
    )


def error_signature(tool_name: str, tool_input: dict[str, Any], result: ToolResult) -> str | None:
    """The normalised signature of a failed call, or None when the call succeeded."""
    failure = analyse(tool_name, tool_input, result)
    return failure.signature if failure else None


def action_key(tool_name: str, tool_input: dict[str, Any]) -> str:
    """The call itself, normalised and digested (short, so the checkpoint stays small), so
    A,B,A,B loops and "the same action again" are recognised."""

    def reduce(value: Any) -> Any:
        if isinstance(value, str):
            return normalise(value)
        if isinstance(value, dict):
            return {k: reduce(v) for k, v in value.items()}
        if isinstance(value, list):
            return [reduce(v) for v in value]
        return value

    command = tool_input.get("command")
    if tool_name == "bash" and isinstance(command, str):  # one spelling per command
        tool_input = {**tool_input, "command": canonical_command(command)}
    body = json.dumps(reduce(tool_input), sort_keys=True, separators=(",", ":"), default=str)
    return f"{tool_name}:{hashlib.sha1(body.encode('utf-8', 'replace')).hexdigest()[:16]}"
