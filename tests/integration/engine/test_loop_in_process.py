"""The durable loop run in this process, no CLI: a scripted model, the real sandbox, SQLite and
PostgreSQL. Each row drives one way a run ends and checks what the engine recorded, so the
CLI end-to-end suites only have to prove the face."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cf_support import Backend, scripted_project
from cofounder.agent.context.conversation_check import conversation_problems
from cofounder.config import Settings
from cofounder.engine import Engine
from cofounder.project import load_project


def _bash(command: str) -> dict[str, Any]:
    return {"name": "bash", "input": {"command": command}}


@dataclass(frozen=True)
class Case:
    name: str
    turns: list[dict[str, Any]]
    outcome: str
    max_tool_calls: int | None = None
    committed: int | None = None  # iterations expected in the log
    fields: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "completes when the model replies without tools",
        [{"tool_calls": [_bash("echo hi > a.txt")]}, {"tool_calls": [_bash("cat a.txt")]},
         {"text": "Done."}],
        "completed", committed=3,
    ),
    Case(
        "the tool-call cap ends it",
        [{"tool_calls": [_bash(f"echo {i}")]} for i in range(5)] + [{"text": "Done."}],
        "iteration_limit", max_tool_calls=2,
    ),
    Case(
        "the same failing call again and again is stuck",
        [{"tool_calls": [_bash("false")]} for _ in range(12)] + [{"text": "Done."}],
        "stuck",
    ),
]  # fmt: skip


@pytest.fixture
def engine(backend: Backend) -> Iterator[Engine]:
    running = Engine(Settings(home=backend.home, database_url=backend.database_url))
    yield running
    running.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_way_a_run_ends(engine: Engine, tmp_path: Path, case: Case) -> None:
    project = scripted_project(tmp_path / "project", case.turns, name="Loop", **case.fields)
    record = engine.create_session(
        load_project(project), project, max_tool_calls=case.max_tool_calls
    )
    assert engine.run(record.id) == case.outcome
    finished = engine.rt.sessions.get(record.id)
    assert finished is not None
    assert (finished.state, finished.outcome) == ("finished", case.outcome)
    events = [e.type for e in engine.rt.events.read(record.id, limit=100_000)]
    assert events[0] == "session_started" and events[-1] == "session_finished"
    if case.committed is not None:
        assert events.count("iteration_committed") == case.committed
    assert conversation_problems(engine.rt.transcript.messages(record.id)) == []
