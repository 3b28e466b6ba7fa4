"""Reservation decisions: can this call start now, must the session sleep, or can it never run?

Pure functions of the owner's numbers for the window, so the storage layer can call them while
it holds the owner's lock and the rules stay testable without a database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from cofounder.llm.pricing import TOKENS_PER_PRICE_UNIT, Price


def worst_case_microdollars(price: Price, *, input_tokens: int, max_tokens: int) -> int:
    """The most a call can cost: every input token at the dearer of the input and cache-write
    price (a cache write is billed above plain input), and a reply of `max_tokens`."""
    per_input = max(price.input, price.cache_write)
    numerator = input_tokens * per_input + max_tokens * price.output
    return -(-numerator // TOKENS_PER_PRICE_UNIT)


class BudgetStatus(BaseModel):
    """One owner's standing in one window, in microdollars."""

    model_config = ConfigDict(frozen=True)

    owner: str
    window_start: datetime
    window_end: datetime
    allowance: int  # the base allowance plus this window's top-ups
    spent: int
    reserved: int

    @property
    def committed(self) -> int:
        return self.spent + self.reserved

    @property
    def remaining(self) -> int:
        return max(0, self.allowance - self.committed)

    @property
    def percent(self) -> float:
        return 100.0 if self.allowance <= 0 else round(100 * self.committed / self.allowance, 1)


class BudgetDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["ok", "exhausted", "too_big"]
    amount: int
    status: BudgetStatus
    reason: str = ""


def decide_reservation(status: BudgetStatus, amount: int) -> BudgetDecision:
    """`ok` (reserve `amount`), `exhausted` (sleep until the window ends) or `too_big` (no
    window can ever pay for it: a hard stop, not an endless sleep)."""
    if amount > status.allowance:
        return BudgetDecision(
            kind="too_big",
            amount=amount,
            status=status,
            reason=(
                f"one model call may cost up to ${amount / 1e6:.4f}, more than the whole "
                f"allowance of ${status.allowance / 1e6:.4f} per window"
            ),
        )
    if status.committed + amount > status.allowance:
        return BudgetDecision(
            kind="exhausted",
            amount=amount,
            status=status,
            reason=(
                f"the allowance of ${status.allowance / 1e6:.4f} is spent "
                f"(${status.spent / 1e6:.4f} spent, ${status.reserved / 1e6:.4f} reserved); "
                f"the next call may cost up to ${amount / 1e6:.4f}"
            ),
        )
    return BudgetDecision(kind="ok", amount=amount, status=status)


def wind_down_due(status: BudgetStatus, last_call: int, wind_down_at: float) -> bool:
    """Past the threshold, or too little left for another call like the last one: the model
    is told to reach a safe stopping point, so it always gets a turn before the sleep."""
    return status.spent >= wind_down_at * status.allowance or status.remaining < last_call
