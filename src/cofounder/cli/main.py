"""The `cofounder` command line. Exit codes: 0 completed/ok, 1 failure, 2 bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from cofounder.cli import (
    budget_commands,
    escalation_commands,
    model_commands,
    preview_commands,
    snapshot_commands,
)
from cofounder.cli.inert import inert
from cofounder.cli.render import event_line, status_payload
from cofounder.cli.session_views import held_by, session_heading, sessions_table
from cofounder.config import ConfigError, Settings, load_settings
from cofounder.engine import (
    BadInputError,
    Catalog,
    ConfigurationError,
    EngineError,
    SessionFinishedError,
)
from cofounder.engine.budget import owner_status
from cofounder.engine.startup import check_start
from cofounder.logs import configure_logging
from cofounder.project import ProjectBaseError, load_project, write_example
from cofounder.sandbox import SandboxError, parse_network_mode, probe_active_limits, require_bwrap
from cofounder.storage import SessionRecord

if TYPE_CHECKING:
    from cofounder.engine.service import Engine

app = typer.Typer(
    name="cofounder",
    help="Turn a founder's idea into a running app, durably and within budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _print_version(value: bool) -> None:
    if value:
        print(f"cofounder {package_version('cofounder')}")
        raise typer.Exit(0)


@app.callback()
def _main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Turn a founder's idea into a running app, durably and within budget."""


DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data dir (default $COFOUNDER_HOME, else ./.cofounder)."),
]
SessionId = Annotated[str, typer.Argument(help="Session id (a unique prefix is enough).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# Option ranges: past them a number would overflow a database integer (2^63) mid-command.
MAX_TOOL_CALLS = 1_000_000  # as Settings.max_tool_calls
MAX_SEQ = 2**63 - 1


def _fail(message: str, code: int) -> NoReturn:
    err.print(Text.assemble(("error:", "bold red"), " ", inert(message, multiline=True)))
    raise typer.Exit(code)


def _settings(data_dir: Path | None) -> Settings:
    try:
        return load_settings(data_dir)
    except ConfigError as exc:  # each problem names its source: env var, TOML key, --data-dir
        _fail("bad configuration: " + "\n  ".join(exc.problems), EXIT_BAD_INPUT)


def _catalog(data_dir: Path | None) -> Catalog:
    try:
        return Catalog(_settings(data_dir))
    except ConfigurationError as exc:
        _fail(f"bad configuration: {exc}", EXIT_BAD_INPUT)


def _engine(data_dir: Path | None) -> Engine:
    from cofounder.engine.service import Engine  # DBOS is imported only by commands that run

    try:
        return Engine(_settings(data_dir))
    except ConfigurationError as exc:
        _fail(f"bad configuration: {exc}", EXIT_BAD_INPUT)


def _status(catalog: Catalog, record: SessionRecord) -> dict[str, object]:
    workspace = str(catalog.rt.workspace_path(record.id))
    return status_payload(record, catalog.is_active(record.id), workspace)


def _outcome_exit(outcome: str) -> int:
    return EXIT_OK if outcome == "completed" else EXIT_FAILED


def _run_session(engine: Engine, session_id: str, *, resumed: bool) -> int:
    from cofounder.cli.live import run_with_live_view

    after = engine.rt.events.read(session_id, after_seq=0, limit=1_000_000)
    try:
        outcome = run_with_live_view(
            engine, session_id, out, resumed=resumed, after_seq=after[-1].seq if after else 0
        )
    except KeyboardInterrupt:
        err.print(
            f"\ninterrupted. `cofounder resume {session_id}` continues it; "
            f"`cofounder cancel {session_id}` ends it."
        )
        sys.stdout.flush()
        os._exit(130)  # the engine's threads hold no state that needs a clean shutdown
    except SessionFinishedError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    except EngineError as exc:
        _fail(str(exc), EXIT_FAILED)
    if outcome == "paused":
        err.print(f"paused; `cofounder resume {session_id}` continues it when the cause is fixed")
    if outcome == "budget_too_small":
        err.print(escape("raise the allowance (cofounder.toml [allowances]) or lower max_tokens"))
    return _outcome_exit(outcome)


@app.command()
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
) -> None:
    """Start a new build session and run it to the end with a live view."""
    try:
        spec = load_project(project_file)
    except ProjectBaseError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    if network is not None:
        if network not in ("none", "egress"):
            _fail(f"--network must be none or egress, not {network!r}", EXIT_BAD_INPUT)
        spec = spec.model_copy(update={"network": network})
    try:
        require_bwrap()
    except SandboxError as exc:
        _fail(str(exc), EXIT_FAILED)
    try:  # before the data dir is opened: refused input leaves nothing on disk
        check_start(_settings(data_dir), spec, project_file, model_override=model)
    except BadInputError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    engine = _engine(data_dir)
    try:
        record = engine.create_session(
            spec, project_file, model_override=model, max_tool_calls=max_tool_calls
        )
    except BadInputError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    print(f"session: {record.id}", flush=True)
    raise typer.Exit(_run_session(engine, record.id, resumed=False))


@app.command()
def resume(
    session_id: Annotated[
        str | None, typer.Argument(help="Session id; all interrupted if omitted.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Resume one interrupted session (waiting first for an answer or a wake time it still
    needs), or run every interrupted session that can run now and list those that cannot."""
    engine = _engine(data_dir)
    if session_id is not None:
        try:
            record = engine.resolve_session(session_id)
        except BadInputError as exc:
            _fail(str(exc), EXIT_BAD_INPUT)
        if record.state == "finished":
            reason = inert(record.outcome_reason or "")
            out.print(Text(f"session {record.id} already finished ({record.outcome}): {reason}"))
            raise typer.Exit(EXIT_OK)
        if engine.is_active(record.id):
            _fail(f"session {record.id} is running in another process", EXIT_FAILED)
        print(f"session: {record.id}", flush=True)
        held = held_by(engine, record)
        if held is not None:  # the run below waits for it; no model call happens before
            out.print(held, soft_wrap=True)
        raise typer.Exit(_run_session(engine, record.id, resumed=True))
    pending = engine.interrupted_sessions()
    if not pending:
        out.print("no interrupted sessions")
        raise typer.Exit(EXIT_OK)
    runnable: list[SessionRecord] = []
    for record in pending:
        held = held_by(engine, record)
        if held is None:
            runnable.append(record)
            continue
        out.print(session_heading(record, record.state))
        out.print(held, soft_wrap=True)
    if len(runnable) < len(pending):
        out.print(f"{len(pending) - len(runnable)} waiting or sleeping; running {len(runnable)}")
    worst = EXIT_OK
    for record in runnable:  # one process each: DBOS recovers per executor, one per session
        args = [sys.executable, "-m", "cofounder", "resume", record.id]
        if data_dir is not None:
            args += ["--data-dir", str(data_dir)]
        code = subprocess.call(args)
        worst = max(worst, code)
    raise typer.Exit(worst)


@app.command()
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
    engine = _engine(data_dir)
    try:
        record = engine.resolve_session(session_id)
    except BadInputError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    if record.state != "sleeping":
        _fail(f"session {record.id} is not sleeping (it is {record.state})", EXIT_BAD_INPUT)
    engine.rt.sessions.request_wake(record.id)
    if engine.is_active(record.id):
        out.print(f"woke session {record.id}; the process waiting on it continues it now")
        raise typer.Exit(EXIT_OK)
    if not run:
        out.print(f"wake requested; `cofounder resume {record.id}` continues it")
        raise typer.Exit(EXIT_OK)
    print(f"session: {record.id}", flush=True)
    raise typer.Exit(_run_session(engine, record.id, resumed=True))


@app.command()
def cancel(session_id: SessionId, data_dir: DataDir = None) -> None:
    """Ask a session to stop after its current iteration (ends an interrupted one on resume)."""
    engine = _catalog(data_dir)
    try:
        record = engine.resolve_session(session_id)
        ended = engine.request_cancel(record.id)
    except EngineError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    if ended:
        out.print(f"{record.id} was not running; it is now {ended}")
    else:
        out.print(f"cancel requested: {record.id} stops before its next model call")


@app.command()
def sessions(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """List sessions."""
    engine = _catalog(data_dir)
    records = engine.rt.sessions.list()
    if as_json:
        for record in records:
            print(
                json.dumps(
                    status_payload(
                        record,
                        engine.is_active(record.id),
                        str(engine.rt.workspace_path(record.id)),
                    )
                )
            )
        return
    if not records:
        out.print("no sessions yet — start one with `cofounder build PROJECT_FILE`")
        return
    out.print(sessions_table(records, engine.is_active, out.width))


@app.command()
def status(session_id: SessionId, data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """Show where a session stands."""
    engine = _catalog(data_dir)
    try:
        record = engine.resolve_session(session_id)
    except BadInputError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    payload = status_payload(
        record,
        engine.is_active(record.id),
        str(engine.rt.workspace_path(record.id)),
        budget=owner_status(engine.rt, record.owner, record.tier),
    )
    payload["sandbox_limits"] = probe_active_limits(
        engine.rt.sandbox_limits, parse_network_mode(record.network_mode)
    ).summary
    if as_json:
        print(json.dumps(payload))
        return
    for key, value in payload.items():
        shown = "—" if value is None else inert(str(value))
        out.print(Text.assemble((f"{key:>18}", "bold"), "  ", shown))
    held = held_by(engine, record)
    if held is not None:
        out.print(held, soft_wrap=True)


@app.command()
def events(
    session_id: SessionId,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    after: Annotated[
        int, typer.Option("--after", min=0, max=MAX_SEQ, help="Only events with seq above this.")
    ] = 0,
) -> None:
    """Print a session's events (JSON lines with --json)."""
    engine = _catalog(data_dir)
    try:
        record = engine.resolve_session(session_id)
    except BadInputError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    seq = after
    if follow and record.state == "running" and not engine.is_active(record.id):
        err.print(f"{record.id} is interrupted; waiting for `cofounder resume {record.id}`...")
    while True:
        for event in engine.rt.events.read(record.id, after_seq=seq):
            seq = event.seq
            if as_json:
                print(event.to_json_line(), flush=True)
            else:
                line = event_line(event, owner=record.owner)
                if line is not None:
                    out.print(f"[dim]{event.seq:>5}[/] ", line, soft_wrap=True)
        if not follow:
            return
        current = engine.rt.sessions.get(record.id)
        if (
            current is not None
            and current.state == "finished"
            and not engine.rt.events.read(record.id, after_seq=seq, limit=1)
        ):
            return
        time.sleep(0.2)


@app.command()
def workspace(session_id: SessionId, data_dir: DataDir = None) -> None:
    """Print the host path of a session's workspace."""
    engine = _catalog(data_dir)
    try:
        record = engine.resolve_session(session_id)
    except BadInputError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    print(engine.rt.workspace_path(record.id))


@app.command()
def docs(session_id: SessionId, data_dir: DataDir = None) -> None:
    """Print the documentation the agent wrote for the founder."""
    engine = _catalog(data_dir)
    try:
        record = engine.resolve_session(session_id)
    except BadInputError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    sections = engine.rt.documents.all(record.id)
    if not sections:
        out.print("no documentation yet")
    for section in ("overview", "features", "getting_started", "faq"):
        if section in sections:
            out.rule(section.replace("_", " "))
            out.print(Text(inert(sections[section], multiline=True)))


@app.command()
def init(directory: Annotated[Path, typer.Argument(help="Where to write cofounder.yaml.")]) -> None:
    """Write a commented example project file to start from."""
    try:
        path = write_example(directory)
    except ProjectBaseError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    out.print(f"wrote {path} — edit it, then run `cofounder build {path}`")


snapshot_commands.register(app, _catalog, _fail, out)
model_commands.register(app, _settings, _fail, out)
budget_commands.register(app, _catalog, _fail, out)
escalation_commands.register(app, _catalog, _fail, out)
preview_commands.register(app, _catalog, _fail, out)


def main() -> None:
    configure_logging()
    app()
