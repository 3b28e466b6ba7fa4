"""Where one session keeps its files on this machine: named once, so the six places that
need a path (runner, catalog, sandbox, workspace state, model log, preview) cannot drift."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SessionFiles:
    """The paths of one session; `open` makes its folder, nothing else is made.

    `workspace` (the project's files, as the sandbox sees them) is the folder's `workspace`,
    or, with a workspace volume, `<workspaces_dir>/<id>`: the engine's own files then stay
    off the volume, so a build that fills it cannot stop the engine recording it."""

    root: Path
    workspace: Path

    @classmethod
    def open(
        cls, sessions_dir: Path, session_id: str, workspaces_dir: Path | None = None
    ) -> SessionFiles:
        """The session's folder under the data dir's sessions folder, created if missing.

        The id is only ever a generated hex id or one read back from the database; one that
        would leave `sessions_dir` is refused rather than followed."""
        if not session_id or Path(session_id).name != session_id or session_id in (".", ".."):
            raise ValueError(f"not a session id: {session_id!r}")
        root = sessions_dir / session_id
        root.mkdir(parents=True, exist_ok=True)
        workspace = (workspaces_dir / session_id) if workspaces_dir else root / "workspace"
        return cls(root, workspace)

    def remove(self) -> None:
        """Everything of a session that was never recorded (a refused start)."""
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.workspace, ignore_errors=True)

    @property
    def lock(self) -> Path:
        """Held while a process runs the session."""
        return self.root / "lock"

    @property
    def state_file(self) -> Path:
        """What the workspace holds (see `engine.workspace`)."""
        return self.root / "workspace-state.json"

    @property
    def hash_cache(self) -> Path:
        """The snapshot store's per-workspace hash cache."""
        return self.root / "hash-cache.json"

    @property
    def processes(self) -> Path:
        """Logs of the sandbox's background processes."""
        return self.root / "processes"

    @property
    def request_log(self) -> Path:
        """Every model request of the session, one JSON line each."""
        return self.root / "model-requests.jsonl"
