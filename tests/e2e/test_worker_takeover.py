"""Takeover of dead and stale workers (issue 14, item 3), with real `cofounder worker`
processes sharing PostgreSQL (and SQLite, on one machine): detached scripted builds, workers
SIGKILLed or SIGSTOPped at random moments, and every session compared with an uninterrupted
run of the same project.

`COFOUNDER_TAKEOVER_KILLS` sets how many workers the chaos test kills (CI default below; the
issue's figure is 10) and `COFOUNDER_TAKEOVER_SEED` its random moments, so a failure replays.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from takeover_support import (
    Finished,
    References,
    Row,
    Rows,
    RunningWorker,
    WorkerPool,
    detach_builds,
    project,
    repeated_requests,
    requests_by_turn,
    worker_pool,
)

from cf_support import Backend

KILLS = int(os.environ.get("COFOUNDER_TAKEOVER_KILLS", "4"))
SEED = int(os.environ.get("COFOUNDER_TAKEOVER_SEED", "14"))
# A worker beats every dead-after / 6 and trusts its lease for 2/3 of it: at 3 s (the least
# allowed) a worker starved for 2 or 3 s on a loaded CI machine fenced itself or was declared
# dead before the test stopped it.
DEAD_AFTER = 10.0
TAKEOVER_WITHIN = DEAD_AFTER + 2  # the bound, for a stale heartbeat
ON_HOST_WITHIN = 5.0  # a worker whose process is gone on this host: the next sweep (1 s)
SESSIONS = 8
VARIANTS = 2
# Long enough that most kills land while the first builds still run: a kill cycle waits for
# the replacement worker to start, 1 s on an idle machine but several on a loaded one (where
# they all end before the last kill, more are queued).
TURNS = 6 + 3 * KILLS
WORKER_ENV = {"COFOUNDER_WORKER_DEAD_AFTER_SECONDS": str(DEAD_AFTER)}


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> Iterator[References]:
    runs = References(tmp_path_factory.mktemp("references"), TURNS, VARIANTS)
    yield runs
    runs.close()


@pytest.fixture
def pg(tmp_path: Path, postgres_url: str) -> Backend:
    return Backend("postgres", tmp_path / "data", postgres_url)


def _projects(tmp_path: Path, variants: list[int]) -> list[Path]:
    return [
        project(tmp_path / f"project{i}", variant, TURNS, owner=f"founder{i}")
        for i, variant in enumerate(variants)
    ]


def _wait_taken_over(
    rows: Rows, orphans: set[str], dead: str, since: float, limit: float
) -> dict[str, tuple[float, Row]]:
    """Seconds from `since` until each orphan is held by another worker (or has ended), and
    its row then."""
    taken: dict[str, tuple[float, Row]] = {}
    while len(taken) < len(orphans) and time.monotonic() - since < limit:
        now = rows.sessions()
        for session_id in orphans - taken.keys():
            row = now[session_id]
            if row.worker not in (None, dead) or row.state == "finished":
                taken[session_id] = (time.monotonic() - since, row)
        time.sleep(0.05)
    return taken


def _seconds(taken: dict[str, tuple[float, Row]], session_id: str) -> float:
    return taken[session_id][0] if session_id in taken else float("inf")


@pytest.mark.postgres
def test_killed_workers_sessions_are_taken_over_and_end_as_if_uninterrupted(
    pg: Backend, tmp_path: Path, references: References
) -> None:
    """Two workers, eight detached builds; SIGKILL a worker holding sessions at random
    moments (a replacement starts each time): each orphan is taken over within 5 s (its
    worker's process is gone on this host), every session completes, and each equals an
    uninterrupted run: workspace byte for byte, transcript, commits, and no model turn
    requested twice but the one in flight at a kill. A machine slow to start the replacements
    may see every build end before the last kill: then eight more are detached, so every kill
    still lands mid-run."""
    rng = random.Random(SEED)
    variants: list[int] = []
    rows = Rows(pg)
    late: list[str] = []
    kills = 0
    with worker_pool(pg, tmp_path / "logs", concurrency=SESSIONS, **WORKER_ENV) as pool:

        def more_builds() -> list[str]:
            batch = [i % VARIANTS for i in range(SESSIONS)]
            variants.extend(batch)
            return detach_builds(pg, _projects(tmp_path / f"batch{len(variants)}", batch))

        starting = [pool.start(), pool.start()]
        ids = more_builds()
        for worker in starting:
            pool.wait_ready(worker)
        while kills < KILLS:
            time.sleep(rng.uniform(0.2, 1.2))
            assert not pool.exited(), "a worker exited by itself"
            holders = [w for w in pool.live if rows.held_by(w.name)]
            if not holders:
                if all(r.state == "finished" for r in rows.sessions().values()):
                    ids += more_builds()
                continue  # or between runs (queued again, not claimed yet)
            victim = rng.choice(holders)
            # Frozen while its sessions are read, so it is killed holding those: running, it
            # could end them in between.
            victim.proc.send_signal(signal.SIGSTOP)
            orphans = rows.held_by(victim.name)
            if not orphans:
                victim.proc.send_signal(signal.SIGCONT)
                continue
            pool.kill(victim)
            killed_at = time.monotonic()
            kills += 1
            replacement = pool.start()
            taken = _wait_taken_over(rows, orphans, victim.name, killed_at, ON_HOST_WITHIN + 10)
            late += [
                f"kill {kills} ({victim.name}): {s} after {_seconds(taken, s):.1f} s"
                for s in orphans
                if _seconds(taken, s) > ON_HOST_WITHIN
            ]
            pool.wait_ready(replacement)
        final = rows.wait_all_ended(ids, pool, timeout=480)
        assert not pool.exited(), "a worker exited by itself"
        dead_pids = {w.proc.pid for w in pool.ended}
        pool.stop_all()
    rows.close()

    assert late == [], f"seed {SEED}: orphans taken over late: {late}"
    assert {i: final[i].outcome for i in ids} == dict.fromkeys(ids, "completed")
    for session_id, variant in zip(ids, variants, strict=True):
        got = Finished.read(pg, session_id)
        assert references.get(variant).differences(got) == [], f"seed {SEED}: {session_id}"
        repeats = repeated_requests(requests_by_turn(pg.home, session_id), dead_pids)
        assert repeats == [], f"seed {SEED}: {session_id}"


def _start_holding(
    pool: WorkerPool, rows: Rows, backend: Backend, tmp_path: Path, variant: int
) -> tuple[RunningWorker, RunningWorker, str]:
    """Two serving workers, the first of them holding one detached build. Both serve before
    the build is queued: a second worker started after the claim took longer to start, on a
    loaded machine, than the whole build took to run."""
    workers = [pool.start(), pool.start()]
    for worker in workers:
        pool.wait_ready(worker)
    [session_id] = detach_builds(backend, _projects(tmp_path, [variant]))
    deadline = time.monotonic() + 120
    while (holder := rows.sessions()[session_id].worker) is None:
        assert time.monotonic() < deadline, "no worker claimed the build"
        time.sleep(0.05)
    first = next(w for w in workers if w.name == holder)
    second = next(w for w in workers if w is not first)
    return first, second, session_id


def _wait_for_tool(rows: Rows, session_id: str, tool: str, after_iteration: int) -> int:
    """Until a `tool` call of a later iteration has started; its iteration."""
    deadline = time.monotonic() + 120
    while True:
        for _, kind, payload in rows.events(session_id):
            if (
                kind == "tool_started"
                and payload["name"] == tool
                and payload["iteration"] > after_iteration
            ):
                return int(payload["iteration"])
        assert time.monotonic() < deadline, "the build never reached the next tool call"
        time.sleep(0.02)


@pytest.mark.postgres
def test_a_stale_worker_changes_nothing_after_its_takeover(
    pg: Backend, tmp_path: Path, references: References
) -> None:
    """SIGSTOP the worker in a tool call, past dead-after: the other takes the session over
    through the stale heartbeat (not before it is stale, by the age the taker saw: a starved
    worker's heartbeat can go stale before the stop); on SIGCONT the stale one fences itself
    (exit 75) before writing anything, and the session ends as an uninterrupted run."""
    rows = Rows(pg)
    with worker_pool(pg, tmp_path / "logs", concurrency=2, **WORKER_ENV) as pool:
        stale, live, session_id = _start_holding(pool, rows, pg, tmp_path, variant=0)
        now = max((p.get("iteration", 0) for _, _, p in rows.events(session_id)), default=0)
        _wait_for_tool(rows, session_id, "bash", after_iteration=now)
        stale.proc.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        taken = _wait_taken_over(rows, {session_id}, stale.name, stopped_at, TAKEOVER_WITHIN + 10)
        assert session_id in taken, f"not taken over in {TAKEOVER_WITHIN + 10} s"
        assert taken[session_id][1].worker == live.name, taken
        stale.proc.send_signal(signal.SIGCONT)
        assert stale.proc.wait(timeout=60) == 75, pool.tail(stale)
        pool.retire(stale)
        assert "worker_fenced" in pool.tail(stale)
        final = rows.wait_all_ended([session_id], pool, timeout=120)
        assert not pool.exited(), "the live worker exited"
        pool.stop_all()
    rows.close()

    # Not before the heartbeat went stale (the process still exists), and in time after.
    takeovers = live.logged("worker_taken_over")
    assert [(t["dead_worker"], t["process_gone"]) for t in takeovers] == [(stale.name, False)]
    assert takeovers[0]["heartbeat_age_s"] >= DEAD_AFTER, takeovers
    assert _seconds(taken, session_id) <= TAKEOVER_WITHIN, taken
    assert final[session_id].outcome == "completed"
    assert references.get(0).differences(Finished.read(pg, session_id)) == []
    repeats = repeated_requests(requests_by_turn(pg.home, session_id), {stale.proc.pid})
    assert repeats == []


def test_a_killed_worker_on_this_host_is_taken_over_at_once(
    backend: Backend, tmp_path: Path, references: References
) -> None:
    """With a long dead-after, a SIGKILLed worker's session still moves at once: a reaper on
    the same host sees its process gone without waiting for the heartbeat to age (SQLite too:
    several workers on one machine)."""
    rows = Rows(backend)
    long_dead_after = 60.0
    env = {"COFOUNDER_WORKER_DEAD_AFTER_SECONDS": str(long_dead_after)}
    with worker_pool(backend, tmp_path / "logs", concurrency=2, **env) as pool:
        doomed, live, session_id = _start_holding(pool, rows, backend, tmp_path, variant=1)
        pool.kill(doomed)
        killed_at = time.monotonic()
        taken = _wait_taken_over(rows, {session_id}, doomed.name, killed_at, long_dead_after)
        assert session_id in taken, f"not taken over in {long_dead_after} s"
        assert taken[session_id][1].worker in (live.name, None), taken  # None: ended since
        final = rows.wait_all_ended([session_id], pool, timeout=120)
        pool.stop_all()
    rows.close()

    assert _seconds(taken, session_id) <= ON_HOST_WITHIN < long_dead_after, taken
    assert final[session_id].outcome == "completed"
    assert references.get(1).differences(Finished.read(backend, session_id)) == []
    repeats = repeated_requests(requests_by_turn(backend.home, session_id), {doomed.proc.pid})
    assert repeats == []
