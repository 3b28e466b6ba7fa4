"""Serving a session's app again outside a run (`cofounder preview`): the catalog's verb, so a
face needs neither the lock, the workspace state nor the sandbox backend to do it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cofounder.engine import workspace as workspace_state
from cofounder.engine.errors import (
    BadInputError,
    ConfigurationError,
    EngineError,
    SessionBusyError,
)
from cofounder.engine.holders import holder
from cofounder.engine.live import make_preview, stored_preview
from cofounder.engine.locks import SessionLock
from cofounder.engine.runtime import Runtime
from cofounder.sandbox import BackgroundInfo, SandboxError
from cofounder.storage import SnapshotError


class PreviewError(EngineError):
    """The app could not be served: the workspace, the sandbox or the app itself failed."""


@dataclass(frozen=True)
class ServedPreview:
    url: str | None
    command: str
    http_status: int | None
    # The sandbox's background processes now: the app has exited when none runs.
    processes: Callable[[], list[BackgroundInfo]]


@contextmanager
def serve_preview(rt: Runtime, session_id: str, port: int | None) -> Iterator[ServedPreview]:
    """Hold the session's lock and serve its app from its last committed state until the
    block ends. Raises BadInputError (never previewed, nothing committed), SessionBusyError
    (a run holds it: its preview is live there) or PreviewError."""
    record = rt.sessions.get(session_id)
    if record is None:
        raise BadInputError(f"no session with id {session_id!r}")
    stored = stored_preview(record.preview_spec_json)
    if stored is None:
        raise BadInputError(
            f"session {session_id} never started a preview (the agent starts one with its "
            "`preview` tool)"
        )
    held = holder(rt, record)
    if held is not None:
        raise SessionBusyError(
            f"session {session_id} is running on worker {held.name}: its preview is live there"
        )
    files = rt.files(session_id)
    lock = SessionLock(files.lock)  # two `cofounder preview`s of one session: one at a time
    lock.acquire()
    try:
        _ensure_workspace(rt, session_id)
        try:
            sandbox = rt.open_sandbox(files.workspace, record.network_mode, log_dir=files.processes)
        except SandboxError as exc:
            raise PreviewError(f"cannot open a sandbox: {exc}") from exc
        try:
            host = make_preview(rt, sandbox)
            if host is None:
                raise PreviewError("this sandbox backend has no preview")
            outcome = host.start(stored.spec, host_port=port or stored.host_port)
            if not outcome.ok:
                tail = outcome.output_tail.rstrip() or "(no output)"
                raise PreviewError(f"the app did not start: {outcome.hint}\n{tail}")
            yield ServedPreview(
                url=outcome.url,
                command=stored.spec.command,
                http_status=outcome.http_status,
                processes=sandbox.list_background,
            )
        finally:
            sandbox.close()
    finally:
        lock.release()


def _ensure_workspace(rt: Runtime, session_id: str) -> None:
    """The workspace as the last committed iteration left it (restored if need be)."""
    try:
        committed = workspace_state.ensure_committed(rt, session_id)
    except (SnapshotError, ConfigurationError, workspace_state.WorkspaceUnrecoverable) as exc:
        raise PreviewError(f"cannot restore the workspace: {exc}") from exc
    if not committed:
        raise BadInputError(f"session {session_id} has no recorded iteration yet")
