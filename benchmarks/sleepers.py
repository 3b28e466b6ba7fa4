"""Ten thousand sleepers on one worker: what they cost while asleep, and how late they wake.

A session asleep for its budget is only rows (issue 14, item 2): the worker's dispatcher polls
the (state, wake_at) index and queues each one when it is due. This benchmark runs a real worker
in this process (DBOS, heartbeat, dispatcher), runs as many scripted sessions as it runs at once
to warm it up, then seeds `--n` sleeping sessions straight into the database (copies of a
warm-up session as created: its row, kickoff message and first checkpoint, in state `sleeping`,
each with an owner of its own) with `wake_at` spread evenly over `--wake-from`..`--wake-to`
seconds. A woken session joins the fair queue and runs its one scripted turn when a slot frees,
as a real one would. Figures:

- `rss_mb_before`, `threads_before`: the warm, idle worker before seeding; `rss_mb_asleep`,
  `threads_asleep`: every sleeper seeded, none due yet; `rss_mb_after`, `threads_after`: once
  every sleeper has woken (with --complete: once every one has also completed), pool threads
  given time to go idle; `rss_mb_max`, `threads_max`: the most seen meanwhile (every 0.2 s).
  Goal: RSS growth <= 100 MB, no thread growth.
- `wake_late_ms_p50/p99/max`: each session's `waking` event time minus its `wake_at` (what the
  poller controls; the run then waits for a slot). Goal: p99 <= 1,000 ms.
- `woken`, `completed`, `wall_s` (from seeding to `after`), `seed_s`.

Equal `--wake-from` and `--wake-to` make a burst: a budget window that ends for every sleeper at
the same moment (windows start at the same UTC hour for every owner).

    .venv/bin/python benchmarks/sleepers.py [--n 10000] [--wake-from 10] [--wake-to 60]
        [--concurrency N] [--complete] [--database-url postgresql://...] [--json]

SQLite by default. With --json it prints one JSON object of its named figures instead of the
table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import ColumnElement, func, insert, select

from cofounder.config import Settings
from cofounder.engine import Engine
from cofounder.engine import workspace as workspace_state
from cofounder.engine.worker.names import default_concurrency
from cofounder.engine.worker.options import WorkerOptions
from cofounder.engine.worker.process import Worker
from cofounder.logs import configure_logging
from cofounder.project import load_project
from cofounder.storage.tables import CheckpointRow, EventRow, MessageRow, SessionRow

SAMPLE_SECONDS = 0.2
# A blocking thread of the object store's runtime lingers this long after its last use.
SETTLE_SECONDS = 12.0
SEED_BATCH = 1000
PREFIX = "sleeper"  # the seeded sessions' ids


def write_project(root: Path) -> Path:
    (root / "trajectory.yaml").write_text(yaml.safe_dump({"turns": [{"text": "Done."}]}))
    project = {
        "name": "Sleeper",
        "goal": "Wake on time.",
        "idea_brief": {"what": "benchmark"},
        "understanding_qna": [],
        "tier": "cto_scale",
        "model": "scripted:trajectory.yaml",
    }
    (root / "cofounder.yaml").write_text(yaml.safe_dump(project))
    return root / "cofounder.yaml"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


@dataclass
class Sampler:
    """The most RSS and threads seen, sampled from a thread started before any baseline."""

    rss_mb_max: float = 0.0
    threads_max: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, name="bench-sampler", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.rss_mb_max = max(self.rss_mb_max, rss_mb())
            self.threads_max = max(self.threads_max, threads())


def settled_threads(at_most: int | None = None) -> int:
    """The thread count once pool threads that just served something have gone idle and left
    (waits up to SETTLE_SECONDS, less when it is down to `at_most` already)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    count = threads()
    while time.monotonic() < deadline and (at_most is None or count > at_most):
        time.sleep(0.5)
        count = threads()
    return count


@dataclass(frozen=True)
class Template:
    """A session's rows as `create_session` wrote them: what each sleeper is a copy of."""

    session: dict[str, Any]
    kickoff: dict[str, Any]
    checkpoint: dict[str, Any]


def template_of(engine: Engine, session_id: str) -> Template:
    with engine.rt.db.transaction() as session:
        rows = [
            session.get(SessionRow, session_id),
            session.get(MessageRow, (session_id, 0)),
            session.get(CheckpointRow, (session_id, 0)),
        ]
        values = []
        for row in rows:
            assert row is not None
            values.append({c.key: getattr(row, c.key) for c in row.__table__.columns})
        return Template(*values)


