"""Budget pacing: allowance windows, worst-case reservations, and the sleep decision (pure)."""

from cofounder.budget.policy import (
    BudgetDecision,
    BudgetStatus,
    decide_reservation,
    wind_down_due,
    worst_case_microdollars,
)
from cofounder.budget.window import BudgetWindow, window_at

__all__ = [
    "BudgetDecision",
    "BudgetStatus",
    "BudgetWindow",
    "decide_reservation",
    "wind_down_due",
    "window_at",
    "worst_case_microdollars",
]
