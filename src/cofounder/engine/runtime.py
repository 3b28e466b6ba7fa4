"""Process-wide services that DBOS steps reach through (steps only take JSON-able arguments)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cofounder.config import Settings
from cofounder.llm import Model, load_model
from cofounder.sandbox import SandboxLimits
from cofounder.storage import (
    Database,
    Documents,
    EventLog,
    LocalSnapshotStore,
    SessionStore,
    Transcript,
)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    sessions: SessionStore
    transcript: Transcript
    events: EventLog
    documents: Documents
    snapshots: LocalSnapshotStore
    sandbox_limits: SandboxLimits = field(default_factory=SandboxLimits)
    _models: dict[str, Model] = field(default_factory=dict)

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.app_database_url)
        db.migrate()
        return cls(
            settings=settings,
            db=db,
            sessions=SessionStore(db),
            transcript=Transcript(db),
            events=EventLog(db),
            documents=Documents(db),
            snapshots=LocalSnapshotStore(settings.data_dir / "snapshots"),
        )

    def session_dir(self, session_id: str) -> Path:
        path = self.settings.sessions_dir() / session_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def model(self, session_id: str, spec: str) -> Model:
        if spec not in self._models:
            self._models[spec] = load_model(
                spec,
                base_dir=Path.cwd(),
                request_log=self.session_dir(session_id) / "model-requests.jsonl",
            )
        return self._models[spec]

    def close(self) -> None:
        self.db.close()


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the engine runtime is not installed (launch the engine first)")
    return _current
