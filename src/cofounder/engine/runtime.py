"""Process-wide services that DBOS steps reach through (steps only take JSON-able arguments)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cofounder.config import Settings
from cofounder.engine.errors import ConfigurationError
from cofounder.engine.session_files import SessionFiles
from cofounder.llm import Model, load_model
from cofounder.llm.pricing import PriceBook
from cofounder.sandbox import (
    Backend,
    E2BSandboxConfig,
    LocalSandboxConfig,
    Sandbox,
    SandboxConfig,
    SandboxLimits,
    parse_network_mode,
)
from cofounder.storage import Database, Documents, EventLog, SessionStore, Transcript
from cofounder.storage.db import dbos_system_engine
from cofounder.storage.escalations import Escalations
from cofounder.storage.projects import IdempotentRequests, Projects
from cofounder.storage.queue import SessionQueue
from cofounder.storage.tokens import Tokens
from cofounder.storage.workers import Workers

if TYPE_CHECKING:  # the stores load on first use: read-only commands never touch them
    from obstore.store import ObjectStore

    from cofounder.storage import SnapshotStore
    from cofounder.storage.images import ImageStore


@dataclass
class Runtime:
    settings: Settings
    db: Database
    sessions: SessionStore
    transcript: Transcript
    events: EventLog
    documents: Documents
    escalations: Escalations
    queue: SessionQueue
    workers: Workers
    tokens: Tokens
    projects: Projects
    idempotent: IdempotentRequests
    sandbox_limits: SandboxLimits = field(default_factory=SandboxLimits)
    # Per session: a model writes that session's request log.
    _models: dict[tuple[str, str], Model] = field(default_factory=dict)
    _snapshots: SnapshotStore | None = None
    _images: ImageStore | None = None
    _store: ObjectStore | None = None
    _volume_dir: Path | None = None  # where the workspaces live once a volume is in use

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Raises ConfigurationError naming the setting when the data dir or DB is unusable."""
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"data dir {settings.data_dir} is unusable: {exc}") from exc
        volume_dir = _mount_workspace_volume(settings)
        try:
            db = Database(settings.app_database_url)
            db.migrate()
        except (SQLAlchemyError, OSError) as exc:
            raise ConfigurationError(
                f"cannot open the database {_without_password(settings.app_database_url)}: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        return cls(
            settings=settings,
            db=db,
            sessions=SessionStore(db),
            transcript=Transcript(db),
            events=EventLog(db),
            documents=Documents(db),
            escalations=Escalations(db),
            queue=SessionQueue(db),
            workers=Workers(db),
            tokens=Tokens(db),
            projects=Projects(db),
            idempotent=IdempotentRequests(db),
            _volume_dir=volume_dir,
        )

    @property
    def snapshots(self) -> SnapshotStore:
        """Opened on first use, so read-only commands work even when the store is unwell.

        Raises ConfigurationError naming the setting when the object store cannot be opened."""
        if self._snapshots is None:
            from cofounder.storage import SnapshotStore

            # Rebuildable folders (COFOUNDER_SNAPSHOT_EXCLUDES) are never uploaded or restored.
            self._snapshots = SnapshotStore(
                self._object_store(), frozenset(self.settings.snapshot_excludes)
            )
        return self._snapshots

    @property
    def images(self) -> ImageStore:
        """Screenshots, by content, in the same object store as the snapshots."""
        if self._images is None:
            from cofounder.storage.images import ImageStore

            self._images = ImageStore(self._object_store(), self.snapshots.location)
        return self._images

    def _object_store(self) -> ObjectStore:
        if self._store is None:
            from cofounder.storage import ObjectStoreConfigError, open_object_store

            try:
                self._store = open_object_store(
                    self.settings.object_store,
                    default_dir=self.settings.objects_dir(),
                    s3_endpoint=self.settings.s3_endpoint,
                )
            except ObjectStoreConfigError as exc:
                raise ConfigurationError(f"COFOUNDER_OBJECT_STORE: {exc}") from exc
        return self._store

    @cached_property
    def dbos_engine(self) -> Engine | None:
        """DBOS's SQLite system database engine (WAL), shared by this process's runs; None on
        PostgreSQL, where DBOS makes its own."""
        return dbos_system_engine(self.settings.dbos_database_url)

    @cached_property
    def prices(self) -> PriceBook:
        return self.settings.price_book()

    @property
    def sandbox_config(self) -> SandboxConfig:
        """The backend COFOUNDER_SANDBOX names, with its settings: the one place that asks."""
        s = self.settings
        if s.sandbox == "e2b":
            return E2BSandboxConfig(
                template=s.e2b_template,
                max_ttl_s=s.e2b_max_ttl_seconds,
                chromium=s.chromium,
                ready_timeout_s=s.preview_ready_seconds,
            )
        return LocalSandboxConfig(
            limits=self.sandbox_limits, chromium=s.chromium, ready_timeout_s=s.preview_ready_seconds
        )

    def open_backend(
        self, workspace: Path, network: str, *, log_dir: Path | None = None
    ) -> Backend:
        """The configured backend's sandbox and preview; the caller closes the sandbox.
        Background processes log to `log_dir` (a private temporary folder when None)."""
        return self.sandbox_config.open(workspace, parse_network_mode(network), log_dir)

    def open_sandbox(
        self, workspace: Path, network: str, *, log_dir: Path | None = None
    ) -> Sandbox:
        """The configured backend's sandbox alone; the caller closes it."""
        return self.sandbox_config.open_sandbox(workspace, parse_network_mode(network), log_dir)

    def files(self, session_id: str) -> SessionFiles:
        """Under this process's data dir, so a session can move to another machine."""
        return SessionFiles.open(self.settings.sessions_dir(), session_id, self.volume_dir())

    def volume_dir(self) -> Path | None:
        """Where the workspaces live when the data dir has a workspace volume, else None.

        The data dir decides (its image, or a filesystem mounted at `workspaces/`), not this
        process's settings: a process started without the setting, or before another made the
        image, must not work on a second copy of a workspace. Hence it is looked for again
        until a volume is in use."""
        if self._volume_dir is None and _data_dir_has_volume(self.settings):
            self._volume_dir = _mount_workspace_volume(self.settings)
        return self._volume_dir

    def workspaces_root(self) -> Path:
        """The folder whose filesystem holds the workspaces: the volume, or `sessions/`."""
        return self.volume_dir() or self.settings.sessions_dir()

    def model(self, session_id: str, spec: str) -> Model:
        key = (session_id, spec)
        if key not in self._models:
            self._models[key] = load_model(
                spec,
                base_dir=Path.cwd(),
                request_log=self.files(session_id).request_log,
                prompt_caching=self.settings.prompt_caching,
            )
        return self._models[key]

    def forget_models(self, session_id: str) -> None:
        """The run ended: a worker serving many sessions keeps no client for this one."""
        for key in [k for k in self._models if k[0] == session_id]:
            del self._models[key]

    def close(self) -> None:
        self.db.close()
        dbos = self.__dict__.get("dbos_engine")
        if dbos is not None:
            dbos.dispose()


