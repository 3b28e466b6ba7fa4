"""bash: run a shell command in the sandbox and report exit code, stdout and stderr apart."""

from __future__ import annotations

from cofounder.sandbox.output import truncate_text
from cofounder.sandbox.protocol import ExecResult
from cofounder.tools.base import Args, ToolContext, ToolDef, ToolOutput, clip

DEFAULT_TIMEOUT_S = 120
MAX_TIMEOUT_S = 600

SCHEMA = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "minLength": 1, "description": "Bash command line."},
        "timeout": {
            "type": "number",
            "minimum": 1,
            "maximum": MAX_TIMEOUT_S,
            "description": f"Seconds before the command is killed (default {DEFAULT_TIMEOUT_S}).",
        },
    },
    "required": ["command"],
    "additionalProperties": False,
}

DESCRIPTION = (
    "Run a bash command in /workspace inside the sandbox (network access as the system prompt "
    "says; uid 1000; HOME is /workspace). Returns the exit code, stdout and stderr. Every "
    "process the command starts, including background ones, is killed when it returns or "
    "times out, so do not start servers to keep running. Long output keeps its beginning "
    "and end."
)


def _split_budget(limit: int, out: str, err: str) -> tuple[int, int]:
    """Share `limit` characters between the streams; a short stream lends its spare to the other."""
    if len(out) + len(err) <= limit:
        return len(out), len(err)
    half = limit // 2
    if len(out) <= half:
        return len(out), limit - len(out)
    if len(err) <= half:
        return limit - len(err), len(err)
    return half, limit - half


def _section(name: str, text: str, budget: int) -> tuple[str, bool]:
    if not text:
        return f"--- {name} ---\n(empty)", False
    body, cut = truncate_text(text, max(budget, 200))
    return f"--- {name} ---\n{body.rstrip(chr(10))}", cut


def format_exec(result: ExecResult, timeout_s: float, limit: int) -> tuple[str, bool]:
    """The model-facing report of one command; returns (content, truncated here)."""
    seconds = result.duration_ms / 1000
    if result.timed_out:
        head = (
            f"Timed out after {timeout_s:g}s: the command and every process it started were "
            f"killed (exit code {result.exit_code})."
        )
    else:
        head = f"Exit code {result.exit_code} after {seconds:.1f}s."
    out_budget, err_budget = _split_budget(max(limit - 200, 400), result.stdout, result.stderr)
    out, out_cut = _section("stdout", result.stdout, out_budget)
    err, err_cut = _section("stderr", result.stderr, err_budget)
    return f"{head}\n{out}\n{err}", out_cut or err_cut


def run(ctx: ToolContext, args: Args) -> ToolOutput:
    timeout = float(args.get("timeout", DEFAULT_TIMEOUT_S))
    result = ctx.sandbox.exec(args["command"], timeout_s=timeout)
    content, cut = format_exec(result, timeout, ctx.output_limit_chars)
    if result.timed_out:
        summary = f"timed out after {timeout:g}s"
    else:
        summary = f"exit {result.exit_code} in {result.duration_ms / 1000:.1f}s"
    return ToolOutput(
        content=content,
        summary=summary,
        ok=result.exit_code == 0 and not result.timed_out,
        exit_code=result.exit_code,
        truncated=result.truncated or cut,
    )


TOOL = ToolDef(
    name="bash",
    description=DESCRIPTION,
    schema=SCHEMA,
    label=lambda a: f"Running: {clip(a['command'], 80)}",
    run=run,
)
