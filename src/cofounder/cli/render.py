"""How events and sessions read to a person in a terminal."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.text import Text

from cofounder.budget import BudgetStatus
from cofounder.cli.inert import inert
from cofounder.events import (
    AssistantText,
    BaseEvent,
    BudgetExhausted,
    BudgetUpdated,
    CancelRequested,
    ContextCompacted,
    DocumentationUpdated,
    Escalated,
    FounderMessage,
    IterationCommitted,
    ModelFailed,
    ModelUnavailable,
    Narration,
    PhaseCompleted,
    PhaseStarted,
    PreviewFailed,
    PreviewReady,
    PreviewStopped,
    ProcessesStopped,
    Requeued,
    Resolved,
    Retrying,
    ScreenshotTaken,
    SessionFinished,
    SessionPaused,
    SessionResumed,
    SessionStarted,
    Sleeping,
    SnapshotFailed,
    Thinking,
    ToolCalled,
    ToolStarted,
    ToolSteered,
    WaitingForInput,
    Waking,
    WorkspaceRestored,
)
from cofounder.questions import Option
from cofounder.storage import Event, SessionRecord


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _s(value: object, *, clip: int | None = None) -> str:
    """A field as inert one-line text ("" when absent)."""
    text = "" if value is None else str(value)
    return inert(_clip(text, clip) if clip else text)


def _n(value: float | None) -> str:
    """A number: `12,345` for a count; "?" when absent."""
    if value is None:
        return "?"
    return f"{value:,}" if isinstance(value, int) else inert(str(value))


def _prose(text: str) -> str:
    """A field the founder reads in full (the agent's messages): lines kept."""
    return inert(text.strip(), multiline=True)


def utc_time(when: datetime, now: datetime | None = None) -> str:
    """`14:00 UTC` today, `2025-06-02 14:00 UTC` another day."""
    when = when.astimezone(UTC)
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return f"{when:%H:%M} UTC" if when.date() == today else f"{when:%Y-%m-%d %H:%M} UTC"


def resolve_command(escalation_id: str, key: str, owner: str | None = None) -> str:
    """The exact command that answers a question (owner included, so it is ready to paste)."""
    command = f"cofounder resolve {shlex.quote(escalation_id)} --choice {shlex.quote(key)}"
    return command + (f" --as {shlex.quote(owner)}" if owner else "")


def question_text(
    escalation_id: str,
    problem: str,
    options: Sequence[Option],
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


def _retrying(e: Retrying) -> Text:
    label, error = _s(e.label, clip=120), _s(e.error, clip=200)
    attempt = f"attempt {_n(e.attempt)} of {_n(e.max_attempts)}"
    match e.kind:
        case "retry":
            text = f"  ↻ {label} hit an environment error ({error}); retrying in "
            text += f"{_n(e.retry_after_s)}s ({attempt})"
        case "nudge":
            text = f"  ↻ no progress ({label}); the agent is nudged to change course"
        case _:
            text = f"  ↻ {label} failed ({error}); trying a different approach ({attempt})"
    return Text(text, style="yellow")


def _snapshot_failed(e: SnapshotFailed) -> Text:
    line = Text(
        f"  ✗ workspace snapshot failed (attempt {_n(e.attempt)} of {_n(e.of)}): "
        f"{_s(e.error, clip=200)}",
        style="yellow",
    )
    if e.attempt == e.of:
        line.append(
            "; giving up: this iteration's files are not saved, so a restart elsewhere "
            "cannot restore them",
            style="bold red",
        )
    return line


def _resolved(e: Resolved) -> Text:
    eid, choice = _s(e.escalation_id), _s(e.choice)
    if e.defaulted:
        return Text(
            f"  ⌛ no answer to {eid} in time: the default {choice} applies", style="yellow"
        )
    line = Text(f"  ✓ {eid} answered by {_s(e.by)}: {choice}", style="green")
    if e.guidance:
        line.append(f" — {_s(e.guidance, clip=200)}", style="dim")
    return line


def _waiting(e: WaitingForInput, now: datetime) -> Text:
    eid, until = _s(e.escalation_id), utc_time(e.deadline, now)
    if not e.blocking:
        return Text(
            f"  … {eid} is open until {until}; the build keeps working meanwhile", style="yellow"
        )
    return Text(
        f"⏸ Waiting for your answer to {eid} until {until} (then the default applies)"
        "; `cofounder escalations --open` shows what is asked",
        style="bold yellow",
    )


def _tool_called(e: ToolCalled) -> Text | None:
    if e.name in ("narrate", "document") and e.ok:
        return None  # their narration / documentation events already say it
    mark, style = ("✓", "green") if e.ok else ("✗", "red")
    line = Text(f"  {mark} ", style=style)
    line.append(_s(e.label) or _s(e.name))
    line.append(f" — {_s(e.summary)}", style="dim")
    return line


# Events the feed leaves to the status bar (or that another event already says).
QUIET_EVENTS: tuple[type[BaseEvent], ...] = (
    Thinking,
    ToolStarted,
    PhaseCompleted,
    IterationCommitted,
    BudgetUpdated,  # the status bar shows spend; a sleep says it when it matters
    BudgetExhausted,  # followed by `sleeping` or a finished `budget_too_small`
)


def event_line(event: Event, *, owner: str | None = None) -> Text | None:
    """One line per event a founder cares about, with the next action where one is needed;
    None for events only the status bar uses. Every value from the event is shown inert."""
    now = event.ts
    match event.body:
        case SessionStarted(
            name=name, model=model, parent_session_id=str() as parent, forked_from_iteration=at
        ):
            return Text(
                f"▶ forked “{_s(name)}” from {_s(parent)} at iteration {_n(at or 0)}, "
                f"with {_s(model)}",
                style="bold",
            )
        case SessionStarted(name=name, model=model):
            return Text(f"▶ started “{_s(name)}” with {_s(model)}", style="bold")
        case SessionResumed(iteration=iteration):
            return Text(f"▶ resumed at iteration {_n(iteration)}", style="bold")
        case AssistantText(text=text):
            return Text(f"  {_prose(text)}", style="cyan")
        case ToolCalled() as e:
            return _tool_called(e)
        case ToolSteered(name=name, action=action, message=message):
            return Text(f"  ⚠ {_s(name)} {_s(action)}: {_s(message, clip=160)}", style="yellow")
        case Narration(message=message):
            return Text(f"» {_prose(message)}", style="magenta")
        case PhaseStarted(phase=phase):
            return Text(f"━━ {_s(phase)} ━━", style="bold blue")
        case DocumentationUpdated(section=section):
            return Text(f"  📄 documented {_s(section)}", style="dim")
        case WorkspaceRestored(to_iteration=to_iteration):
            return Text(
                f"  ↺ workspace restored to iteration {_n(to_iteration)} "
                "to redo an interrupted batch",
                style="yellow",
            )
        case SnapshotFailed() as e:
            return _snapshot_failed(e)
        case ContextCompacted() as e:
            return Text(
                f"  ⇣ conversation compacted ({_s(e.kind)}): "
                f"{_n(e.tokens_before)} → {_n(e.tokens_after)} tokens",
                style="dim",
            )
        case Retrying() as e:
            return _retrying(e)
        case Escalated() as e:
            return question_text(e.id, e.problem, e.options, e.default, owner=owner)
        case WaitingForInput() as e:
            return _waiting(e, now)
        case Resolved() as e:
            return _resolved(e)
        case FounderMessage(by=by, text=text):
            return Text(f"✉ {inert(by)} says: {_s(text, clip=300)}", style="bold magenta")
        case Sleeping(wake_at=wake_at, reason=reason):
            return sleeping_text(event.session_id, wake_at, reason, owner, now)
        case Waking(on_request=on_request):
            why = "woken on request" if on_request else "the allowance window refreshed"
            return Text(f"☀ Waking: {why}", style="bold")
        case Requeued(worker=worker):
            return Text(f"↻ worker {inert(worker)} shut down; waiting in the queue for another")
        case SessionPaused(reason=reason):
            return Text(
                f"‖ paused: {_s(reason)} — `cofounder resume {inert(event.session_id)}` "
                "continues it",
                style="bold yellow",
            )
        case ModelUnavailable(error=error):
            return Text(f"  ✗ model unavailable: {_s(error, clip=300)}", style="yellow")
        case ModelFailed(error=error):
            return Text(f"✗ model failed: {_s(error)}", style="bold red")
        case CancelRequested():
            return Text("■ cancel requested; stopping after the current iteration", style="yellow")
        case PreviewReady(url=url, http_status=http_status):
            return Text(
                f"  ◉ preview ready: open {_s(url)} in your browser (HTTP {_n(http_status)})",
                style="bold green",
            )
        case PreviewFailed(hint=hint):
            return Text(f"  ✗ preview failed: {_s(hint, clip=200)}", style="yellow")
        case PreviewStopped(reason=reason):
            return Text(f"  ○ preview stopped ({_s(reason)})", style="dim")
        case ProcessesStopped(reason=reason, processes=processes):
            names = ", ".join(inert(p.name or p.id) for p in processes)
            return Text(f"  ○ background processes stopped ({_s(reason)}): {names}", "dim")
        case ScreenshotTaken(path=path, screenshots=screenshots):
            shots = ", ".join(inert(f"{s.viewport} {s.width}x{s.height}") for s in screenshots)
            return Text(f"  📷 screenshot {_s(path)}: {shots}", style="dim")
        case SessionFinished() as e:
            style = "bold green" if e.outcome == "completed" else "bold red"
            return Text(
                f"■ {_s(e.outcome)}: {_s(e.reason)} "
                f"({_n(e.iterations)} iterations, {_n(e.tool_calls)} tool calls, "
                f"{_n(e.elapsed_seconds)}s)",
                style=style,
            )
        case _:  # QUIET_EVENTS: the status bar shows them
            return None


def money(microdollars: int) -> str:
    return f"${microdollars / 1_000_000:,.4f}"


def elapsed_since(start: datetime, end: datetime | None = None) -> str:
    seconds = int(((end or datetime.now(UTC)) - start).total_seconds())
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def display_state(record: SessionRecord, active: bool) -> str:
    if record.state in ("finished", "queued", "paused", "sleeping", "waiting"):
        return record.shown_state
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
        "parent_session_id": record.parent_session_id,  # a fork's lineage
        "forked_from_iteration": record.forked_from_iteration,
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
