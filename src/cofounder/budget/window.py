"""Allowance windows: a UTC day by default, starting at a configurable reset hour.

Windows are aligned to the Unix epoch plus the reset offset, so every process computes the same
window for the same instant without storing anything; short windows (seconds) make tests and
demos of sleep/wake practical.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BudgetWindow(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def window_at(moment: datetime, *, length_seconds: int, reset_hour: int = 0) -> BudgetWindow:
    """The window holding `moment` (timezone-aware)."""
    if moment.tzinfo is None:
        raise ValueError("window_at needs a timezone-aware moment")
    if length_seconds < 1:
        raise ValueError("a budget window lasts at least one second")
    offset = (reset_hour * 3600) % length_seconds
    elapsed = (moment - _EPOCH).total_seconds() - offset
    index = int(elapsed // length_seconds)
    start = _EPOCH + timedelta(seconds=index * length_seconds + offset)
    return BudgetWindow(start=start, end=start + timedelta(seconds=length_seconds))
