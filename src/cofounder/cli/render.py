"""How events and sessions read to a person in a terminal."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from cofounder.budget import BudgetStatus
from cofounder.cli.inert import inert
from cofounder.engine.feed import EventType
from cofounder.storage import Event, SessionRecord
from cofounder.storage.escalations import EscalationChoice


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _s(payload: dict[str, Any], key: str, *, clip: int | None = None) -> str:
    """One payload field as inert one-line text ("" when absent)."""
    value = payload.get(key)
    text = "" if value is None else str(value)
    return inert(_clip(text, clip) if clip else text)


def _n(payload: dict[str, Any], key: str) -> str:
    """A numeric payload field: `12,345`; anything else (never expected) shown inert."""
    value = payload.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return inert(str(value)) if value is not None else "?"


def _prose(payload: dict[str, Any], key: str) -> str:
    """A payload field the founder reads in full (the agent's messages): lines kept."""
    value = payload.get(key)
    return inert(("" if value is None else str(value)).strip(), multiline=True)


def utc_time(when: datetime, now: datetime | None = None) -> str:
    """`14:00 UTC` today, `2025-06-02 14:00 UTC` another day."""
    when = when.astimezone(UTC)
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return f"{when:%H:%M} UTC" if when.date() == today else f"{when:%Y-%m-%d %H:%M} UTC"


def _when(payload: dict[str, Any], key: str, now: datetime) -> str:
    try:
        return utc_time(datetime.fromisoformat(str(payload[key])), now)
    except (KeyError, ValueError):
        return "an unknown time"


def resolve_command(escalation_id: str, key: str, owner: str | None = None) -> str:
    """The exact command that answers a question (owner included, so it is ready to paste)."""
    command = f"cofounder resolve {shlex.quote(escalation_id)} --choice {shlex.quote(key)}"
    return command + (f" --as {shlex.quote(owner)}" if owner else "")


def question_text(
    escalation_id: str,
    problem: str,
    options: Sequence[EscalationChoice],
    default: str,
    *,
    owner: str | None,
) -> Text:
    """A question for the founder: the problem, every option's key, and how to answer."""
    line = Text("? Question for you", style="bold yellow")
    line.append(f" ({inert(escalation_id)}): ", style="bold yellow")
    line.append(inert(problem.strip(), multiline=True))
    for option in options:
        mark = " (default)" if option.key == default else ""
        line.append(f"\n    --choice {inert(option.key)}: {inert(option.label)}{mark}", style="dim")
    key = default or (options[0].key if options else "KEY")
    line.append("\n  → answer with ", style="yellow")
    line.append(f"`{inert(resolve_command(escalation_id, key, owner))}`", style="bold")
    return line


def sleeping_text(
    session_id: str, wake_at: datetime | None, reason: str, owner: str | None, now: datetime
) -> Text:
    """A session asleep for its budget: until when (UTC), why, and how to continue sooner."""
    until = utc_time(wake_at, now) if wake_at is not None else "an unknown time"
    who = shlex.quote(owner) if owner else "OWNER"
    return Text(
        f"☾ Sleeping until {until} ({inert(reason)}) — `cofounder budget top-up {inert(who)} "
        f"AMOUNT` then `cofounder wake {inert(session_id)}` to continue sooner",
        style="bold yellow",
    )


def _options(payload: dict[str, Any]) -> list[EscalationChoice]:
    options = payload.get("options")
    if not isinstance(options, list):
        return []
    return [
        EscalationChoice(key=str(o.get("key", "?")), label=str(o.get("label", "")))
        for o in options
        if isinstance(o, dict)
    ]


def _retrying(p: dict[str, Any]) -> Text:
    label, error = _s(p, "label", clip=120), _s(p, "error", clip=200)
    attempt = f"attempt {_n(p, 'attempt')} of {_n(p, 'max_attempts')}"
    match p.get("kind"):
        case "retry":
            text = f"  ↻ {label} hit an environment error ({error}); retrying in "
            text += f"{_n(p, 'retry_after_s')}s ({attempt})"
        case "nudge":
            text = f"  ↻ no progress ({label}); the agent is nudged to change course"
        case _:
            text = f"  ↻ {label} failed ({error}); trying a different approach ({attempt})"
    return Text(text, style="yellow")


def _snapshot_failed(p: dict[str, Any]) -> Text:
    line = Text(
        f"  ✗ workspace snapshot failed (attempt {_n(p, 'attempt')} of {_n(p, 'of')}): "
        f"{_s(p, 'error', clip=200)}",
        style="yellow",
    )
    if p.get("attempt") == p.get("of"):
        line.append(
            "; giving up: this iteration's files are not saved, so a restart elsewhere "
            "cannot restore them",
            style="bold red",
        )
    return line


def _resolved(p: dict[str, Any]) -> Text:
    eid, choice = _s(p, "escalation_id"), _s(p, "choice")
    if p.get("defaulted"):
        return Text(
            f"  ⌛ no answer to {eid} in time: the default {choice} applies", style="yellow"
        )
    line = Text(f"  ✓ {eid} answered by {_s(p, 'by')}: {choice}", style="green")
    if p.get("guidance"):
        line.append(f" — {_s(p, 'guidance', clip=200)}", style="dim")
    return line


# Events the feed leaves to the status bar (or that another event already says).
QUIET_EVENTS = frozenset(
    {
        EventType.THINKING,
        EventType.TOOL_STARTED,
        EventType.PHASE_COMPLETED,
        EventType.ITERATION_COMMITTED,
        EventType.BUDGET_UPDATED,  # the status bar shows spend; a sleep says it when it matters
        EventType.BUDGET_EXHAUSTED,  # followed by `sleeping` or a finished `budget_too_small`
    }
)


def event_line(event: Event, *, owner: str | None = None) -> Text | None:
    """One line per event a founder cares about, with the next action where one is needed;
    None for events only the status bar uses. Every payload value is shown inert."""
    p, sid, now = event.payload, inert(event.session_id), event.ts
    match event.type:
        case EventType.SESSION_STARTED:
            return Text(f"▶ started “{_s(p, 'name')}” with {_s(p, 'model')}", style="bold")
        case EventType.SESSION_RESUMED:
            return Text(f"▶ resumed at iteration {_n(p, 'iteration')}", style="bold")
        case EventType.ASSISTANT_TEXT:
            return Text(f"  {_prose(p, 'text')}", style="cyan")
        case EventType.TOOL_CALLED if p.get("name") in ("narrate", "document") and p.get("ok"):
            return None  # their narration / documentation events already say it
        case EventType.TOOL_CALLED:
            mark, style = ("✓", "green") if p.get("ok") else ("✗", "red")
            line = Text(f"  {mark} ", style=style)
            line.append(_s(p, "label") or _s(p, "name"))
            line.append(f" — {_s(p, 'summary')}", style="dim")
            return line
        case EventType.TOOL_STEERED:
            return Text(
                f"  ⚠ {_s(p, 'name')} {_s(p, 'action')}: {_s(p, 'message', clip=160)}",
                style="yellow",
            )
        case EventType.NARRATION:
            return Text(f"» {_prose(p, 'message')}", style="magenta")
        case EventType.PHASE_STARTED:
            return Text(f"━━ {_s(p, 'phase')} ━━", style="bold blue")
        case EventType.DOCUMENTATION_UPDATED:
            return Text(f"  📄 documented {_s(p, 'section')}", style="dim")
        case EventType.WORKSPACE_RESTORED:
            return Text(
                f"  ↺ workspace restored to iteration {_n(p, 'to_iteration')} "
                "to redo an interrupted batch",
                style="yellow",
            )
        case EventType.SNAPSHOT_FAILED:
            return _snapshot_failed(p)
        case EventType.CONTEXT_COMPACTED:
            return Text(
                f"  ⇣ conversation compacted ({_s(p, 'kind')}): "
                f"{_n(p, 'tokens_before')} → {_n(p, 'tokens_after')} tokens",
                style="dim",
            )
        case EventType.RETRYING:
            return _retrying(p)
        case EventType.ESCALATED:
            return question_text(
                str(p.get("id", "")),
                str(p.get("problem", "")),
                _options(p),
                str(p.get("default", "")),
                owner=owner,
            )
        case EventType.WAITING_FOR_INPUT:
            eid, until = _s(p, "escalation_id"), _when(p, "deadline", now)
            if not p.get("blocking", True):
                return Text(
                    f"  … {eid} is open until {until}; the build keeps working meanwhile",
                    style="yellow",
                )
            return Text(
                f"⏸ Waiting for your answer to {eid} until {until} (then the default applies)"
                "; `cofounder escalations --open` shows what is asked",
                style="bold yellow",
            )
        case EventType.RESOLVED:
            return _resolved(p)
        case EventType.SLEEPING:
            try:
                wake_at: datetime | None = datetime.fromisoformat(str(p.get("wake_at")))
            except ValueError:
                wake_at = None
            return sleeping_text(event.session_id, wake_at, str(p.get("reason", "")), owner, now)
        case EventType.WAKING:
            why = "woken on request" if p.get("on_request") else "the allowance window refreshed"
            return Text(f"☀ Waking: {why}", style="bold")
        case EventType.SESSION_PAUSED:
            return Text(
                f"‖ paused: {_s(p, 'reason')} — `cofounder resume {sid}` continues it",
                style="bold yellow",
            )
        case EventType.MODEL_UNAVAILABLE:
            return Text(f"  ✗ model unavailable: {_s(p, 'error', clip=300)}", style="yellow")
        case EventType.MODEL_FAILED:
            return Text(f"✗ model failed: {_s(p, 'error')}", style="bold red")
        case EventType.CANCEL_REQUESTED:
            return Text("■ cancel requested; stopping after the current iteration", style="yellow")
        case EventType.PREVIEW_READY:
            return Text(
                f"  ◉ preview ready: open {_s(p, 'url')} in your browser "
                f"(HTTP {_n(p, 'http_status')})",
                style="bold green",
            )
        case EventType.PREVIEW_FAILED:
            return Text(f"  ✗ preview failed: {_s(p, 'hint', clip=200)}", style="yellow")
        case EventType.PREVIEW_STOPPED:
            return Text(f"  ○ preview stopped ({_s(p, 'reason')})", style="dim")
        case EventType.PROCESSES_STOPPED:
            names = ", ".join(
                inert(str(proc.get("name", proc.get("id"))))
                for proc in p.get("processes", [])
                if isinstance(proc, dict)
            )
            return Text(f"  ○ background processes stopped ({_s(p, 'reason')}): {names}", "dim")
        case EventType.SCREENSHOT_TAKEN:
            shots = ", ".join(
                inert(f"{s.get('viewport')} {s.get('width')}x{s.get('height')}")
                for s in p.get("screenshots", [])
                if isinstance(s, dict)
            )
            return Text(f"  📷 screenshot {_s(p, 'path')}: {shots}", style="dim")
        case EventType.SESSION_FINISHED:
            style = "bold green" if p.get("outcome") == "completed" else "bold red"
            return Text(
                f"■ {_s(p, 'outcome')}: {_s(p, 'reason')} "
                f"({_n(p, 'iterations')} iterations, {_n(p, 'tool_calls')} tool calls, "
                f"{_n(p, 'elapsed_seconds')}s)",
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
