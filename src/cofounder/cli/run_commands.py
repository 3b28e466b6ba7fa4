"""`cofounder build`, `resume`, `wake` and `cancel`: the commands that run or stop a session.

Only these import the engine that runs sessions (DBOS); its import and the project loader's
happen inside each command, so registering them costs the other commands nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cofounder.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_OK,
    MAX_TOOL_CALLS,
    DataDir,
    SessionId,
    err,
    fail,
    open_catalog,
    open_engine,
    open_settings,
    out,
    resolve_or_fail,
)

if TYPE_CHECKING:
    from cofounder.engine import Engine


def run_session(engine: Engine, session_id: str, *, resumed: bool) -> int:
    """Run a session here with the live view; its exit code (0 only when it completed)."""
    from rich.markup import escape

    from cofounder.cli.live import run_with_live_view
    from cofounder.engine import EngineError, SessionFinishedError

    after = engine.events_after(session_id, 0, limit=1_000_000)
    try:
        outcome = run_with_live_view(
            engine, session_id, out(), resumed=resumed, after_seq=after[-1].seq if after else 0
        )
    except KeyboardInterrupt:
        err().print(
            f"\ninterrupted. `cofounder resume {session_id}` continues it; "
            f"`cofounder cancel {session_id}` ends it."
        )
        sys.stdout.flush()
        os._exit(130)  # the engine's threads hold no state that needs a clean shutdown
    except SessionFinishedError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except EngineError as exc:
        fail(str(exc), EXIT_FAILED)
    if outcome == "paused":
        err().print(f"paused; `cofounder resume {session_id}` continues it when the cause is fixed")
    if outcome == "budget_too_small":
        err().print(escape("raise the allowance (cofounder.toml [allowances]) or lower max_tokens"))
    return EXIT_OK if outcome == "completed" else EXIT_FAILED


def build(
    project_file: Annotated[Path, typer.Argument(help="The project file (YAML).")],
    model: Annotated[
        str | None, typer.Option("--model", help="Model spec; overrides `model:`.")
    ] = None,
    data_dir: DataDir = None,
    max_tool_calls: Annotated[
        int | None, typer.Option("--max-tool-calls", min=1, max=MAX_TOOL_CALLS)
    ] = None,
    network: Annotated[
        str | None,
        typer.Option(
            "--network",
            help="Sandbox network: none (default) or egress (package registries only); "
            "overrides `network:`.",
        ),
    ] = None,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach", help="Queue the build for a worker (`cofounder worker`) and exit."
        ),
    ] = False,
) -> None:
    """Start a new build session and run it to the end with a live view (this process
    serves the queue meanwhile), or queue it for the workers with --detach."""
    from cofounder.engine import BadInputError, EngineError, check_start
    from cofounder.project import ProjectBaseError, load_project
    from cofounder.sandbox import SandboxError, require_bwrap

    try:
        spec = load_project(project_file)
    except ProjectBaseError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    if network is not None:
        if network not in ("none", "egress"):
            fail(f"--network must be none or egress, not {network!r}", EXIT_BAD_INPUT)
        spec = spec.model_copy(update={"network": network})
    try:
        require_bwrap()
    except SandboxError as exc:
        fail(str(exc), EXIT_FAILED)
    try:  # before the data dir is opened: refused input leaves nothing on disk
        check_start(open_settings(data_dir), spec, project_file, model_override=model)
    except BadInputError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    engine = open_engine(data_dir)
    try:
        record = engine.create_session(
            spec, project_file, model_override=model, max_tool_calls=max_tool_calls
        )
    except BadInputError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except EngineError as exc:  # busy, or the owner's daily cap: nothing was created
        fail(str(exc), EXIT_BUSY)
    print(f"session: {record.id}", flush=True)
    if detach:
        if engine.live_workers():
            out().print(f"queued; a worker runs it (`cofounder events {record.id} -f` follows it)")
        else:
            out().print(
                "queued, but no worker is running: start one with `cofounder worker` "
                f"(or run it here with `cofounder resume {record.id}`)"
            )
        raise typer.Exit(EXIT_OK)
    raise typer.Exit(run_session(engine, record.id, resumed=False))


def resume(
    session_id: Annotated[
        str | None, typer.Argument(help="Session id; all interrupted if omitted.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Continue an interrupted session here (waiting first for an answer or a wake time it
    still needs), or, without an id, serve every interrupted session until all have ended."""
    from rich.text import Text

    from cofounder.cli.inert import inert
    from cofounder.cli.session_views import held_by, session_heading

    engine = open_engine(data_dir)
    if session_id is not None:
        record = resolve_or_fail(engine, session_id)
        if record.state == "finished":
            reason = inert(record.outcome_reason or "")
            out().print(Text(f"session {record.id} already finished ({record.outcome}): {reason}"))
            # As if it had run to that end here: a script's `resume && deploy` must not go on.
            raise typer.Exit(EXIT_OK if record.outcome == "completed" else EXIT_FAILED)
        holder = engine.held_by(record.id)
        if holder is not None:
            fail(f"session {record.id} is running on worker {holder.name}", EXIT_FAILED)
        print(f"session: {record.id}", flush=True)
        held = held_by(engine, record)
        if held is not None:  # the run below waits for it; no model call happens before
            out().print(held, soft_wrap=True)
        raise typer.Exit(run_session(engine, record.id, resumed=True))
    pending = engine.interrupted_sessions()
    if not pending:
        out().print("no interrupted sessions")
        raise typer.Exit(EXIT_OK)
    runnable: list[str] = []
    for record in pending:
        held = held_by(engine, record)
        if held is None:
            runnable.append(record.id)
            continue
        out().print(session_heading(record, record.state))
        out().print(held, soft_wrap=True)
    if len(runnable) < len(pending):
        out().print(f"{len(pending) - len(runnable)} waiting or sleeping; running {len(runnable)}")
    if not runnable:
        raise typer.Exit(EXIT_OK)
    # One worker here serves them all, side by side, until each has ended or paused.
    outcomes = engine.run_all(runnable)
    for record_id, outcome in outcomes.items():
        out().print(f"{record_id}: {outcome}")
    failed = any(outcome != "completed" for outcome in outcomes.values())
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def wake(
    session_id: SessionId,
    data_dir: DataDir = None,
    run: Annotated[
        bool,
        typer.Option(
            "--run/--no-run", help="Continue the session here when no process is waiting on it."
        ),
    ] = True,
) -> None:
    """Wake a session that sleeps for its budget now (for instance after a top-up)."""
    engine = open_engine(data_dir)
    record = resolve_or_fail(engine, session_id)
    if record.state != "sleeping":
        fail(f"session {record.id} is not sleeping (it is {record.shown_state})", EXIT_BAD_INPUT)
    engine.request_wake(record.id)
    if engine.is_active(record.id):
        out().print(f"woke session {record.id}; a running worker continues it now")
        raise typer.Exit(EXIT_OK)
    if not run:
        out().print(f"wake requested; `cofounder resume {record.id}` continues it")
        raise typer.Exit(EXIT_OK)
    print(f"session: {record.id}", flush=True)
    raise typer.Exit(run_session(engine, record.id, resumed=True))


def cancel(session_id: SessionId, data_dir: DataDir = None) -> None:
    """Ask a session to stop after its current iteration; one that is not running (queued,
    sleeping, waiting, paused or interrupted) ends now."""
    from cofounder.engine import EngineError

    catalog = open_catalog(data_dir)
    try:
        record = catalog.resolve_session(session_id)
        ended = catalog.request_cancel(record.id)
    except EngineError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    if ended:
        out().print(f"{record.id} was not running; it is now {ended}")
    else:
        out().print(f"cancel requested: {record.id} stops before its next model call")


def register(app: typer.Typer) -> None:
    for command in (build, resume, wake, cancel):
        app.command()(command)
