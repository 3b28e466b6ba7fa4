"""Views over several sessions: the `sessions` table, where a session stands among the workers
(who runs it, its place in the queue), and what holds a session that cannot run yet (a
founder's answer, a budget window) with the command that moves it on."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from cofounder.cli.inert import inert
from cofounder.cli.render import (
    display_state,
    elapsed_since,
    money,
    question_text,
    sleeping_text,
)
from cofounder.engine import Catalog
from cofounder.storage import SessionRecord

_HEADERS = ("id", "name", "state", "iter", "tools", "phase", "elapsed", "spend")
_SHORT = frozenset({"state", "iter", "tools", "elapsed", "spend"})
_RIGHT = frozenset({"iter", "tools", "spend"})
_ROOM_FOR_TEXT = 24  # columns the name and phase need before short columns stay unwrapped


def sessions_table(
    records: Sequence[SessionRecord], is_active: Callable[[str], bool], width: int
) -> Table:
    """Ids whole at any width: that column never wraps or shrinks. Names and phases fold;
    short columns (state, counts, time, spend) stay on one line while `width` leaves the
    name room, and fold too on a narrower terminal rather than push the name out."""
    rows = [
        (
            r.id,
            inert(r.name),
            display_state(r, is_active(r.id)),
            str(r.iteration),
            str(r.tool_calls),
            inert(r.phase or ""),
            elapsed_since(r.created_at, r.finished_at),
            money(r.spend_microdollars),
        )
        for r in records
    ]
    widest = [max([len(h), *(cell_len(row[n]) for row in rows)]) for n, h in enumerate(_HEADERS)]
    gaps = 2 * (len(_HEADERS) - 1)
    fixed = sum(w for h, w in zip(_HEADERS, widest, strict=True) if h in _SHORT or h == "id")
    roomy = fixed + gaps + _ROOM_FOR_TEXT <= width
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header, column_width in zip(_HEADERS, widest, strict=True):
        table.add_column(
            header,
            justify="right" if header in _RIGHT else "left",
            no_wrap=header == "id" or (roomy and header in _SHORT),
            min_width=column_width if header == "id" else None,
            overflow="ignore" if header == "id" else "fold",
        )
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


@dataclass(frozen=True)
class Placement:
    """Where a session stands among the workers, as `status` shows it."""

    worker: str | None  # the live worker running it now
    queue_position: int | None  # its place in line while queued (1 = next)
    workers_alive: bool  # whether any worker serves the queue

    @classmethod
    def of(
        cls, record: SessionRecord, live: Collection[str], positions: Mapping[str, int]
    ) -> Placement:
        """From the live workers' names and the queue's order (`Catalog.queue_positions`)."""
        worker = record.worker if record.worker in live else None
        return cls(worker, positions.get(record.id), bool(live))

    def describe(self, state: str, session_id: str) -> str:
        """The state with who runs it or where it waits: `running on worker w1`, `queued
        (position 3)`, and what to do when no worker serves the queue."""
        if state == "running":
            if self.worker is not None:
                return f"running on worker {self.worker}"
            return "running (admitted; waiting for a worker to pick it up)"
        if state != "queued":
            return state
        line = (
            "queued" if self.queue_position is None else f"queued (position {self.queue_position})"
        )
        if self.workers_alive:
            return line
        return (
            f"{line}; no worker is running: start one with `cofounder worker`, or run it here "
            f"with `cofounder resume {session_id}`"
        )


def held_by(catalog: Catalog, record: SessionRecord, now: datetime | None = None) -> Text | None:
    """Why `record` cannot run yet and what the founder does about it; None when it can.

    Mirrors the dispatcher's wake rule (`storage.queue.SessionQueue.wake_due`): a sleep is over at
    `wake_at` or on a wake request; a wait is over once every blocking question is answered or
    any deadline passed (the next run then applies the defaults).
    """
    now = now or datetime.now(UTC)
    if record.state == "sleeping":
        if record.wake_requested or record.wake_at is None or now >= record.wake_at:
            return None
        return sleeping_text(
            record.id, record.wake_at, record.outcome_reason or "", record.owner, now
        )
    if record.state != "waiting":
        return None
    blocking = catalog.blocking_escalations(record.id)
    if not blocking or any(e.deadline <= now for e in blocking):
        return None
    held = Text()
    for n, escalation in enumerate(blocking):
        if n:
            held.append("\n")
        held.append_text(
            question_text(
                escalation.id,
                escalation.problem,
                escalation.options,
                escalation.default_option,
                owner=record.owner,
            )
        )
    return held


def session_heading(record: SessionRecord, state: str) -> Text:
    """`<id> “<name>” (<state>)`: the name inert, the id whole."""
    return Text(f"{record.id} “{inert(record.name)}” ({state})", style="bold")
