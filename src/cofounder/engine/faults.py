"""Deterministic crash points for crash-safety tests.

`COFOUNDER_CRASH_AT=act.after_tool#3` makes the process SIGKILL itself the third time it reaches
`act.after_tool`. The kill is real (no cleanup, no flushing), it just lands at a chosen place, so a
test can prove recovery from every interesting point without racing a timer.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter[str] = Counter()


def crash_point(name: str) -> None:
    wanted = os.environ.get("COFOUNDER_CRASH_AT")
    if not wanted:
        return
    point, _, nth = wanted.partition("#")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
