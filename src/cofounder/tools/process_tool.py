"""processes: list, read and stop the background processes `bash` started."""

from __future__ import annotations

from cofounder.sandbox.protocol import BackgroundInfo
from cofounder.tools.base import Args, ToolContext, ToolDef, ToolFailure, ToolOutput
from cofounder.tools.exec_report import format_log_tail

SCHEMA = {
    "type": "object",
    "properties": {
        "action": {
            "type": "string",
            "enum": ["list", "output", "stop"],
            "description": "list them all, read one's recent output, or stop one.",
        },
        "id": {"type": "string", "minLength": 1, "description": "The process id, e.g. p1."},
    },
    "required": ["action"],
    "additionalProperties": False,
}

DESCRIPTION = (
    "Manage background processes started with `bash` (background: true) or `preview`: "
    "`list` shows each one's id, state and command; `output` shows the end of one's output "
    "(stdout and stderr together) under a header saying how many lines and bytes are shown "
    "of how many written (`no output` when it printed nothing); `stop` kills it and "
    "everything it started."
)


def _line(info: BackgroundInfo) -> str:
    state = "running" if info.running else f"exited {info.exit_code}"
    return f"{info.id}  {state:<10}  {info.uptime_s:>7.1f}s  {info.name}: {info.command}"


def run(ctx: ToolContext, args: Args) -> ToolOutput:
    action = args["action"]
    if action == "list":
        infos = ctx.sandbox.list_background()
        if not infos:
            return ToolOutput(content="No background processes.", summary="none")
        running = sum(1 for i in infos if i.running)
        body = "\n".join(_line(i) for i in infos)
        return ToolOutput(content=body, summary=f"{running} running of {len(infos)}")
    process_id = args.get("id")
    if not process_id:
        raise ToolFailure(f"`{action}` needs the process `id` (see action `list`)")
    try:
        if action == "output":
            text = ctx.sandbox.background_output(process_id, max_bytes=ctx.output_limit_chars)
            info = next(i for i in ctx.sandbox.list_background() if i.id == process_id)
            return ToolOutput(
                content=f"{_line(info)}\n{format_log_tail(text, info.log_bytes)}",
                summary=f"{len(text)} chars of {process_id}",
            )
        info = ctx.sandbox.stop_background(process_id)
    except KeyError as exc:
        raise ToolFailure(str(exc.args[0]) if exc.args else str(exc)) from exc
    return ToolOutput(content=f"Stopped. {_line(info)}", summary=f"stopped {process_id}")


TOOL = ToolDef(
    name="processes",
    description=DESCRIPTION,
    schema=SCHEMA,
    label=lambda a: f"Processes: {a['action']}" + (f" {a['id']}" if a.get("id") else ""),
    run=run,
)