def seed(engine: Engine, template: Template, n: int, wake_from: float, wake_to: float) -> int:
    """`n` copies of the template asleep until times spread evenly from `wake_from` to
    `wake_to` seconds from now, each with an owner of its own; rows written."""
    now = datetime.now(UTC)
    step = (wake_to - wake_from) / max(1, n - 1)
    at_first = workspace_state.WorkspaceState(
        kind="at", snapshot_id=template.checkpoint["snapshot_id"]
    )
    sessions_dir = engine.rt.settings.sessions_dir()
    for start in range(0, n, SEED_BATCH):
        batch = [(i, f"{PREFIX}{i:06d}") for i in range(start, min(n, start + SEED_BATCH))]
        with engine.rt.db.transaction() as session:
            session.execute(
                insert(SessionRow),
                [
                    template.session
                    | {
                        "id": session_id,
                        "owner": f"owner{i}",
                        "workspace": str(sessions_dir / session_id / "workspace"),
                        "state": "sleeping",
                        "queued_at": None,
                        "wake_at": now + timedelta(seconds=wake_from + i * step),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, session_id in batch
                ],
            )
            for table, row in (
                (MessageRow, template.kickoff),
                (CheckpointRow, template.checkpoint),
            ):
                session.execute(insert(table), [row | {"session_id": i} for _, i in batch])
        for _, session_id in batch:  # its workspace here, at its first snapshot
            engine.rt.files(session_id).workspace.mkdir()
            workspace_state.write_state(engine.rt, session_id, at_first)
    return n


def finished(engine: Engine, prefix: str) -> int:
    return count(engine, SessionRow.id.startswith(prefix), SessionRow.state == "finished")


def woken(engine: Engine, prefix: str) -> int:
    return count(engine, EventRow.session_id.startswith(prefix), EventRow.type == "waking")


def count(engine: Engine, *where: ColumnElement[bool]) -> int:
    with engine.rt.db.transaction() as session:
        return int(session.execute(select(func.count()).where(*where)).scalar_one())


def wake_lateness_ms(engine: Engine, prefix: str) -> list[float]:
    """Per woken session: its `waking` event's time minus the `wake_at` it carries."""
    with engine.rt.db.transaction() as session:
        rows = session.execute(
            select(EventRow.ts, EventRow.payload_json).where(
                EventRow.session_id.startswith(prefix), EventRow.type == "waking"
            )
        ).all()
    late = []
    for ts, payload in rows:
        due = datetime.fromisoformat(json.loads(payload)["wake_at"])
        late.append((ts - due).total_seconds() * 1000)
    return late


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="sleeping sessions to seed")
    parser.add_argument("--wake-from", type=float, default=10.0, help="first wake_at, s from now")
    parser.add_argument("--wake-to", type=float, default=60.0, help="last wake_at, s from now")
    parser.add_argument("--concurrency", type=int, default=None, help="runs at once (cores)")
    parser.add_argument(
        "--complete",
        action="store_true",
        help="measure `after` once every sleeper has also run to its end (default: once every "
        "one has woken; the rest of the runs are left to the queue)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after, s")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    configure_logging()  # as the CLI does: COFOUNDER_LOG_LEVEL, WARNING by default
    sampler = Sampler()
    sampler.start()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project_file = write_project(root)
        settings = Settings(
            home=root / "data", database_url=args.database_url, queue_cap=args.n + 100
        )
        engine = Engine(settings)
        # The warm-up: as many sessions as run at once, queued before the worker starts.
        # Their runs fill the worker's pools and caches; their rows as created are the
        # template of every sleeper.
        concurrency = args.concurrency or default_concurrency()
        spec = load_project(project_file)
        warm = [
            engine.create_session(spec.model_copy(update={"owner": f"warm{i}"}), project_file)
            for i in range(concurrency)
        ]
        template = template_of(engine, warm[0].id)
        worker = Worker(engine.rt, WorkerOptions(name="bench", concurrency=concurrency))
        worker.start()
        try:
            while sum(finished(engine, w.id) for w in warm) < len(warm):
                time.sleep(0.1)
            threads_before, rss_before = settled_threads(), rss_mb()
            seeded_at = time.monotonic()
            seed(engine, template, args.n, args.wake_from, args.wake_to)
            seed_s = time.monotonic() - seeded_at
            rss_asleep, threads_asleep = rss_mb(), threads()
            deadline = time.monotonic() + args.timeout
            waiting_for = finished if args.complete else woken
            while waiting_for(engine, PREFIX) < args.n and time.monotonic() < deadline:
                time.sleep(1.0)
            wall_s = time.monotonic() - seeded_at
            done = finished(engine, PREFIX)
            threads_after, rss_after = settled_threads(at_most=threads_before), rss_mb()
            late = wake_lateness_ms(engine, PREFIX)
        finally:
            worker.stop(drain_seconds=0)
            sampler.stop()
            engine.close()
    figures = {
        "backend": "PostgreSQL" if args.database_url else "SQLite",
        "n": args.n,
        "woken": len(late),
        "completed": done,
        "seed_s": round(seed_s, 2),
        "wall_s": round(wall_s, 1),
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_asleep": round(rss_asleep, 1),
        "rss_mb_after": round(rss_after, 1),
        "rss_mb_max": round(sampler.rss_mb_max, 1),
        "threads_before": threads_before,
        "threads_asleep": threads_asleep,
        "threads_after": threads_after,
        "threads_max": sampler.threads_max,
        "wake_late_ms_p50": round(statistics.median(late), 1) if late else None,
        "wake_late_ms_p99": round(percentile(late, 0.99), 1) if late else None,
        "wake_late_ms_max": round(max(late), 1) if late else None,
    }
    if args.json:
        print(json.dumps(figures))
        return
    for name, value in figures.items():
        print(f"{name:<20}{value!s:>14}")


if __name__ == "__main__":
    main()
