"""The owner's budget, and what only an admin sees or does: workers, top-ups."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from cofounder.api.auth import Caller, admin
from cofounder.api.routes.common import CallerDep, EngineDep
from cofounder.project.spec import OWNER_PATTERN
from cofounder.storage.session_pages import SessionPages

router = APIRouter(tags=["budget and admin"])
AdminDep = Annotated[Caller, Depends(admin)]
# An owner as a project file names one: a top-up for any other string could never be spent.
OwnerInPath = Annotated[str, Path(pattern=OWNER_PATTERN)]


class BudgetView(BaseModel):
    model_config = ConfigDict(frozen=True)

    owner: str
    tier: str
    allowance_microdollars: int
    spent_microdollars: int
    reserved_microdollars: int
    remaining_microdollars: int
    percent: float
    window_end: datetime


class TopUp(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    amount_usd: Decimal = Field(gt=0, le=100_000, max_digits=12, decimal_places=6)


class WorkerView(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    host: str
    state: str
    concurrency: int
    heartbeat_age_s: float
    sessions: list[str]


def _budget(engine: EngineDep, owner: str, tier: str | None = None) -> BudgetView:
    """`tier`: the owner's (of their newest session), when the caller knows it already."""
    tier = tier or SessionPages(engine.rt.db).tier_of(owner) or "bootstrapper"
    status = engine.owner_status(owner, tier)
    return BudgetView(
        owner=owner,
        tier=tier,
        allowance_microdollars=status.allowance,
        spent_microdollars=status.spent,
        reserved_microdollars=status.reserved,
        remaining_microdollars=status.remaining,
        percent=status.percent,
        window_end=status.window_end,
    )


@router.get("/budget", response_model=BudgetView)
def budget(engine: EngineDep, who: CallerDep) -> BudgetView:
    """The caller's allowance, spend and reservations in the current window."""
    return _budget(engine, who.owner)


class OwnerView(BudgetView):
    sessions: int
    active: int  # not finished


class QueueView(BaseModel):
    model_config = ConfigDict(frozen=True)

    queued: int
    running: int
    sleeping: int
    waiting: int


@router.get("/owners", response_model=list[OwnerView])
def owners(engine: EngineDep, _admin: AdminDep) -> list[OwnerView]:
    """Every owner with a session: their budget in this window and how many builds they have."""
    return [
        OwnerView(
            **_budget(engine, o.owner, o.tier).model_dump(),
            sessions=o.sessions,
            active=o.unfinished,
        )
        for o in SessionPages(engine.rt.db).owners()
    ]


@router.get("/queue", response_model=QueueView)
def queue(engine: EngineDep, _admin: AdminDep) -> QueueView:
    """Sessions by where they stand in the queue, across every worker."""
    depth = engine.queue_depth()
    return QueueView(
        queued=depth.queued, running=depth.running, sleeping=depth.sleeping, waiting=depth.waiting
    )


@router.post("/owners/{owner}/top-ups", response_model=BudgetView)
def top_up(engine: EngineDep, _admin: AdminDep, owner: OwnerInPath, body: TopUp) -> BudgetView:
    """Add to an owner's allowance for this window; their sleeping builds wake."""
    engine.top_up(owner, int(body.amount_usd * 1_000_000))
    return _budget(engine, owner)


@router.get("/workers", response_model=list[WorkerView])
def workers(engine: EngineDep, _admin: AdminDep) -> list[WorkerView]:
    now = datetime.now(UTC)
    live = {w.name for w in engine.live_workers()}
    running = SessionPages(engine.rt.db).running_by_worker()
    return [
        WorkerView(
            name=w.name,
            host=w.host,
            state=w.state if w.name in live or w.state not in ("alive", "draining") else "dead",
            concurrency=w.concurrency,
            heartbeat_age_s=round(w.heartbeat_age(now), 1),
            sessions=running.get(w.name, []),
        )
        for w in engine.workers()
    ]
