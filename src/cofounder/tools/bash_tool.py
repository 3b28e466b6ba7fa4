"""bash: run a shell command in the sandbox and report exit code, stdout and stderr apart."""

from __future__ import annotations

import time

from cofounder.tools.base import Args, ToolContext, ToolDef, ToolFailure, ToolOutput, clip
from cofounder.tools.exec_report import format_exec, format_log_tail

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
        "background": {
            "type": "boolean",
            "description": "Keep it running after this call (servers, watchers); manage it "
            "with the `processes` tool.",
        },
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 60,
            "description": "A short name for a background process.",
        },
    },
    "required": ["command"],
    "additionalProperties": False,
}

DESCRIPTION = (
    "Run a bash command in /workspace inside the sandbox (network access as the system prompt "
    "says; uid 1000; HOME is /workspace). Returns a line with the exit code, then a "
    "`--- stdout: N lines, B bytes ---` section with exactly what the command printed there "
    "and a `--- stderr: ... ---` section likewise (`no output` when it printed nothing; "
    "`, no newline at end` when its last line has none). Too much output keeps its first "
    "and last lines around one `[... N lines (B bytes) elided ...]` line counting all the "
    "rest, and the header says how many lines are shown. Every "
    "process the command starts (even with & or nohup) is killed when it returns or times "
    "out. To keep something running (a dev server, a watcher) pass `background: true`: it "
    "returns at once with a process id and keeps running across calls until you stop it "
    "with `processes` or the session stops; later commands reach it on localhost. To show "
    "the founder the app, use `preview` instead."
)


BACKGROUND_SETTLE_S = 1.0  # long enough to see a command that fails at once


def run_background(ctx: ToolContext, args: Args) -> ToolOutput:
    """Start it, give it a moment, and say whether it is still running, with its output."""
    if "timeout" in args:
        raise ToolFailure("`timeout` does not apply to a background process; leave it out")
    command = args["command"]
    info = ctx.sandbox.start_background(command, name=args.get("name") or clip(command, 40))
    deadline = time.monotonic() + BACKGROUND_SETTLE_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
        current = next(p for p in ctx.sandbox.list_background() if p.id == info.id)
        if not current.running:
            break
    output = ctx.sandbox.background_output(info.id, max_bytes=ctx.output_limit_chars // 2)
    current = next(p for p in ctx.sandbox.list_background() if p.id == info.id)
    shown = format_log_tail(output, current.log_bytes, name="output so far")
    if current.running:
        head = (
            f"Started background process {info.id} ({info.name}); it is running. Read its "
            f"output or stop it with `processes`."
        )
        return ToolOutput(content=f"{head}\n{shown}", summary=f"{info.id} running")
    head = (
        f"Background process {info.id} ({info.name}) exited at once with code {current.exit_code}."
    )
    return ToolOutput(
        content=f"{head}\n{shown}",
        summary=f"{info.id} exited {current.exit_code}",
        ok=current.exit_code == 0,
        exit_code=current.exit_code,
    )


def run(ctx: ToolContext, args: Args) -> ToolOutput:
    if args.get("background"):
        return run_background(ctx, args)
    if "name" in args:
        raise ToolFailure("`name` is only for background processes (`background: true`)")
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
    label=lambda a: (
        f"Starting in the background: {clip(a['command'], 60)}"
        if a.get("background")
        else f"Running: {clip(a['command'], 80)}"
    ),
    run=run,
)
