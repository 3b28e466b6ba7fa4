"""The read-only views of sessions: `sessions`, `status`, `events`, `workspace`, `docs`; and
`init`, which writes a project file to start from.

Each opens the catalog (no DBOS) and imports its renderers when it runs, so a command pays only
for what it shows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cofounder.cli.common import (
    EXIT_BAD_INPUT,
    MAX_SEQ,
    DataDir,
    JsonFlag,
    SessionId,
    err,
    fail,
    open_catalog,
    out,
    resolve_or_fail,
)

if TYPE_CHECKING:
    from cofounder.cli.session_views import Placement


def sessions(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """List sessions."""
    from cofounder.cli.render import status_payload

    catalog = open_catalog(data_dir)
    records = catalog.sessions()
    if as_json:
        from cofounder.cli.session_views import Placement

        live = {w.name for w in catalog.live_workers()}
        positions = catalog.queue_positions()
        for record in records:
            workspace = str(catalog.workspace_path(record.id))
            payload = status_payload(record, catalog.is_active(record.id), workspace)
            print(json.dumps(payload | placed(Placement.of(record, live, positions))))
        return
    if not records:
        out().print("no sessions yet — start one with `cofounder build PROJECT_FILE`")
        return
    from cofounder.cli.session_views import sessions_table

    out().print(sessions_table(records, catalog.is_active, out().width))


def status(session_id: SessionId, data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """Show where a session stands."""
    from cofounder.cli.render import status_payload
    from cofounder.sandbox import parse_network_mode, probe_active_limits

    catalog = open_catalog(data_dir)
    record = resolve_or_fail(catalog, session_id)
    payload = status_payload(
        record,
        catalog.is_active(record.id),
        str(catalog.workspace_path(record.id)),
        budget=catalog.owner_status(record.owner, record.tier),
    )
    payload["sandbox_limits"] = probe_active_limits(
        catalog.sandbox_limits, parse_network_mode(record.network_mode)
    ).summary
    from cofounder.cli.session_views import Placement

    live = {w.name for w in catalog.live_workers()}
    placement = Placement.of(record, live, catalog.queue_positions())
    payload |= placed(placement)
    if as_json:
        print(json.dumps(payload))
        return
    from rich.text import Text

    from cofounder.cli.inert import inert
    from cofounder.cli.session_views import held_by

    for key, value in payload.items():
        if key == "state":
            value = placement.describe(str(value), record.id)
        shown = "—" if value is None else inert(str(value))
        out().print(Text.assemble((f"{key:>18}", "bold"), "  ", shown))
    held = held_by(catalog, record)
    if held is not None:
        out().print(held, soft_wrap=True)


def placed(placement: Placement) -> dict[str, object]:
    """The JSON fields saying who runs a session and where it waits in the queue."""
    return {"worker": placement.worker, "queue_position": placement.queue_position}


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
    from cofounder.cli.render import event_line

    catalog = open_catalog(data_dir)
    record = resolve_or_fail(catalog, session_id)
    seq = after
    if follow and record.state in ("running", "queued") and not catalog.is_active(record.id):
        stands = "is interrupted" if record.state == "running" else "waits for a worker"
        err().print(
            f"{record.id} {stands}; waiting for `cofounder worker` or "
            f"`cofounder resume {record.id}`..."
        )
    while True:
        for event in catalog.events_after(record.id, seq):
            seq = event.seq
            if as_json:
                print(event.to_json_line(), flush=True)
            else:
                line = event_line(event, owner=record.owner)
                if line is not None:
                    out().print(f"[dim]{event.seq:>5}[/] ", line, soft_wrap=True)
        if not follow:
            return
        current = catalog.session(record.id)
        if (
            current is not None
            and current.state == "finished"
            and not catalog.events_after(record.id, seq, limit=1)
        ):
            return
        time.sleep(0.2)


def workspace(session_id: SessionId, data_dir: DataDir = None) -> None:
    """Print the host path of a session's workspace."""
    catalog = open_catalog(data_dir)
    record = resolve_or_fail(catalog, session_id)
    print(catalog.workspace_path(record.id))


def docs(session_id: SessionId, data_dir: DataDir = None) -> None:
    """Print the documentation the agent wrote for the founder."""
    from rich.text import Text

    from cofounder.cli.inert import inert

    catalog = open_catalog(data_dir)
    record = resolve_or_fail(catalog, session_id)
    sections = catalog.documents(record.id)
    if not sections:
        out().print("no documentation yet")
    for section in ("overview", "features", "getting_started", "faq"):
        if section in sections:
            out().rule(section.replace("_", " "))
            out().print(Text(inert(sections[section], multiline=True)))


def init(directory: Annotated[Path, typer.Argument(help="Where to write cofounder.yaml.")]) -> None:
    """Write a commented example project file to start from."""
    from cofounder.project import ProjectBaseError, write_example

    try:
        path = write_example(directory)
    except ProjectBaseError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    out().print(f"wrote {path} — edit it, then run `cofounder build {path}`")


def register(app: typer.Typer) -> None:
    for command in (sessions, status, events, workspace, docs, init):
        app.command()(command)
