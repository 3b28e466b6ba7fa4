"""Per-run state: what this process holds for a session it runs, by id, apart from Runtime."""

from __future__ import annotations

from datetime import UTC, datetime

from cofounder.engine.live import LiveSessions
from cofounder.engine.runtime import Runtime


def test_a_run_carries_its_own_start_time_and_forgets_it_when_it_ends() -> None:
    runs = LiveSessions()
    before = datetime.now(UTC)
    runs.begin("a")
    started = runs.started_at("a")
    assert started is not None and started >= before
    assert runs.started_at("b") is None  # another session's run is not this one's
    runs.begin("b")
    runs.end("a")
    assert runs.started_at("a") is None
    assert runs.started_at("b") is not None


def test_a_new_run_replaces_the_last_runs_start_and_sandbox() -> None:
    runs = LiveSessions()
    first = runs.begin("a")
    second = runs.begin("a")
    assert runs.run("a") is second and runs.run("a") is not first
    assert not runs.has_sandbox("a")
    assert runs.take_sandbox("a") is None


def test_a_step_outside_a_begun_run_counts_from_its_checkpoint() -> None:
    runs = LiveSessions()
    assert runs.run("a").started_at is None
    assert runs.started_at("a") is None


def test_the_runtime_holds_no_per_run_state() -> None:
    fields = set(Runtime.__dataclass_fields__)
    assert not fields & {"live", "run_started_at"}
