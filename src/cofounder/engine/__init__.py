"""The durable build session. `Engine` (in `cofounder.engine.service`) runs sessions on DBOS;
`Catalog` reads and steers them without importing DBOS, so read-only faces start fast.

The names below load on first use (`cofounder.lazy`): catching `BadInputError` does not open
the catalog's imports (settings, SQLAlchemy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofounder.lazy import lazy_exports

if TYPE_CHECKING:
    from cofounder.engine.catalog import Catalog
    from cofounder.engine.errors import (
        BadInputError,
        ConfigurationError,
        EngineError,
        SessionBusyError,
        SessionFinishedError,
    )
    from cofounder.engine.serve import PreviewError, ServedPreview
    from cofounder.engine.service import Engine
    from cofounder.engine.startup import StartPlan, check_start
    from cofounder.engine.worker.options import WorkerNameTaken, WorkerOptions, WorkerRecord

__getattr__ = lazy_exports(
    __name__,
    {
        "Catalog": "catalog",
        "Engine": "service",
        "PreviewError": "serve",
        "ServedPreview": "serve",
        "StartPlan": "startup",
        "check_start": "startup",
        "BadInputError": "errors",
        "ConfigurationError": "errors",
        "EngineError": "errors",
        "SessionBusyError": "errors",
        "SessionFinishedError": "errors",
        "WorkerOptions": "worker.options",
        "WorkerNameTaken": "worker.options",
        "WorkerRecord": "worker.options",
    },
)

__all__ = [
    "BadInputError",
    "Catalog",
    "ConfigurationError",
    "Engine",
    "EngineError",
    "PreviewError",
    "ServedPreview",
    "SessionBusyError",
    "SessionFinishedError",
    "StartPlan",
    "WorkerNameTaken",
    "WorkerOptions",
    "WorkerRecord",
    "check_start",
]
