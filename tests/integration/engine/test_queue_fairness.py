"""The queue is fair, on SQLite and PostgreSQL: higher tiers start first (FIFO within a tier),
each owner and each project runs no more than its tier allows (bundled or configured), a build
refused a slot waits and starts when one frees, two dispatchers at once never give out more
than a limit, and the daily cap and the global queue cap refuse a new build with when to retry.
Sessions are made in rows; admission runs through the real dispatcher and `SessionQueue`."""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from queue_support import (
    Build,
    dispatcher,
    finish,
    open_runtime,
    queue_builds,
    running_counts,
    states,
)
from sqlalchemy import update

from cf_support import Backend
from cofounder.config import TIER_PRIORITY, TierLimits
from cofounder.engine.admission import TYPICAL_RUN_SECONDS, check_room
from cofounder.engine.errors import DailyCapError, QueueFullError
from cofounder.engine.runtime import Runtime
from cofounder.engine.worker.dispatch import Dispatcher
from cofounder.storage.queue import Slots
from cofounder.storage.tables import SessionRow


@pytest.fixture
def rt(backend: Backend) -> Iterator[Runtime]:
    opened = open_runtime(backend)
    yield opened
    opened.close()


def test_higher_tiers_start_first_and_each_tier_in_arrival_order(rt: Runtime) -> None:
    # Interleaved arrivals, one owner per build so no running limit is in the way.
    tiers = ["bootstrapper", "partner", "cto_scale", "partner", "bootstrapper", "cto_scale"] * 3
    ids = queue_builds(rt, [Build(f"o{i}", tier) for i, tier in enumerate(tiers)])
    with dispatcher(rt) as (dispatch, enqueued):
        dispatch.tick()
    by_tier = {t: [i for i, tt in zip(ids, tiers, strict=True) if tt == t] for t in set(tiers)}
    assert enqueued.ids == by_tier["cto_scale"] + by_tier["partner"] + by_tier["bootstrapper"]
    assert {tier for _, _, tier in enqueued.runs[:6]} == {"cto_scale"}
    assert all(state == "running" for state in states(rt, ids).values())


def test_one_slot_at_a_time_goes_to_the_oldest_of_the_highest_tier(rt: Runtime) -> None:
    """With one build admitted per round, the order of starts is the same as above, and a
    build that arrives later in a higher tier still passes the ones already waiting."""
    first = queue_builds(rt, [Build("a", "bootstrapper"), Build("b", "partner")])
    late = queue_builds(rt, [Build("c", "cto_scale")])
    order = [rt.queue.admit(_slots(rt), TIER_PRIORITY, limit=1)[0].session_id for _ in range(3)]
    assert order == [late[0], first[1], first[0]]
    assert rt.queue.admit(_slots(rt), TIER_PRIORITY, limit=1) == []


def _slots(rt: Runtime) -> Callable[[str], Slots]:
    def slots(tier: str) -> Slots:
        limits = rt.settings.limits_for(tier)
        return Slots(per_owner=limits.per_owner, per_project=limits.per_project)

    return slots


BUNDLED = [
    # (tier, builds as (owner, project) pairs, running once admitted)
    ("bootstrapper", [("bo", f"p{i}") for i in range(4)], 2),  # per owner 2
    ("bootstrapper", [("bo", "same")] * 3, 2),  # per project 2
    ("partner", [("pa", f"p{i}") for i in range(5)], 3),  # per owner 3
    ("partner", [("pa", "same")] * 4, 3),  # per project 3
    ("cto_scale", [("ct", f"p{i % 4}") for i in range(12)], 10),  # per owner 10
    ("cto_scale", [("ct", "same")] * 7, 5),  # per project 5
]


@pytest.mark.parametrize(
    ("tier", "builds", "running"),
    BUNDLED,
    ids=[
        f"{t}-{len(b)}-{'one project' if len(set(b)) == 1 else 'projects'}" for t, b, _ in BUNDLED
    ],
)
def test_bundled_running_limits_by_tier(
    rt: Runtime, tier: str, builds: list[tuple[str, str]], running: int
) -> None:
    ids = queue_builds(rt, [Build(owner, tier, project) for owner, project in builds])
    with dispatcher(rt) as (dispatch, enqueued):
        for _ in range(3):  # more rounds give out nothing more
            dispatch.tick()
    assert len(enqueued.runs) == running
    # The oldest ones got the slots; the rest wait, still queued.
    assert enqueued.ids == ids[:running]
    assert [s for s in states(rt, ids).values()].count("queued") == len(ids) - running