def _mount_workspace_volume(settings: Settings) -> Path | None:
    """The workspaces' folder, mounted, when the settings ask for a volume or the data dir
    has one (a no-op once mounted); None when neither. Before anything reads or writes a
    session's folder."""
    image = settings.workspace_volume_image()
    asked = settings.workspace_volume_size
    if asked is None and not _data_dir_has_volume(settings):
        return None  # before the import: read-only commands start without it
    from cofounder.storage.volume import VolumeError, WorkspaceVolume

    where = image if os.path.lexists(image) else settings.workspaces_dir()
    named = "COFOUNDER_WORKSPACE_VOLUME_SIZE" if asked is not None else f"workspace volume {where}"
    try:
        # Unset, the data dir's volume is used as it was made.
        size = int(asked) if asked is not None else None
        WorkspaceVolume(image, settings.workspaces_dir(), size).ensure()
    except (VolumeError, OSError) as exc:
        raise ConfigurationError(f"{named}: {exc}") from exc
    return settings.workspaces_dir()


def _data_dir_has_volume(settings: Settings) -> bool:
    """Something at the image's path (a symlink too: the volume code refuses it by name rather
    than this falling back to the host), or a filesystem mounted at `workspaces/` (the
    operator's own, or the volume whose image was deleted while mounted). Two stats: this
    runs at every session folder's lookup while no volume is in use."""
    return os.path.lexists(settings.workspace_volume_image()) or os.path.ismount(
        settings.workspaces_dir()
    )


def _without_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the engine runtime is not installed (launch the engine first)")
    return _current
