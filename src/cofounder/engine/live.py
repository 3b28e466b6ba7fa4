"""The sandbox a session keeps while this process runs it: background processes and the
preview live across batches, and all of it ends with the run.

A run ends however it ends (finished, paused, sleeping, waiting, cancelled, failed, handed back)
through the workflow's end, which calls `close_live`: every process, the preview forward and the
network helpers are killed, and the preview's URL is cleared from the session (its spec stays,
so the next run brings the app back). If the worker itself dies, bubblewrap's
`--die-with-parent` and the helpers' lifetime pipes end everything with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from cofounder.engine import workspace as workspace_state
from cofounder.engine.runtime import Runtime
from cofounder.events import (
    PreviewFailed,
    PreviewReady,
    PreviewStopped,
    ProcessesStopped,
    StoppedProcess,
)
from cofounder.sandbox import Sandbox, SandboxError
from cofounder.sandbox.preview_types import PreviewHost, PreviewOutcome, PreviewSpec

log = structlog.get_logger(__name__)


class StoredPreview(BaseModel):
    """What the session row keeps of its preview: how to run it, and the founder-side port
    it had, so a restarted preview keeps its URL when the port is still free."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: PreviewSpec
    host_port: int | None = None


@dataclass
class LiveSession:
    sandbox: Sandbox
    preview: PreviewHost | None


@dataclass
class ActiveRun:
    """What this process holds for one session while it runs it."""

    # Downtime between runs is not active time: elapsed time counts from here.
    started_at: datetime | None = None
    # The sandbox (and preview) kept between batches; None until a batch needs it.
    live: LiveSession | None = None


class LiveSessions:
    """The sessions this process is running now, by id: per-run state, kept out of `Runtime`
    (which holds only services shared by every run)."""

    def __init__(self) -> None:
        self._runs: dict[str, ActiveRun] = {}
        # The worker this process runs sessions as (its lease name), whether it is shutting
        # down (runs hand their session back at the next commit), and its lease check.
        self.worker = f"local-{os.getpid()}"
        self.draining = False
        self.check_lease: Callable[[], None] = _always_valid
        self.on_lost_lease: Callable[[str], None] | None = None

    def check_holder(self, holder: str | None) -> None:
        """Inside a commit: the session row must still name this worker as its holder."""
        if self.on_lost_lease is not None and holder != self.worker:
            self.on_lost_lease(f"session held by {holder!r}, not by this worker")

    def begin(self, session_id: str) -> ActiveRun:
        """A run of the session starts now (a run before it in this process is forgotten)."""
        run = ActiveRun(started_at=datetime.now(UTC))
        self._runs[session_id] = run
        return run

    def run(self, session_id: str) -> ActiveRun:
        """The session's run; a step that runs outside `begin` (none does today) gets one
        without a start time, so its elapsed time counts from the last checkpoint."""
        return self._runs.setdefault(session_id, ActiveRun())

    def started_at(self, session_id: str) -> datetime | None:
        run = self._runs.get(session_id)
        return run.started_at if run is not None else None

    def has_sandbox(self, session_id: str) -> bool:
        run = self._runs.get(session_id)
        return run is not None and run.live is not None

    def take_sandbox(self, session_id: str) -> LiveSession | None:
        """The run's sandbox, now no longer kept: the caller closes it."""
        run = self._runs.get(session_id)
        if run is None:
            return None
        live, run.live = run.live, None
        return live

    def end(self, session_id: str) -> None:
        self._runs.pop(session_id, None)

    def count(self) -> int:
        """Runs in flight in this process."""
        return len(self._runs)

    def reset(self) -> None:
        """The worker stopped: back to a process that runs no sessions."""
        self.worker = f"local-{os.getpid()}"
        self.draining = False
        self.check_lease = _always_valid
        self.on_lost_lease = None


def _always_valid() -> None:
    """Outside a worker (a test driving steps by hand) there is no lease to lose."""


# One per process, like the installed `Runtime`: DBOS steps reach it by session id.
live_sessions = LiveSessions()


def make_preview(rt: Runtime, sandbox: Sandbox) -> PreviewHost | None:
    """The preview over a sandbox `rt.open_sandbox` opened (`open_live` gets both at once)."""
    return rt.sandbox_config.preview(sandbox)