def test_the_same_project_name_under_two_owners_is_two_projects(rt: Runtime) -> None:
    ids = queue_builds(rt, [Build(o, "bootstrapper", "Shop") for o in ("x", "y") for _ in range(3)])
    with dispatcher(rt) as (dispatch, enqueued):
        dispatch.tick()
    assert sorted(enqueued.ids) == sorted([ids[0], ids[1], ids[3], ids[4]])


def test_configured_limits_replace_the_bundled_ones(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "COFOUNDER_TIER_LIMITS",
        '{"bootstrapper": {"per_owner": 1, "per_project": 1, "per_day": 3},'
        ' "cto_scale": {"per_owner": 4, "per_project": 2}}',
    )
    rt = open_runtime(backend)
    try:
        assert rt.settings.limits_for("bootstrapper") == TierLimits(
            per_owner=1, per_project=1, per_day=3
        )
        boot = queue_builds(rt, [Build("bo", "bootstrapper", f"p{i}") for i in range(3)])
        cto = queue_builds(rt, [Build("ct", "cto_scale", f"p{i % 3}") for i in range(6)])
        partner = queue_builds(rt, [Build("pa", "partner", f"p{i}") for i in range(4)])
        with dispatcher(rt) as (dispatch, enqueued):
            dispatch.tick()
        assert set(enqueued.ids) == {boot[0], cto[0], cto[1], cto[2], cto[3], *partner[:3]}
        owners, projects = running_counts(rt)
        assert owners == {"bo": 1, "ct": 4, "pa": 3}  # partner keeps its bundled 3
        assert max(n for (owner, _), n in projects.items() if owner == "ct") == 2
    finally:
        rt.close()


def test_a_build_refused_a_slot_waits_and_starts_when_one_frees(rt: Runtime) -> None:
    ids = queue_builds(rt, [Build("bo", "bootstrapper", f"p{i}") for i in range(3)])
    other = queue_builds(rt, [Build("later", "bootstrapper")])  # behind it, another owner
    with dispatcher(rt) as (dispatch, enqueued):
        dispatch.tick()
        # The owner's third build waits; a later build of another owner passes it.
        assert enqueued.ids == [ids[0], ids[1], other[0]]
        for _ in range(5):
            dispatch.tick()
        assert states(rt, [ids[2]]) == {ids[2]: "queued"}
        finish(rt, ids[1])
        dispatch.tick()
        assert enqueued.ids[-1] == ids[2]
        assert enqueued.runs[-1][1] == 1  # its first run: nothing was lost or skipped
    assert states(rt, ids) == {ids[0]: "running", ids[1]: "finished", ids[2]: "running"}


