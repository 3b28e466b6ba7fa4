"""The live view of a running session: a line per event, and a status bar while it runs."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.text import Text

from cofounder.cli.inert import inert
from cofounder.cli.render import elapsed_since, event_line, money, utc_time
from cofounder.events import IterationCommitted, Thinking, ToolCalled, ToolStarted
from cofounder.storage import Event

if TYPE_CHECKING:
    from cofounder.engine import Engine


@dataclass
class _Run:
    outcome: str | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Bar:
    current_tool: str = ""


def _status_bar(engine: Engine, session_id: str, bar: _Bar) -> Text:
    record = engine.session(session_id)
    assert record is not None
    text = Text(
        f"phase: {inert(record.phase or '—')}  ·  iteration {record.iteration}  ·  "
        f"tool calls {record.tool_calls}/{record.max_tool_calls}  ·  "
        f"elapsed {elapsed_since(record.created_at)}  ·  "
        f"spend {money(record.spend_microdollars)} "
        f"({record.input_tokens:,} in / {record.output_tokens:,} out tokens)",
        style="dim",
    )
    if record.state == "waiting":
        text.append("\n  ⏸ waiting for your answer (`cofounder escalations --open`)", "yellow")
    elif record.state == "sleeping" and record.wake_at is not None:
        text.append(f"\n  ☾ sleeping until {utc_time(record.wake_at)}", style="yellow")
    elif bar.current_tool:
        text.append(f"\n  ⋯ {inert(bar.current_tool)}", style="yellow")
    return text


def _track(bar: _Bar, event: Event) -> None:
    match event.body:
        case ToolStarted(name=name):
            bar.current_tool = name
        case Thinking():
            bar.current_tool = "thinking"
        case ToolCalled() | IterationCommitted():
            bar.current_tool = ""


def run_with_live_view(
    engine: Engine, session_id: str, console: Console, *, resumed: bool, after_seq: int
) -> str:
    """Run the session on a worker thread while this thread shows its events."""
    run = _Run()

    def work() -> None:
        try:
            run.outcome = engine.run(session_id, resumed=resumed)
        except BaseException as exc:  # handed to the main thread, which reports it
            run.error = exc
        finally:
            run.done.set()

    threading.Thread(target=work, name="cofounder-session", daemon=True).start()
    bar = _Bar()
    seq = after_seq
    record = engine.session(session_id)
    owner = record.owner if record is not None else None

    def drain() -> None:
        nonlocal seq
        for event in engine.events_after(session_id, seq):
            seq = event.seq
            _track(bar, event)
            line = event_line(event, owner=owner)
            if line is not None:  # the terminal wraps: a command or URL copies back whole
                console.print(line, soft_wrap=True)

    if console.is_terminal:
        with Live(
            _status_bar(engine, session_id, bar),
            console=console,
            refresh_per_second=8,
            transient=True,
        ) as live:
            while not run.done.wait(0.1):
                drain()
                live.update(_status_bar(engine, session_id, bar))
    else:
        while not run.done.wait(0.1):
            drain()
    drain()
    if run.error is not None:
        raise run.error
    assert run.outcome is not None
    return run.outcome
