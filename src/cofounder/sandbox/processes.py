"""What both backends' background-process tables share: the limit, the table itself and the
lookup by id."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Generic, Protocol, TypeVar

from cofounder.sandbox.protocol import BackgroundInfo

P = TypeVar("P")
MAX_BACKGROUND = 8


class _Described(Protocol):
    def info(self) -> BackgroundInfo: ...


D = TypeVar("D", bound=_Described)


class ProcessRegistry(Generic[D]):
    """Processes by id under one lock; each backend's table adds how they start and stop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[str, D] = {}

    def get(self, process_id: str) -> D:
        with self._lock:
            return lookup(self._procs, process_id)

    def infos(self) -> list[BackgroundInfo]:
        with self._lock:
            procs = list(self._procs.values())
        return [p.info() for p in procs]


def lookup(procs: Mapping[str, P], process_id: str) -> P:
    """One process by id; KeyError naming the known ids, so the model can pick a real one."""
    found = procs.get(process_id)
    if found is None:
        known = sorted(procs, key=lambda k: (len(k), k))
        raise KeyError(
            f"no background process {process_id!r} (known: {', '.join(known) or 'none'})"
        )
    return found
