"""`cofounder escalations [SESSION_ID]` and `cofounder resolve ESCALATION_ID --choice KEY`.

Only the session's owner may answer: the CLI takes who you are from `--as` or
`$COFOUNDER_USER` (the API will take it from authentication). An answer reaches a waiting
build within a second; a build nobody runs continues with `cofounder resume`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from cofounder.storage.escalations import Escalation


def escalations(
    session_id: Annotated[
        str | None, typer.Argument(help="Session id (prefix); every session if omitted.")
    ] = None,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    open_only: Annotated[bool, typer.Option("--open", help="Only unanswered ones.")] = False,
) -> None:
    """List the questions the builds asked their founders, and their answers."""
    catalog = open_catalog(data_dir)
    sid = resolve_or_fail(catalog, session_id).id if session_id is not None else None
    found = catalog.escalations(sid, open_only=open_only)
    if as_json:
        for escalation in found:
            print(escalation.model_dump_json())
        return
    if not found:
        out().print("no escalations")
    for escalation in found:
        record = catalog.session(escalation.session_id)
        _show(escalation, record.owner if record is not None else None)


def resolve(
    escalation_id: Annotated[str, typer.Argument(help="Escalation id (a unique prefix).")],
    choice: Annotated[str, typer.Option("--choice", help="The option key you choose.")],
    guidance: Annotated[
        str | None, typer.Option("--guidance", help="Free text for the agent.")
    ] = None,
    as_owner: AsOwner = None,
    data_dir: DataDir = None,
) -> None:
    """Answer a question: the build continues with your choice (and guidance)."""
    from rich.text import Text

    from cofounder.cli.inert import inert
    from cofounder.engine import BadInputError
    from cofounder.storage.escalations import EscalationError

    catalog = open_catalog(data_dir)
    if not (as_owner or os.environ.get("COFOUNDER_USER")):
        fail("say who you are with --as OWNER (or set COFOUNDER_USER)", EXIT_BAD_INPUT)
    try:
        escalation = catalog.resolve_escalation(escalation_id)
    except BadInputError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    record = catalog.session(escalation.session_id)
    assert record is not None
    who = acting_as(as_owner, record, "answer")
    try:
        done = catalog.answer_escalation(escalation.id, choice=choice, guidance=guidance, by=who)
    except EscalationError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    running = catalog.is_active(record.id)
    then = (
        "the build picks it up now"
        if running
        else f"`cofounder resume {record.id}` continues the build with it"
    )
    out().print(Text(f"answered {inert(escalation.id)} with {inert(repr(done.choice))}; {then}"))


def _show(e: Escalation, owner: str | None) -> None:
    from rich.text import Text

    from cofounder.cli.inert import inert
    from cofounder.cli.render import resolve_command

    status = e.state if e.state != "open" else f"open until {e.deadline:%Y-%m-%d %H:%M} UTC"
    out().print(Text.assemble((inert(e.id), "bold"), f"  ({status})"))
    lines = [inert(e.problem, multiline=True)]
    lines += [f"tried: {inert(line)}" for line in e.tried]
    lines.append(f"recommendation: {inert(e.recommendation, multiline=True)}")
    for option in e.options:
        default = " (default)" if option.key == e.default_option else ""
        lines.append(f"--choice {inert(option.key)}: {inert(option.label)}{default}")
    if e.choice:
        guidance = f" — {inert(e.guidance)}" if e.guidance else ""
        lines.append(f"answer: {inert(e.choice)}{guidance}")
    if e.state == "open":
        lines.append(f"answer with: {inert(resolve_command(e.id, e.default_option, owner))}")
    if e.can_continue:
        lines.append("(the build keeps working on other tasks meanwhile)")
    for line in lines:
        out().print(Text(f"  {line}"))


def register(app: typer.Typer) -> None:
    app.command()(escalations)
    app.command()(resolve)
