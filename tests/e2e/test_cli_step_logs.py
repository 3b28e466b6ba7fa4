"""Logs of a real build: at DEBUG with JSON lines, every engine step that runs writes one line
on stderr naming the session, the iteration, the step and its duration; stdout (the live
view) carries none of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cf_support import Backend, scripted_project, session_id_from


def _project(tmp_path: Path) -> Path:
    turns: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "write_file", "input": {"path": "a.txt", "content": "a\n"}}]},
        {"tool_calls": [{"name": "narrate", "input": {"message": "Wrote a.txt."}}]},
        {"text": "Done."},
    ]
    return scripted_project(tmp_path, turns, name="Logged", goal="Write a file.")


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_debug_build_logs_each_step_with_session_iteration_and_duration(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    result = sqlite_backend.cli(
        "build", str(_project(tmp_path)), COFOUNDER_LOG_LEVEL="DEBUG", COFOUNDER_LOG_JSON="1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)

    steps = [line for line in _json_lines(result.stderr) if line.get("event") == "engine_step"]
    assert [(s["step"], s["iteration"]) for s in steps] == [
        ("start", 0),
        ("think", 1),
        ("act", 1),
        ("commit", 1),
        ("think", 2),
        ("act", 2),
        ("commit", 2),
        ("think", 3),
        ("commit", 3),
        ("finish", 3),
    ]
    for step in steps:
        assert step["session_id"] == session_id
        assert isinstance(step["duration_ms"], float | int) and step["duration_ms"] >= 0
        assert step["outcome"] == "ok"
        assert step["level"] == "info" and "timestamp" in step
    assert not any(line.get("event") == "engine_step" for line in _json_lines(result.stdout))


def test_default_level_logs_no_steps(sqlite_backend: Backend, tmp_path: Path) -> None:
    result = sqlite_backend.cli("build", str(_project(tmp_path)), COFOUNDER_LOG_JSON="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "engine_step" not in result.stderr + result.stdout
