"""The budget seen from the engine: reserve before a model call, settle in the commit, and the
note that shows the model what is left (stored with the turn's results, so the request prefix
the provider caches never changes after the fact)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from cofounder.budget import (
    BudgetDecision,
    BudgetStatus,
    BudgetWindow,
    decide_reservation,
    window_at,
    worst_case_microdollars,
)
from cofounder.config import Settings
from cofounder.engine.runtime import Runtime
from cofounder.llm import Usage
from cofounder.storage import SessionRecord
from cofounder.storage.ledger import (
    CallKey,
    lock_owner,
    record_spend_in,
    status_in,
)
from cofounder.storage.ledger import reservation_in as ledger_reservation_in
from cofounder.storage.ledger import reserve_in as ledger_reserve_in


class BudgetBlocked(Exception):
    """A model call may not start: the session must sleep (`exhausted`) or stop (`too_big`)."""

    def __init__(self, decision: BudgetDecision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


def current_window(settings: Settings, now: datetime | None = None) -> BudgetWindow:
    return window_at(
        now or datetime.now(UTC),
        length_seconds=settings.budget_window_seconds,
        reset_hour=settings.budget_reset_hour,
    )


def owner_status(rt: Runtime, owner: str, tier: str) -> BudgetStatus:
    with rt.db.transaction() as session:
        return owner_status_in(session, rt, owner, tier)


def reserve_in(
    session: Session,
    rt: Runtime,
    record: SessionRecord,
    key: CallKey,
    model_spec: str,
    *,
    input_tokens: int,
    max_tokens: int,
) -> None:
    """Reserve the call's worst case, or raise BudgetBlocked (the caller's transaction then
    rolls back). A reservation already held for `key` (the step is being retried after a
    crash) is reused, never taken twice. A call that cannot cost anything (a free model)
    reserves nothing, so it takes no lock: it is still refused when the window is spent."""
    amount = worst_case_microdollars(
        rt.prices.price_for(model_spec), input_tokens=input_tokens, max_tokens=max_tokens
    )
    settings = rt.settings
    if amount > 0:
        lock_owner(session, record.owner)
        if ledger_reservation_in(session, key) is not None:
            return
    window = current_window(settings)
    allowance = settings.allowance_microdollars(record.owner, record.tier)
    status = status_in(session, record.owner, window, allowance)
    decision = decide_reservation(status, amount)
    if decision.kind != "ok":
        raise BudgetBlocked(decision)
    if amount > 0:
        ledger_reserve_in(session, key, record.owner, window, amount)


def settle_in(
    session: Session,
    rt: Runtime,
    owner: str,
    tier: str,
    key: CallKey,
    *,
    model_spec: str,
    usage: Usage,
    cost: int,
) -> tuple[BudgetStatus, int]:
    """Record the call's actual cost (once); the owner's standing afterwards, and what the call
    had reserved (0 when it held no reservation)."""
    lock_owner(session, owner)
    held = record_spend_in(
        session,
        key,
        owner=owner,
        model_spec=model_spec,
        usage=usage,
        cost=cost,
        window=current_window(rt.settings),
    )
    return owner_status_in(session, rt, owner, tier), held or 0


def owner_status_in(session: Session, rt: Runtime, owner: str, tier: str) -> BudgetStatus:
    allowance = rt.settings.allowance_microdollars(owner, tier)
    return status_in(session, owner, current_window(rt.settings), allowance)


def budget_note(status: BudgetStatus, *, wind_down: bool) -> str:
    """What the model reads after each turn's results, so it can pace itself."""
    note = (
        f"[Budget] {status.percent:.0f}% of this window's allowance is used; "
        f"${status.remaining / 1e6:.2f} of ${status.allowance / 1e6:.2f} left until "
        f"{status.window_end.isoformat(timespec='seconds')}."
    )
    if wind_down:
        note += (
            " The budget is nearly spent: finish the step you are on, leave the app in a "
            "runnable state, narrate plainly where you are and what comes next, and then reply "
            "without calling tools. Work continues when the allowance refreshes."
        )
    return note
