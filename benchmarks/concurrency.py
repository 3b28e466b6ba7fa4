"""Many sessions on a few workers: does an iteration slow down when sessions run side by side?

`--sessions` builds are queued with `cofounder build --detach` (no worker running yet), then
`--workers` `cofounder worker` processes serve them; the time of one iteration in each session
(consecutive `iteration_committed` event timestamps, as in iteration_overhead.py) is compared
with the same project's iterations when one session runs alone on one worker. Scripted model
without delays and the no-op `narrate` tool, so what is measured is the harness (DBOS steps,
the commit, the snapshot, the queue) under contention, not a model. Every session has its own
owner and project, so the per-owner and per-project limits let each worker run `--concurrency`
sessions at once. The workers share this machine, so each gets its share of the cores by
default (cores / workers): as many sessions at once as cores, as on machines of their own where
each worker's default is one session per core. The baseline runs `--single-runs` sessions
alone before the concurrent batch and as many after it.

    .venv/bin/python benchmarks/concurrency.py [--sessions 50] [--workers 2] [--iterations 20]
        [--concurrency N] [--single-runs 2] [--database-url postgresql://...] [--json]

SQLite by default (one machine); PostgreSQL with --database-url or $COFOUNDER_BENCH_POSTGRES_URL
(each phase gets a fresh database there, dropped afterwards). `wall_s` runs from the first
worker's being ready to the last session's end. With --json it prints one JSON object of its
named figures instead of the table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from cofounder.config import Settings
from cofounder.engine import Catalog

REPO = Path(__file__).resolve().parent.parent
COFOUNDER = [sys.executable, "-m", "cofounder"]  # how the CLI and the workers are started
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Phase:
    """What one batch of sessions did: their outcomes, how long, each iteration's time."""

    outcomes: dict[str, str]
    wall_s: float
    iteration_ms: list[float]
    worker_cpu_s: float  # the workers' CPU time while serving them (boot left out)


def write_projects(root: Path, count: int, iterations: int) -> list[Path]:
    """One trajectory of `iterations` narrate calls; one project file per session, each with
    its own owner and name (no owner's or project's running limit holds any back)."""
    turns: list[dict[str, object]] = [
        {"tool_calls": [{"name": "narrate", "input": {"message": f"step {i}"}}]}
        for i in range(iterations)
    ]
    turns.append({"text": "done"})
    (root / "trajectory.yaml").write_text(yaml.safe_dump({"turns": turns}))
    paths = []
    for n in range(count):
        path = root / f"project-{n:03d}.yaml"
        project = {
            "name": f"Bench {n:03d}",
            "goal": "Measure the harness under load.",
            "idea_brief": {"what": "benchmark"},
            "understanding_qna": [],
            "owner": f"bench-{n:03d}",
            "model": "scripted:trajectory.yaml",
        }
        path.write_text(yaml.safe_dump(project))
        paths.append(path)
    return paths


@contextmanager
def fresh_database(admin_url: str | None) -> Iterator[str | None]:
    """A new PostgreSQL database for one phase (None: SQLite in the phase's data dir)."""
    if admin_url is None:
        yield None
        return
    import psycopg

    name = f"cf_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli_env(home: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFOUNDER_")}
    env["COFOUNDER_HOME"] = str(home)
    if database_url:
        env["COFOUNDER_DATABASE_URL"] = database_url
    return env


