"""Keeping a session's workspace equal to what its committed conversation says it is.

A small state file next to the workspace says what the workspace holds: exactly a snapshot
(`at`), a batch in progress (`dirty`), or a committed iteration whose snapshot could not be
stored (`unsnapshotted`). Before a batch runs, and before its result is committed, the workspace
is brought to the snapshot the transcript expects — after a crash mid-batch, on a new machine
whose workspace is gone, or after another data dir ran the session. Nothing is assumed: a state
that cannot be reconstructed fails the session with the reason.
"""

from __future__ import annotations

import os
import time
from typing import Literal

import structlog
from pydantic import BaseModel, ConfigDict

from cofounder.engine.errors import EngineError
from cofounder.engine.runtime import Runtime
from cofounder.events import SnapshotFailed, WorkspaceRestored

# Recorded as a checkpoint's snapshot id when the store failed past its retries.
MISSING_SNAPSHOT = ""
SNAPSHOT_RETRY_DELAYS_S = (0.5, 2.0)
log = structlog.get_logger(__name__)


class WorkspaceUnrecoverable(EngineError):
    """The workspace cannot be brought to the state the conversation expects."""


class WorkspaceState(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["at", "dirty", "unsnapshotted"]
    snapshot_id: str | None = None
    iteration: int | None = None


def read_state(rt: Runtime, session_id: str) -> WorkspaceState | None:
    path = rt.files(session_id).state_file
    try:
        return WorkspaceState.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None  # missing (new machine) or torn: treat as unknown, so restore


def write_state(
    rt: Runtime, session_id: str, state: WorkspaceState, *, durable: bool = False
) -> None:
    """Replace the state file atomically. `durable` syncs it to disk first: only "dirty" needs
    that (it must be on disk before a tool writes) and "unsnapshotted"; a lost "at" after an
    OS crash leaves the older "dirty", which only costs a restore."""
    path = rt.files(session_id).state_file
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as handle:
        handle.write(state.model_dump_json())
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)


def ensure_at(
    rt: Runtime, session_id: str, snapshot_id: str, *, iteration: int, for_iteration: int
) -> None:
    """Bring the workspace to `snapshot_id`, the state after committed `iteration`."""
    state = read_state(rt, session_id)
    files = rt.files(session_id)
    workspace = files.workspace
    if snapshot_id == MISSING_SNAPSHOT:
        if (
            state == WorkspaceState(kind="unsnapshotted", iteration=iteration)
            and workspace.is_dir()
        ):
            return  # the workspace on this disk *is* that iteration's state
        raise WorkspaceUnrecoverable(
            f"iteration {iteration} has no stored snapshot (the object store failed) and this "
            "workspace no longer holds it; `cofounder restore` an earlier iteration to recover"
        )
    if state == WorkspaceState(kind="at", snapshot_id=snapshot_id) and workspace.is_dir():
        return
    why = "redo an interrupted batch" if state and state.kind == "dirty" else "workspace missing"
    if state and state.kind in ("at", "unsnapshotted"):
        why = "workspace was at another state"
    log.info("restore_workspace", session_id=session_id, iteration=iteration, why=why)
    rt.snapshots.restore(snapshot_id, files.workspace, files.hash_cache)
    write_state(rt, session_id, WorkspaceState(kind="at", snapshot_id=snapshot_id))
    rt.events.append(
        session_id,
        WorkspaceRestored(iteration=for_iteration, to_iteration=iteration, reason=why),
    )


def ensure_committed(rt: Runtime, session_id: str) -> bool:
    """Bring the workspace to what the last committed iteration left; False when none is."""
    last = rt.transcript.latest_checkpoint(session_id)
    if last is None:
        return False
    ensure_at(
        rt, session_id, last.snapshot_id, iteration=last.iteration, for_iteration=last.iteration
    )
    return True


def mark_dirty(rt: Runtime, session_id: str, iteration: int) -> None:
    write_state(rt, session_id, WorkspaceState(kind="dirty", iteration=iteration), durable=True)


def snapshot(rt: Runtime, session_id: str, iteration: int) -> str:
    """Store the workspace, retrying with backoff; MISSING_SNAPSHOT if the store stays down."""
    files = rt.files(session_id)
    delays = (*SNAPSHOT_RETRY_DELAYS_S, None)
    for attempt, delay in enumerate(delays, start=1):
        try:
            snapshot_id = rt.snapshots.take(files.workspace, files.hash_cache)
        except Exception as exc:  # any store failure: retried, reported, then recorded
            log.warning("snapshot_failed", session_id=session_id, attempt=attempt, error=str(exc))
            rt.events.append(
                session_id,
                SnapshotFailed(
                    iteration=iteration,
                    attempt=attempt,
                    of=len(delays),
                    error=f"{type(exc).__name__}: {exc}",
                ),
            )
            if delay is None:
                # Durable: this file is then the only record of what the workspace holds.
                write_state(
                    rt,
                    session_id,
                    WorkspaceState(kind="unsnapshotted", iteration=iteration),
                    durable=True,
                )
                return MISSING_SNAPSHOT
            time.sleep(delay)
            continue
        write_state(rt, session_id, WorkspaceState(kind="at", snapshot_id=snapshot_id))
        return snapshot_id
    raise AssertionError("unreachable")
