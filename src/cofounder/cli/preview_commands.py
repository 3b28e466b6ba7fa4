"""`cofounder preview` and `cofounder screenshots`: see the app a session built.

`preview` serves a session's app again from its workspace (restored from the object store when
this machine does not hold it) in a fresh sandbox, on host loopback, until interrupted. It takes
the session's lock, so a build cannot resume into the same workspace meanwhile. `screenshots`
lists the pictures the agent took and writes them out as PNG files.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from cofounder.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    DataDir,
    SessionId,
    fail,
    open_catalog,
    out,
    resolve_or_fail,
)

if TYPE_CHECKING:
    from cofounder.sandbox import BackgroundInfo


def preview(
    session_id: SessionId,
    data_dir: DataDir = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Host port (default: as before)."),
    ] = None,
) -> None:
    """Serve a session's app on host loopback until interrupted (Ctrl-C)."""
    from rich.markup import escape

    from cofounder.engine import BadInputError, PreviewError, SessionBusyError

    catalog = open_catalog(data_dir)
    record = resolve_or_fail(catalog, session_id)
    try:
        # Handlers first: a Ctrl-C the moment the URL shows must stop it cleanly, not as a
        # KeyboardInterrupt (exit 130) between the line and the wait.
        with catalog.serve_preview(record.id, port) as served, _stop_on_signal() as stop:
            out().print(
                f"Serving [bold]{escape(record.name)}[/] at [bold green]{served.url}[/]"
                f"  ({escape(served.command)}, HTTP {served.http_status}); "
                "Ctrl-C to stop",
                highlight=False,
            )
            _wait_for_interrupt(stop, served.processes)
    except BadInputError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except SessionBusyError:
        where = f" at {record.preview_url}" if record.preview_url else ""
        out().print(f"session {record.id} is running now; its preview is live{escape(where)}")
        raise typer.Exit(EXIT_OK) from None
    except PreviewError as exc:
        fail(str(exc), EXIT_FAILED)
    out().print("preview stopped")


def screenshots(
    session_id: SessionId,
    data_dir: DataDir = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Write the PNG files into this folder."),
    ] = None,
) -> None:
    """List the screenshots the agent took; with --out, save them as PNG files."""
    from rich.table import Table

    from cofounder.engine import ConfigurationError
    from cofounder.events import ScreenshotTaken
    from cofounder.storage.images import ImageStoreError

    catalog = open_catalog(data_dir)
    record = resolve_or_fail(catalog, session_id)
    shots = [
        (event.body.iteration, event.seq, event.body.path, shot)
        for event in catalog.events_after(record.id, 0, limit=100_000)
        if isinstance(event.body, ScreenshotTaken)
        for shot in event.body.screenshots
    ]
    if not shots:
        out().print(f"session {record.id} has no screenshots yet")
        return
    table = Table("iteration", "page", "viewport", "size", "file" if out_dir else "ref")
    for iteration, seq, page, shot in shots:
        # The event's seq keeps two screenshots of one iteration (two pages) apart.
        name = f"{iteration:03d}-{seq}-{shot.viewport}.png"
        if out_dir is not None:
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / name).write_bytes(catalog.image(shot.ref))
            except (ImageStoreError, ConfigurationError, OSError) as exc:
                fail(f"cannot save {name}: {exc}", EXIT_FAILED)
        size = f"{shot.width}x{shot.height}"
        where = str(out_dir / name) if out_dir else shot.ref
        table.add_row(str(iteration), page, shot.viewport, size, where)
    out().print(table)


@contextmanager
def _stop_on_signal() -> Iterator[threading.Event]:
    """An event SIGINT/SIGTERM set while the block runs (the previous handlers after)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_interrupt(
    stop: threading.Event, processes: Callable[[], list[BackgroundInfo]]
) -> None:
    """Block until `stop` is set, or until the app exits by itself."""
    while not stop.wait(0.5):
        if not any(p.running for p in processes()):
            out().print("[yellow]the app exited by itself[/]")
            raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command()(preview)
    app.command()(screenshots)