def detach(project: Path, env: dict[str, str]) -> str:
    """Queue one build the way a founder does; its session id."""
    done = subprocess.run(
        [*COFOUNDER, "build", str(project), "--detach"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    first = done.stdout.splitlines()[0] if done.stdout else ""
    if done.returncode != 0 or not first.startswith("session: "):
        raise RuntimeError(f"build --detach failed ({done.returncode}): {done.stderr[-2000:]}")
    return first.removeprefix("session: ").strip()


@dataclass
class WorkerProcess:
    """One `cofounder worker` child, its log, and its CPU time once it had booted."""

    popen: subprocess.Popen[bytes]
    log: Path
    booted_cpu_s: float = 0.0
    ready_at: float = 0.0  # time.monotonic() when it first served the queue

    def cpu_s(self) -> float:
        """User + system CPU seconds so far (its reaped children's included), from /proc."""
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def ready(self) -> bool:
        """Whether it has launched DBOS and serves the queue (its `worker_started` log line)."""
        return b'"worker_started"' in self.log.read_bytes()


def start_workers(
    env: dict[str, str], count: int, concurrency: int | None, logs: Path
) -> list[WorkerProcess]:
    """Start the workers and return once each serves the queue, its boot CPU noted (imports,
    migrations and DBOS's launch are not what an iteration costs)."""
    workers = []
    for n in range(count):
        argv = [*COFOUNDER, "worker", "--name", f"bench-w{n}"]
        if concurrency is not None:
            argv += ["--concurrency", str(concurrency)]
        log = logs / f"worker-{n}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(argv, env=env, stdout=out, stderr=out, cwd=REPO)
        workers.append(WorkerProcess(popen, log))
    deadline = time.monotonic() + 120
    booting = list(workers)
    while booting:
        for worker in list(booting):
            if worker.ready():
                worker.booted_cpu_s, worker.ready_at = worker.cpu_s(), time.monotonic()
                booting.remove(worker)
            elif worker.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: {worker.log.read_text()[-2000:]}")
        time.sleep(0.02)
    return workers


def stop_workers(workers: list[WorkerProcess]) -> float:
    """SIGTERM drains each (nothing runs any more; a worker that hangs is killed); the CPU
    seconds they spent serving, boot left out."""
    spent = 0.0
    for worker in workers:
        if worker.popen.poll() is None:
            spent += worker.cpu_s() - worker.booted_cpu_s
            worker.popen.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.popen.kill()
            worker.popen.wait()
    return spent


def wait_finished(
    catalog: Catalog, ids: list[str], workers: list[WorkerProcess], timeout: float
) -> dict[str, str]:
    """Each session's outcome once all have ended; "unfinished" for those that did not in
    time (or when every worker exited early)."""
    deadline = time.monotonic() + timeout
    outcomes: dict[str, str] = {}
    wanted = set(ids)
    while True:
        for record in catalog.sessions():  # one query a round: the poll must not load the DB
            if record.id in wanted and record.state == "finished":
                outcomes[record.id] = str(record.outcome)
        if len(outcomes) == len(ids):
            return outcomes
        gone = all(w.popen.poll() is not None for w in workers)
        if gone or time.monotonic() > deadline:
            return {i: outcomes.get(i, "unfinished") for i in ids}
        time.sleep(POLL_SECONDS)


def iteration_ms(catalog: Catalog, session_id: str) -> list[float]:
    """Milliseconds between consecutive `iteration_committed` events of one session."""
    stamps = [
        e.ts
        for e in catalog.events_after(session_id, 0, limit=1_000_000)
        if e.type == "iteration_committed"
    ]
    return [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(stamps)]


def run_phase(
    root: Path,
    projects: list[Path],
    *,
    workers: int,
    concurrency: int | None,
    admin_url: str | None,
    one_at_a_time: bool,
    timeout: float,
) -> Phase:
    """Serve `projects` with `workers` worker processes. `one_at_a_time` (the baseline): each
    session is queued once the one before it ended; otherwise all are queued before the
    workers start, and `wall_s` runs from their being ready to the last session's end."""
    root.mkdir()
    with fresh_database(admin_url) as database_url:
        env = cli_env(root / "data", database_url)
        catalog = Catalog(Settings(home=root / "data", database_url=database_url))
        procs: list[WorkerProcess] = []
        cpu_s = 0.0
        try:
            ids: list[str] = []
            outcomes: dict[str, str] = {}
            if one_at_a_time:
                procs = start_workers(env, workers, concurrency, root)
                started = time.monotonic()
                for project in projects:
                    ids.append(detach(project, env))
                    outcomes |= wait_finished(catalog, ids[-1:], procs, timeout)
            else:
                with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
                    ids = list(pool.map(lambda p: detach(p, env), projects))
                procs = start_workers(env, workers, concurrency, root)
                started = min(w.ready_at for w in procs)
                outcomes = wait_finished(catalog, ids, procs, timeout)
            wall = time.monotonic() - started
            timings = [ms for session_id in ids for ms in iteration_ms(catalog, session_id)]
        finally:
            cpu_s = stop_workers(procs)
            catalog.close()
    return Phase(outcomes=outcomes, wall_s=wall, iteration_ms=timings, worker_cpu_s=cpu_s)


def cpu_per_iteration(phase: Phase) -> float:
    """CPU milliseconds the workers spent per committed iteration (each session's first one
    is not in `iteration_ms` but is work too)."""
    iterations = len(phase.iteration_ms) + len(phase.outcomes)
    return phase.worker_cpu_s * 1000 / max(1, iterations)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=20, help="per session")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="sessions per worker (cores / workers)"
    )
    parser.add_argument(
        "--single-runs", type=int, default=2, help="sessions run alone, before and after"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per phase")
    parser.add_argument(
        "--database-url", default=os.environ.get("COFOUNDER_BENCH_POSTGRES_URL") or None
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    concurrency = args.concurrency or max(1, len(os.sched_getaffinity(0)) // args.workers)
    with tempfile.TemporaryDirectory(prefix="cf-bench-") as tmp:
        root = Path(tmp)
        projects = write_projects(root, max(args.sessions, args.single_runs), args.iterations)

        def phase(name: str, count: int, workers: int, *, one_at_a_time: bool) -> Phase:
            return run_phase(
                root / name,
                projects[:count],
                workers=workers,
                concurrency=concurrency,
                admin_url=args.database_url,
                one_at_a_time=one_at_a_time,
                timeout=args.timeout,
            )

        # The baseline before and after, pooled: a shared machine's load drifts meanwhile.
        before = phase("single-before", args.single_runs, 1, one_at_a_time=True)
        many = phase("concurrent", args.sessions, args.workers, one_at_a_time=False)
        after = phase("single-after", args.single_runs, 1, one_at_a_time=True)
    single = Phase(
        outcomes=before.outcomes | after.outcomes,
        wall_s=before.wall_s + after.wall_s,
        iteration_ms=before.iteration_ms + after.iteration_ms,
        worker_cpu_s=before.worker_cpu_s + after.worker_cpu_s,
    )
    completed = sum(1 for o in many.outcomes.values() if o == "completed")
    s, c = statistics.median(single.iteration_ms), statistics.median(many.iteration_ms)
    figures = {
        "completed": completed,
        "failed": len(many.outcomes) - completed,
        "wall_s": round(many.wall_s, 2),
        "iteration_ms_single_p50": round(s, 2),
        "iteration_ms_concurrent_p50": round(c, 2),
        "ratio": round(c / s, 2),
        "iteration_ms_single_p90": round(p90(single.iteration_ms), 2),
        "iteration_ms_concurrent_p90": round(p90(many.iteration_ms), 2),
        # The workers' CPU per committed iteration: equal in both phases means the slowdown is
        # the cores being shared; higher side by side means contention costs work (retries).
        "cpu_ms_per_iteration_single": round(cpu_per_iteration(single), 2),
        "cpu_ms_per_iteration_concurrent": round(cpu_per_iteration(many), 2),
        "backend": "PostgreSQL" if args.database_url else "SQLite",
        "sessions": args.sessions,
        "workers": args.workers,
        "concurrency": concurrency,
        "iterations": args.iterations,
        "cores": len(os.sched_getaffinity(0)),
        "loadavg_1m": round(os.getloadavg()[0], 2),  # shared machines: read the figures with it
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"{args.sessions} sessions x {args.iterations} iterations on {args.workers} workers "
        f"({figures['concurrency']} sessions each at once), {figures['backend']}"
    )
    print(f"{'':<28}{'median ms/iter':>16}{'p90 ms/iter':>14}")
    print(f"{'one session alone':<28}{s:>16.2f}{figures['iteration_ms_single_p90']:>14.2f}")
    print(f"{'sessions side by side':<28}{c:>16.2f}{figures['iteration_ms_concurrent_p90']:>14.2f}")
    print(f"ratio {c / s:.2f}; {completed}/{args.sessions} completed in {many.wall_s:.1f} s")
    print(
        f"worker CPU per iteration: {figures['cpu_ms_per_iteration_single']} ms alone, "
        f"{figures['cpu_ms_per_iteration_concurrent']} ms side by side "
        f"({figures['cores']} cores, load {figures['loadavg_1m']})"
    )


if __name__ == "__main__":
    main()
