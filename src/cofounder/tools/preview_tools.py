"""preview and take_screenshot: run the app where the founder can see it, and look at it.

The founder-facing URL is recorded on the session by the engine (from the PreviewEffect) and
deliberately left out of what the model reads, so a replayed or resumed conversation is the
same wherever the preview landed.
"""

from __future__ import annotations

from pydantic import ValidationError

from cofounder.sandbox.preview_types import PreviewHost, PreviewSpec
from cofounder.tools.base import Args, ToolContext, ToolDef, ToolFailure, ToolOutput, clip
from cofounder.tools.types import PreviewEffect, ToolImage

PREVIEW_SCHEMA = {
    "type": "object",
    "properties": {
        "command": {
            "type": "string",
            "minLength": 1,
            "description": "Runs the app's server in the foreground from /workspace, e.g. "
            "`python3 -m app.server` or `npm run dev -- --host 0.0.0.0 --port 5173`.",
        },
        "port": {
            "type": "integer",
            "minimum": 1,
            "maximum": 65535,
            "description": "The port the server listens on (bind 0.0.0.0 or 127.0.0.1).",
        },
        "path": {
            "type": "string",
            "pattern": "^/",
            "description": "The page to check and show first (default /).",
        },
    },
    "required": ["command", "port"],
    "additionalProperties": False,
}

PREVIEW_DESCRIPTION = (
    "Start the app so the founder can use it: runs `command` as a background process (any "
    "earlier preview is stopped first), waits until it answers HTTP on `port`, and publishes "
    "it to the founder. It keeps running across tool calls and comes back after the session "
    "restarts. If it fails you get the reason (crashed, wrong port, wrong interface) and the "
    "end of its output. Call it again after changes that need a restart."
)

SCREENSHOT_SCHEMA = {
    "type": "object",
    "properties": {
        "path": {
            "type": "string",
            "pattern": "^/",
            "description": "The page to capture, e.g. /settings (default: the preview's page).",
        }
    },
    "required": [],
    "additionalProperties": False,
}

SCREENSHOT_DESCRIPTION = (
    "Look at the running preview in a real browser: returns screenshots at desktop "
    "(1280x800) and mobile (390x844) widths as images. Start the app with `preview` first."
)


def _host(ctx: ToolContext) -> PreviewHost:
    if ctx.preview is None:
        raise ToolFailure("previews are not available in this sandbox")
    return ctx.preview


def run_preview(ctx: ToolContext, args: Args) -> ToolOutput:
    try:
        spec = PreviewSpec(command=args["command"], port=args["port"], path=args.get("path", "/"))
    except ValidationError as exc:
        raise ToolFailure(f"invalid preview: {exc.errors()[0]['msg']}") from exc
    outcome = _host(ctx).start(spec)
    effect = PreviewEffect(outcome=outcome)
    if outcome.ok:
        return ToolOutput(
            content=(
                f"The app is running: `{spec.command}` answers HTTP {outcome.http_status} at "
                f"{spec.path} on port {spec.port}. The founder can open it now. It keeps "
                "running across tool calls; use take_screenshot to see it."
            ),
            summary=f"HTTP {outcome.http_status} on port {spec.port}",
            effects=(effect,),
        )
    tail = outcome.output_tail.rstrip("\n") or "(no output)"
    return ToolOutput(
        content=f"The preview did not start: {outcome.hint}.\n--- its output (end) ---\n{tail}",
        summary=clip(outcome.hint or "failed", 100),
        ok=False,
        effects=(effect,),
    )


def run_screenshot(ctx: ToolContext, args: Args) -> ToolOutput:
    from cofounder.sandbox.screenshot import ScreenshotError  # Playwright loads on first use

    host = _host(ctx)
    try:
        shots = host.screenshot(args.get("path"))
    except ScreenshotError as exc:
        raise ToolFailure(str(exc)) from exc
    images = tuple(
        ToolImage(
            media_type="image/png",
            data=s.png,
            label=f"{s.viewport.name} {s.viewport.width}x{s.viewport.height}",
            width=s.viewport.width,
            height=s.viewport.height,
        )
        for s in shots
    )
    running = host.running
    page = args.get("path") or (running.spec.path if running is not None else "/")
    statuses = sorted({str(s.status) for s in shots if s.status is not None})
    described = " and ".join(i.label for i in images)
    return ToolOutput(
        content=(
            f"Screenshots of {page} (HTTP {', '.join(statuses) or 'no response'}): "
            f"{described}; they follow as images."
        ),
        summary=f"{len(images)} screenshots of {page}",
        images=images,
    )


PREVIEW = ToolDef(
    name="preview",
    description=PREVIEW_DESCRIPTION,
    schema=PREVIEW_SCHEMA,
    label=lambda a: f"Starting the preview: {clip(a['command'], 60)} (port {a['port']})",
    run=run_preview,
)

SCREENSHOT = ToolDef(
    name="take_screenshot",
    description=SCREENSHOT_DESCRIPTION,
    schema=SCREENSHOT_SCHEMA,
    label=lambda a: f"Taking screenshots of {a.get('path') or 'the preview'}",
    run=run_screenshot,
)
