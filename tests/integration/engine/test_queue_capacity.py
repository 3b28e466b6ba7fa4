"""Admission fills the live workers' slots and no more: the rest wait in the fair queue (not
in DBOS's, in arrival order), and start as slots free; with no live worker nothing starts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from queue_support import Build, dispatcher, finish, open_runtime, queue_builds, states

from cf_support import Backend, scripted_project
from cofounder.config import Settings
from cofounder.engine import Engine
from cofounder.engine.errors import QueueFullError
from cofounder.engine.runtime import Runtime
from cofounder.project import load_project


@pytest.fixture
def rt(backend: Backend) -> Iterator[Runtime]:
    runtime = open_runtime(backend)
    yield runtime
    runtime.close()


def test_only_as_many_run_as_the_live_workers_have_slots(rt: Runtime) -> None:
    ids = queue_builds(rt, [Build(owner=f"o{n}", tier="cto_scale") for n in range(7)])
    with (
        dispatcher(rt, "a", concurrency=2) as (first, recorder),
        dispatcher(rt, "b", concurrency=1) as (second, _),
    ):
        first.tick()
        second.tick()
        assert recorder.ids == ids[:3]  # 2 + 1 slots, in line order
        assert list(states(rt, ids).values()).count("running") == 3
        finish(rt, ids[1])
        first.tick()
        assert recorder.ids == [*ids[:3], ids[3]]  # one slot freed: the next in line


def test_a_partner_build_waiting_for_a_slot_passes_earlier_bootstrapper_builds(
    rt: Runtime,
) -> None:
    early = queue_builds(rt, [Build(owner=f"b{n}") for n in range(3)])
    late = queue_builds(rt, [Build(owner="p", tier="partner")])
    with dispatcher(rt, concurrency=1) as (worker, recorder):
        worker.tick()
        assert recorder.ids == late  # the one slot goes to the higher tier
        finish(rt, late[0])
        worker.tick()
        assert recorder.ids == [*late, early[0]]


def test_with_no_live_worker_nothing_is_admitted(rt: Runtime) -> None:
    ids = queue_builds(rt, [Build(owner="o")])
    with dispatcher(rt, concurrency=1) as (worker, recorder):
        rt.workers.set_state(worker.me.name, "stopped")
        worker.tick()
        assert recorder.ids == [] and states(rt, ids) == {ids[0]: "queued"}


def test_two_builds_at_the_edge_of_the_queue_cap_cannot_both_join(
    backend: Backend, tmp_path: Path
) -> None:
    """The caps are checked again inside the insert, under the queue's lock: of several builds
    started at once with one place left, exactly one gets it and the rest leave nothing."""
    engine = Engine(Settings(home=backend.home, database_url=backend.database_url, queue_cap=3))
    try:
        project = scripted_project(tmp_path / "p", [{"text": "done"}], name="Edge")
        spec = load_project(project)
        for _ in range(2):
            engine.create_session(spec, project)
        outcomes: list[str] = []
        barrier = threading.Barrier(4)

        def start() -> None:
            barrier.wait()
            try:
                engine.create_session(spec, project)
                outcomes.append("queued")
            except QueueFullError:
                outcomes.append("refused")

        threads = [threading.Thread(target=start) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["queued", "refused", "refused", "refused"]
        assert len(engine.sessions()) == 3
        assert len(list((backend.home / "sessions").iterdir())) == 3  # refused: nothing left
    finally:
        engine.close()
