"""What both backends' background-process tables share: the limit and the lookup by id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

P = TypeVar("P")
MAX_BACKGROUND = 8


def lookup(procs: Mapping[str, P], process_id: str) -> P:
    """One process by id; KeyError naming the known ids, so the model can pick a real one."""
    found = procs.get(process_id)
    if found is None:
        known = sorted(procs, key=lambda k: (len(k), k))
        raise KeyError(
            f"no background process {process_id!r} (known: {', '.join(known) or 'none'})"
        )
    return found