def test_two_dispatchers_at_once_never_exceed_a_limit(backend: Backend) -> None:
    """Two runtimes (two engines, their own connections) admit in a loop while a third
    finishes running sessions at random; a checker reads the running counts throughout.
    Every build starts exactly once and no count ever passes its tier's limit."""
    owners = {"bo": "bootstrapper", "pa": "partner", "ct": "cto_scale"}
    builds = [Build(owner, tier, f"p{i % 3}") for i in range(14) for owner, tier in owners.items()]
    rts = [open_runtime(backend) for _ in range(3)]
    ids = queue_builds(rts[0], builds)
    stop = threading.Event()
    overs: list[str] = []
    errors: list[BaseException] = []

    def guarded(body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except BaseException as exc:  # surfaced below
                errors.append(exc)
                stop.set()

        return run

    def check() -> None:
        settings = rts[2].settings
        while not stop.is_set():
            per_owner, per_project = running_counts(rts[2])
            for owner, n in per_owner.items():
                if n > settings.limits_for(owners[owner]).per_owner:
                    overs.append(f"{owner} runs {n}")
            for (owner, project), n in per_project.items():
                if n > settings.limits_for(owners[owner]).per_project:
                    overs.append(f"{owner}/{project} runs {n}")

    def finisher() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            now = states(rts[2], ids)
            if list(now.values()).count("finished") == len(ids):
                stop.set()
            running = [i for i, s in now.items() if s == "running"]
            for session_id in rng.sample(running, k=min(len(running), rng.randint(0, 3))):
                finish(rts[2], session_id)
            time.sleep(0.005)

    with dispatcher(rts[0], "d1") as (one, first), dispatcher(rts[1], "d2") as (two, second):

        def admitting(dispatch: Dispatcher) -> Callable[[], None]:
            def admit() -> None:
                while not stop.is_set():
                    dispatch.tick()

            return admit

        bodies = [admitting(one), admitting(two), check, finisher]
        threads = [threading.Thread(target=guarded(body)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    for opened in rts:
        opened.close()
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    assert overs == []
    started = first.ids + second.ids
    assert sorted(started) == sorted(ids)  # each build started, and exactly once
    assert first.runs and second.runs  # both dispatchers gave out slots


def test_the_daily_cap_counts_builds_started_today_per_owner(backend: Backend) -> None:
    rt = open_runtime(
        backend,
        tier_limits={"bootstrapper": TierLimits(per_owner=2, per_project=2, per_day=3)},
    )
    try:
        ids = queue_builds(rt, [Build("alice"), Build("alice"), Build("alice")])
        yesterday = queue_builds(rt, [Build("alice")])
        _created(rt, yesterday, datetime.now(UTC) - timedelta(days=1))
        check_room(rt, "bob", "bootstrapper")  # another owner: untouched
        finish(rt, ids[0])  # a finished build still started today
        before = datetime.now(UTC)
        with pytest.raises(DailyCapError) as refused:
            check_room(rt, "alice", "bootstrapper")
        midnight = (before + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        assert abs(refused.value.retry_after_s - (midnight - before).total_seconds()) <= 2
        assert "'alice' has started 3 builds today" in str(refused.value)
        assert f"more from {midnight:%Y-%m-%d} 00:00 UTC" in str(refused.value)
        # Builds started before today no longer count; a tier without a daily cap is never
        # refused for it.
        _created(rt, ids, datetime.now(UTC) - timedelta(days=1))
        check_room(rt, "alice", "bootstrapper")
        queue_builds(rt, [Build("carol", "cto_scale") for _ in range(20)])
        check_room(rt, "carol", "cto_scale")
    finally:
        rt.close()


def test_the_queue_cap_refuses_with_when_to_retry(backend: Backend) -> None:
    rt = open_runtime(backend, queue_cap=5)
    try:
        queue_builds(rt, [Build(f"o{i}") for i in range(4)])
        queue_builds(rt, [Build(f"r{i}") for i in range(3)], state="running")
        queue_builds(rt, [Build(f"s{i}") for i in range(3)], state="sleeping")
        check_room(rt, "new", "bootstrapper")  # 4 waiting: room for one more
        queue_builds(rt, [Build("o4")])
        refused = _refused(rt)
        assert re.fullmatch(
            r"busy: 5 builds are waiting \(the queue holds 5\); retry after about \d+ minutes",
            str(refused),
        ), str(refused)
        # No live worker: counted as capacity one, one typical run per build to drain.
        assert refused.retry_after_s == TYPICAL_RUN_SECONDS
        assert str(refused).endswith(f"about {math.ceil(TYPICAL_RUN_SECONDS / 60)} minutes")
        queue_builds(rt, [Build("o5"), Build("o6")])
        assert _refused(rt).retry_after_s == 3 * TYPICAL_RUN_SECONDS
        with dispatcher(rt, concurrency=4):  # a live worker running four at once: one round
            assert _refused(rt).retry_after_s == TYPICAL_RUN_SECONDS
    finally:
        rt.close()


def _refused(rt: Runtime) -> QueueFullError:
    with pytest.raises(QueueFullError) as refused:
        check_room(rt, "new", "partner")
    assert refused.value.retry_after_s > 0
    return refused.value


def _created(rt: Runtime, ids: list[str], at: datetime) -> None:
    with rt.db.transaction() as session:
        session.execute(update(SessionRow).where(SessionRow.id.in_(ids)).values(created_at=at))
