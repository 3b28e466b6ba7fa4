"""How events and sessions read to a person in a terminal."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from rich.text import Text

from cofounder.budget import BudgetStatus
from cofounder.engine.feed import EventType
from cofounder.storage import Event, SessionRecord


def _clip(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def event_line(event: Event) -> Text | None:
    """One line per event worth showing; None for events only the status bar uses."""
    p = event.payload
    match event.type:
        case EventType.SESSION_STARTED:
            return Text(f"▶ started “{p.get('name')}” with {p.get('model')}", style="bold")
        case EventType.SESSION_RESUMED:
            return Text(f"▶ resumed at iteration {p.get('iteration')}", style="bold")
        case EventType.ASSISTANT_TEXT:
            return Text(f"  {_clip(str(p.get('text', '')))}", style="cyan")
        case EventType.TOOL_CALLED if p.get("name") in ("narrate", "document") and p.get("ok"):
            return None  # their narration / documentation events already say it
        case EventType.TOOL_CALLED:
            mark, style = ("✓", "green") if p.get("ok") else ("✗", "red")
            line = Text(f"  {mark} ", style=style)
            line.append(str(p.get("label", p.get("name"))))
            line.append(f" — {p.get('summary', '')}", style="dim")
            return line
        case EventType.TOOL_STEERED:
            return Text(
                f"  ⚠ {p.get('name')} {p.get('action')}: {_clip(str(p.get('message')), 160)}",
                style="yellow",
            )
        case EventType.NARRATION:
            return Text(f"» {_clip(str(p.get('message', '')))}", style="magenta")
        case EventType.PHASE_STARTED:
            return Text(f"━━ {p.get('phase')} ━━", style="bold blue")
        case EventType.DOCUMENTATION_UPDATED:
            return Text(f"  📄 documented {p.get('section')}", style="dim")
        case EventType.WORKSPACE_RESTORED:
            return Text(
                f"  ↺ workspace restored to iteration {p.get('to_iteration')} "
                "to redo an interrupted batch",
                style="yellow",
            )
        case EventType.SESSION_PAUSED:
            return Text(f"‖ paused: {p.get('reason')}", style="bold yellow")
        case EventType.MODEL_UNAVAILABLE:
            return Text(f"  ✗ model unavailable: {p.get('error')}", style="yellow")
        case EventType.MODEL_FAILED:
            return Text(f"✗ model failed: {p.get('error')}", style="bold red")
        case EventType.CANCEL_REQUESTED:
            return Text("■ cancel requested; stopping after the current iteration", style="yellow")
        case EventType.PREVIEW_READY:
            return Text(
                f"  ◉ preview: {p.get('url')}  (HTTP {p.get('http_status')})", style="bold green"
            )
        case EventType.PREVIEW_FAILED:
            return Text(f"  ✗ preview failed: {_clip(str(p.get('hint')), 200)}", style="yellow")
        case EventType.PREVIEW_STOPPED:
            return Text(f"  ○ preview stopped ({p.get('reason')})", style="dim")
        case EventType.SCREENSHOT_TAKEN:
            shots = ", ".join(
                f"{s.get('viewport')} {s.get('width')}x{s.get('height')}"
                for s in p.get("screenshots", [])
            )
            return Text(f"  📷 screenshot {p.get('path')}: {shots}", style="dim")
        case EventType.SESSION_FINISHED:
            style = "bold green" if p.get("outcome") == "completed" else "bold red"
            return Text(
                f"■ {p.get('outcome')}: {p.get('reason')} "
                f"({p.get('iterations')} iterations, {p.get('tool_calls')} tool calls, "
                f"{p.get('elapsed_seconds')}s)",
                style=style,
            )
        case _:
            return None


def money(microdollars: int) -> str:
    return f"${microdollars / 1_000_000:,.4f}"


def elapsed_since(start: datetime, end: datetime | None = None) -> str:
    seconds = int(((end or datetime.now(UTC)) - start).total_seconds())
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def display_state(record: SessionRecord, active: bool) -> str:
    if record.state == "finished":
        return str(record.outcome)
    if record.state in ("paused", "sleeping", "waiting"):
        return record.state
    return "running" if active else "interrupted"


def status_payload(
    record: SessionRecord, active: bool, workspace: str, *, budget: BudgetStatus | None = None
) -> dict[str, object]:
    return {
        "session_id": record.id,
        "name": record.name,
        "owner": record.owner,
        "state": display_state(record, active),
        "outcome": record.outcome,
        "outcome_reason": record.outcome_reason,
        "iteration": record.iteration,
        "tool_calls": record.tool_calls,
        "max_tool_calls": record.max_tool_calls,
        "phase": record.phase,
        "spend_microdollars": record.spend_microdollars,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "model": record.model_spec,
        "workspace": workspace,
        "created_at": record.created_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "network": record.network_mode,
        "wake_at": record.wake_at.isoformat() if record.wake_at else None,
        "budget_percent": budget.percent if budget else None,
        "budget_remaining_microdollars": budget.remaining if budget else None,
        "budget_window_end": budget.window_end.isoformat() if budget else None,
        # A URL is only live while a process runs the session (a killed one leaves it behind).
        "preview_url": record.preview_url if active else None,
        "preview_command": preview_command(record),
    }


def preview_command(record: SessionRecord) -> str | None:
    """How the app runs (`cofounder preview` serves it again), once the agent started one."""
    if record.preview_spec_json is None:
        return None
    try:
        spec = json.loads(record.preview_spec_json)["spec"]
        return f"{spec['command']} (port {spec['port']})"
    except (ValueError, KeyError, TypeError):
        return None
