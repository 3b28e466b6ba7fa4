"""`cofounder worker` serves the queue; `cofounder workers` lists who does."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Annotated

import typer

from cofounder.cli.common import (
    EXIT_FAILED,
    DataDir,
    JsonFlag,
    fail,
    open_catalog,
    open_engine,
    out,
)


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, max=10_000, help="Sessions at once (default: cores)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="A unique, stable name (default: <host>-<pid>); a restarted worker of the same "
            "name takes its unfinished runs back at once.",
        ),
    ] = None,
    drain_seconds: Annotated[
        int,
        typer.Option(
            "--drain-seconds",
            min=0,
            max=86_400,
            help="On SIGTERM, how long running sessions get to hand themselves back.",
        ),
    ] = 60,
    data_dir: DataDir = None,
) -> None:
    """Serve the build queue until SIGTERM or Ctrl-C, then drain (logs: JSON lines)."""
    import signal
    import threading

    from cofounder.engine import WorkerNameTaken, WorkerOptions
    from cofounder.logs import configure_logging

    os.environ.setdefault("COFOUNDER_LOG_JSON", "1")
    os.environ.setdefault("COFOUNDER_LOG_LEVEL", "INFO")
    configure_logging()
    if name is not None and not _fine_name(name):
        fail(f"--name must be 1-100 letters, digits, '.', '_' or '-'; got {name!r}", 2)
    engine = open_engine(data_dir)
    stop = threading.Event()
    signals = 0

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:  # a second Ctrl-C: leave now; live workers take the runs over
            os._exit(130)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    options = WorkerOptions(
        name=name, concurrency=concurrency, drain_seconds=drain_seconds, sets_concurrency=True
    )
    try:
        engine.serve(options, stop)
    except WorkerNameTaken as exc:
        fail(str(exc), EXIT_FAILED)


def _fine_name(name: str) -> bool:
    return 0 < len(name) <= 100 and all(c.isalnum() or c in "._-" for c in name)


def workers(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """List the workers, their heartbeat age, and the sessions each one runs."""
    from rich.table import Table

    from cofounder.cli.inert import inert

    catalog = open_catalog(data_dir)
    now = datetime.now(UTC)
    live = {w.name for w in catalog.live_workers()}
    running: dict[str, list[str]] = {}
    for record in catalog.sessions():
        if record.worker is not None and record.state == "running":
            running.setdefault(record.worker, []).append(record.id)
    rows = [
        {
            "name": w.name,
            "host": w.host,
            "pid": w.pid,
            "state": w.state if w.name in live or w.state not in ("alive", "draining") else "dead",
            "concurrency": w.concurrency,
            "heartbeat_age_s": round(w.heartbeat_age(now), 1),
            "started_at": w.started_at.isoformat(),
            "sessions": running.get(w.name, []),
        }
        for w in catalog.workers()
    ]
    depth = catalog.queue_depth()
    if as_json:
        print(json.dumps({"workers": rows, "queue": depth.__dict__}))
        return
    if not rows:
        out().print("no workers; start one with `cofounder worker`")
    else:
        table = Table("worker", "state", "heartbeat", "slots", "sessions", box=None)
        for row in rows:
            table.add_row(
                inert(str(row["name"])),
                str(row["state"]),
                f"{row['heartbeat_age_s']} s ago",
                f"{len(row['sessions'])}/{row['concurrency']}",  # type: ignore[arg-type]
                ", ".join(row["sessions"]) or "—",  # type: ignore[arg-type]
            )
        out().print(table)
    out().print(
        f"queue: {depth.queued} queued · {depth.running} running · {depth.sleeping} sleeping · "
        f"{depth.waiting} waiting"
    )


def register(app: typer.Typer) -> None:
    app.command()(worker)
    app.command()(workers)
