"""`cofounder say SESSION_ID TEXT`: tell a build something while it works.

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


def register(app: typer.Typer) -> None:
    app.command()(say)
