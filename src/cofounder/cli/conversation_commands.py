"""`cofounder say SESSION_ID TEXT`: tell a build something while it works; `cofounder fork
SESSION_ID --iteration N`: try again from any committed iteration.

The message is kept at once and reaches the model at the build's next iteration boundary,
exactly once; a sleeping or waiting build reads it when it runs again. Only the session's
owner may speak to it (`--as` or `$COFOUNDER_USER`, as for `resolve`)."""

from __future__ import annotations

from typing import Annotated

import typer

from cofounder.cli.common import (
    EXIT_BAD_INPUT,
    AsOwner,
    DataDir,
    acting_as,
    fail,
    open_catalog,
    open_engine,
    out,
    resolve_or_fail,
)


def say(
    session_id: Annotated[str, typer.Argument(help="Session id (a unique prefix).")],
    text: Annotated[str, typer.Argument(help="What to tell the agent (up to 4,000 characters).")],
    as_owner: AsOwner = None,
    data_dir: DataDir = None,
) -> None:
    """Tell a running build something: it reads it before its next step."""
    from rich.text import Text

    from cofounder.cli.inert import inert
    from cofounder.engine import BadInputError, SessionFinishedError
    from cofounder.storage.founder_messages import read_when

    catalog = open_catalog(data_dir)
    record = resolve_or_fail(catalog, session_id)
    who = acting_as(as_owner, record, "speak to it")
    try:
        message = catalog.say(record.id, text, by=who)
    except SessionFinishedError as exc:
        fail(str(exc), 1)
    except BadInputError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    read = read_when(record.state, record.wake_at)
    out().print(Text(f"kept {inert(message.id)}; the build reads it {read}"))


def fork(
    session_id: Annotated[str, typer.Argument(help="Session id (a unique prefix).")],
    iteration: Annotated[
        int, typer.Option("--iteration", help="The committed iteration to start from.", min=0)
    ],
    model: Annotated[
        str | None, typer.Option("--model", help="Model spec for the fork (default: the same).")
    ] = None,
    no_run: Annotated[
        bool, typer.Option("--no-run", help="Only queue it (a worker, or `resume`, runs it).")
    ] = False,
    as_owner: AsOwner = None,
    data_dir: DataDir = None,
) -> None:
    """Start a new session from an iteration of another: its files, conversation,
    documentation and preview command as they were then. The original is untouched; the fork
    runs like `build`."""
    from cofounder.cli.common import EXIT_BUSY
    from cofounder.cli.run_commands import run_session
    from cofounder.engine import BadInputError, EngineError
    from cofounder.engine.fork import fork_session

    engine = open_engine(data_dir)
    record = resolve_or_fail(engine, session_id)
    acting_as(as_owner, record, "fork it")
    try:
        forked = fork_session(engine, record.id, iteration, model=model)
    except BadInputError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except EngineError as exc:  # busy, or the owner's daily cap: nothing was created
        fail(str(exc), EXIT_BUSY)
    print(f"session: {forked.id}", flush=True)
    out().print(f"forked from {record.id} at iteration {iteration}")
    if no_run:
        raise typer.Exit(0)
    raise typer.Exit(run_session(engine, forked.id, resumed=False))


def register(app: typer.Typer) -> None:
    app.command()(say)
    app.command()(fork)