def open_live(rt: Runtime, session_id: str) -> LiveSession:
    """This run's sandbox for the session, opened on first use; an app that had a preview
    before (an earlier run, another machine) is started again as it opens."""
    run = live_sessions.run(session_id)
    if run.live is not None:
        return run.live
    record = rt.sessions.get(session_id)
    assert record is not None
    files = rt.files(session_id)
    backend = rt.open_backend(files.workspace, record.network_mode, log_dir=files.processes)
    live = LiveSession(sandbox=backend.sandbox, preview=backend.preview)
    run.live = live
    stored = stored_preview(record.preview_spec_json)
    if stored is not None and live.preview is not None:
        outcome = live.preview.start(stored.spec, host_port=stored.host_port)
        record_preview(rt, session_id, record.iteration, outcome, restarted=True)
    return live


def bring_back_preview(rt: Runtime, session_id: str) -> None:
    """At the start of a run: restart the app now if the workspace is known to be at a
    committed state (otherwise the first batch restores it, and opens the sandbox then)."""
    record = rt.sessions.get(session_id)
    if record is None or record.preview_spec_json is None or live_sessions.has_sandbox(session_id):
        return
    state = workspace_state.read_state(rt, session_id)
    if state is None or state.kind != "at" or not rt.files(session_id).workspace.is_dir():
        return
    try:
        open_live(rt, session_id)
    except (SandboxError, OSError) as exc:
        log.warning("preview_not_restored", session_id=session_id, error=str(exc))
        rt.events.append(
            session_id,
            PreviewFailed(iteration=record.iteration, restarted=True, hint=f"sandbox error: {exc}"),
        )


def stored_preview(raw: str | None) -> StoredPreview | None:
    if raw is None:
        return None
    try:
        return StoredPreview.model_validate_json(raw)
    except ValidationError:
        log.warning("stored_preview_unreadable", raw=raw[:200])
        return None


def host_port_of(url: str | None) -> int | None:
    if not url:
        return None
    parts = urlsplit(url)
    return parts.port if parts.hostname in ("127.0.0.1", "localhost") else None


def record_preview(
    rt: Runtime, session_id: str, iteration: int, outcome: PreviewOutcome, *, restarted: bool
) -> None:
    """Put the preview on the session (spec always; URL while live) and announce it."""
    stored = StoredPreview(spec=outcome.spec, host_port=host_port_of(outcome.url))
    if outcome.ok:
        rt.sessions.set_preview(session_id, spec_json=stored.model_dump_json(), url=outcome.url)
        rt.events.append(
            session_id,
            PreviewReady(
                iteration=iteration,
                url=outcome.url,
                command=outcome.spec.command,
                port=outcome.spec.port,
                http_status=outcome.http_status,
                waited_s=outcome.waited_s,
                restarted=restarted,
            ),
        )
        return
    rt.sessions.set_preview(session_id, spec_json=None, url=None)
    rt.events.append(
        session_id,
        PreviewFailed(
            iteration=iteration,
            command=outcome.spec.command,
            port=outcome.spec.port,
            hint=outcome.hint,
            output_tail=outcome.output_tail[-2000:],
            restarted=restarted,
        ),
    )


def close_live(rt: Runtime, session_id: str, reason: str) -> None:
    """Kill everything the session's run keeps alive; announce what stopped."""
    live = live_sessions.take_sandbox(session_id)
    if live is None:
        return
    stopped_preview: PreviewOutcome | None = None
    try:
        if live.preview is not None:
            stopped_preview = live.preview.stop()
        running = [p for p in live.sandbox.list_background() if p.running]
    finally:
        live.sandbox.close()
    record = rt.sessions.get(session_id)
    iteration = record.iteration if record is not None else 0
    if stopped_preview is not None:
        rt.sessions.set_preview(session_id, spec_json=None, url=None)
        rt.events.append(
            session_id,
            PreviewStopped(iteration=iteration, url=stopped_preview.url, reason=reason),
        )
    if running:
        rt.events.append(
            session_id,
            ProcessesStopped(
                iteration=iteration,
                reason=reason,
                processes=[StoppedProcess(id=p.id, name=p.name) for p in running],
            ),
        )
