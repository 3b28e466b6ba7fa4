"""Self-healing and escalation, scripted end to end through the CLI: a failure is steered to a
different approach; three failures escalate to the founder, whose answer reaches the model; a
never-retry failure escalates at once; an unanswered question takes its default at the
deadline; an answer given while the build was killed is delivered exactly once; the escalation
ceiling pauses the build until the founder answers. Every path keeps one result per tool_use."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import yaml

from cf_support import Backend, app_db_url, session_id_from, wait_for_state
from cofounder.agent.context.conversation_check import conversation_problems
from cofounder.storage import Database, EventLog, Transcript

CHECK = "import streaklib\nprint('streak', streaklib.streak([1, 1, 0]))\n"
FIX = "def streak(days):\n    return sum(1 for _ in days)\n"
FAILING = ["python3 check.py", "cd . && python3 check.py", "true && python3 check.py"]


def _bash(command: str) -> dict[str, Any]:
    return {"name": "bash", "input": {"command": command}}


def _fixed_turn(expect: list[str]) -> dict[str, Any]:
    return {
        "text": "Trying a different approach: I'll write the missing module myself.",
        "expect": expect,
        "tool_calls": [
            {"name": "write_file", "input": {"path": "streaklib.py", "content": FIX}},
            {"name": "write_file", "input": {"path": "check.py", "content": CHECK}},
            _bash("python3 check.py"),
        ],
    }


def _write(tmp_path: Path, turns: list[dict[str, Any]]) -> Path:
    (tmp_path / "trajectory.yaml").write_text(yaml.safe_dump({"turns": turns}))
    path = tmp_path / "cofounder.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "Streaks",
                "goal": "print a streak",
                "idea_brief": {"what": "streaks"},
                "understanding_qna": [],
                "owner": "alice",
                "model": "scripted:trajectory.yaml",
            }
        )
    )
    return path


def _three_failures_project(tmp_path: Path, answer_expect: str) -> Path:
    first = {
        "tool_calls": [
            {"name": "write_file", "input": {"path": "check.py", "content": CHECK}},
            _bash(FAILING[0]),
        ]
    }
    turns = [
        {"text": "Writing the check.", **first},
        {"text": "Retrying.", "expect": ["attempt 1 of 3"], "tool_calls": [_bash(FAILING[1])]},
        {"text": "Again.", "expect": ["attempt 2 of 3"], "tool_calls": [_bash(FAILING[2])]},
        _fixed_turn([answer_expect]),
        {"text": "Done: the streak prints.", "expect": ["streak 3"], "require_ok": True},
    ]
    return _write(tmp_path, turns)


def _events(backend: Backend, session_id: str) -> list[tuple[str, dict[str, Any]]]:
    db = Database(app_db_url(backend))
    try:
        return [(e.type, e.payload) for e in EventLog(db).read(session_id, limit=100_000)]
    finally:
        db.close()


def _transcript_texts(backend: Backend, session_id: str) -> list[str]:
    db = Database(app_db_url(backend))
    try:
        messages = Transcript(db).messages(session_id)
    finally:
        db.close()
    assert conversation_problems(messages) == []  # one result per tool_use, always
    return [b.text for m in messages if m.role == "user" for b in m.content if b.type == "text"]


def _wait_for(backend: Backend, session_id: str, kind: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for t, p in _events(backend, session_id) if t == kind]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no {kind} event within {timeout}s")


def test_a_failure_is_steered_to_a_different_approach_that_works(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    project = _write(
        tmp_path,
        [
            {
                "tool_calls": [
                    {"name": "write_file", "input": {"path": "check.py", "content": CHECK}},
                    _bash("python3 check.py"),
                ]
            },
            _fixed_turn(["attempt 1 of 3", "genuinely different approach"]),
            {"text": "Done.", "expect": ["streak 3"], "require_ok": True},
        ],
    )
    result = sqlite_backend.cli("build", str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)
    events = _events(sqlite_backend, session_id)
    retrying = [p for t, p in events if t == "retrying"]
    assert len(retrying) == 1 and retrying[0]["attempt"] == 1 and retrying[0]["kind"] == "steer"
    assert "ModuleNotFoundError" in retrying[0]["error"]
    assert not [t for t, _ in events if t == "escalated"]
    _transcript_texts(sqlite_backend, session_id)


def test_three_failures_escalate_and_the_founders_answer_reaches_the_model(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    guidance = "write streaklib.py yourself, a tiny function is enough"
    run = sqlite_backend.popen("build", str(_three_failures_project(tmp_path, guidance)))
    try:
        assert run.stdout is not None
        session_id = run.stdout.readline().removeprefix("session: ").strip()
        escalated = _wait_for(sqlite_backend, session_id, "escalated")
        assert escalated["reason"] == "attempts_exhausted" and len(escalated["tried"]) == 3
        assert escalated["default"] in {o["key"] for o in escalated["options"]}
        status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
        assert status["state"] == "waiting"
        listed = sqlite_backend.cli("escalations", session_id, "--json")
        assert json.loads(listed.stdout.splitlines()[0])["state"] == "open"
        stranger = sqlite_backend.cli(
            "resolve", escalated["id"], "--choice", "provide_guidance", "--as", "mallory"
        )
        assert stranger.returncode == 2 and "only the session's owner" in stranger.stderr
        answer = sqlite_backend.cli(
            "resolve",
            escalated["id"],
            "--choice",
            "provide_guidance",
            "--guidance",
            guidance,
            "--as",
            "alice",
        )
        assert answer.returncode == 0, answer.stderr
        assert run.wait(timeout=60) == 0
    finally:
        if run.poll() is None:
            run.kill()
    events = _events(sqlite_backend, session_id)
    resolved = [p for t, p in events if t == "resolved"]
    assert len(resolved) == 1 and resolved[0]["choice"] == "provide_guidance"
    assert resolved[0]["by"] == "alice" and not resolved[0]["defaulted"]
    assert events[-1][1]["outcome"] == "completed"
    texts = _transcript_texts(sqlite_backend, session_id)
    assert sum(guidance in t for t in texts) == 1


def test_a_never_retry_failure_escalates_at_once_and_the_deadline_applies_the_default(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    project = _write(
        tmp_path,
        [
            {
                "tool_calls": [
                    _bash("echo 'Error: invalid api key for the payments API' >&2; exit 1")
                ]
            },
            _fixed_turn(["did not answer in time", "default applies"]),
            {"text": "Done.", "expect": ["streak 3"]},
        ],
    )
    result = sqlite_backend.cli_within(
        120, "build", str(project), COFOUNDER_ESCALATION_DEADLINE_SECONDS="1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)
    events = _events(sqlite_backend, session_id)
    escalated = [p for t, p in events if t == "escalated"]
    assert len(escalated) == 1 and escalated[0]["reason"] == "never_retry"
    assert not [p for t, p in events if t == "retrying"]  # no attempts burned first
    resolved = [p for t, p in events if t == "resolved"]
    assert resolved[0]["defaulted"] and resolved[0]["choice"] == escalated[0]["default"]


def test_an_answer_given_while_the_build_was_killed_is_delivered_exactly_once(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    guidance = "write streaklib.py yourself"
    run = sqlite_backend.popen("build", str(_three_failures_project(tmp_path, guidance)))
    assert run.stdout is not None
    session_id = run.stdout.readline().removeprefix("session: ").strip()
    escalated = _wait_for(sqlite_backend, session_id, "waiting_for_input")
    wait_for_state(sqlite_backend, session_id, "waiting")
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    answer = sqlite_backend.cli(
        "resolve", escalated["escalation_id"], "--choice", "provide_guidance",
        "--guidance", guidance, COFOUNDER_USER="alice",
    )  # fmt: skip
    assert answer.returncode == 0 and "cofounder resume" in answer.stdout
    crashed = sqlite_backend.cli("resume", session_id, COFOUNDER_CRASH_AT="deliver.after#1")
    assert crashed.returncode == -9
    resumed = sqlite_backend.cli("resume", session_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    texts = _transcript_texts(sqlite_backend, session_id)
    assert sum(guidance in t for t in texts) == 1
    assert [t for t, _ in _events(sqlite_backend, session_id)].count("resolved") == 1


def test_the_escalation_ceiling_pauses_until_the_founder_answers(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    project = _three_failures_project(tmp_path, "use a stub")
    paused = sqlite_backend.cli("build", str(project), COFOUNDER_MAX_ESCALATIONS="1")
    assert paused.returncode == 1 and "paused" in paused.stderr
    session_id = session_id_from(paused.stdout)
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["state"] == "paused" and "questions" in status["outcome_reason"]
    (open_one,) = [
        json.loads(line)
        for line in sqlite_backend.cli("escalations", "--open", "--json").stdout.splitlines()
    ]
    answer = sqlite_backend.cli(
        "resolve", open_one["id"], "--choice", "provide_guidance", "--guidance", "use a stub",
        "--as", "alice",
    )  # fmt: skip
    assert answer.returncode == 0
    resumed = sqlite_backend.cli("resume", session_id, COFOUNDER_MAX_ESCALATIONS="1")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert sum("use a stub" in t for t in _transcript_texts(sqlite_backend, session_id)) == 1


def test_the_agent_can_ask_the_founder_itself(sqlite_backend: Backend, tmp_path: Path) -> None:
    ask = {
        "name": "ask_founder",
        "input": {
            "problem": "Should streaks count weekends? It changes how a missed Saturday works.",
            "tried": ["read the brief", "read the interview answers"],
            "recommendation": "Count every day, weekends included.",
            "options": [
                {"key": "every_day", "label": "Every day counts"},
                {"key": "weekdays", "label": "Only weekdays count"},
            ],
            "default": "every_day",
        },
    }
    project = _write(
        tmp_path,
        [
            {"text": "One product question first.", "tool_calls": [ask]},
            {"text": "Weekdays it is.", "expect": ["Only weekdays count"]},
        ],
    )
    run = sqlite_backend.popen("build", str(project))
    try:
        assert run.stdout is not None
        session_id = run.stdout.readline().removeprefix("session: ").strip()
        escalated = _wait_for(sqlite_backend, session_id, "escalated")
        assert escalated["reason"] == "asked" and escalated["default"] == "every_day"
        bad = sqlite_backend.cli(
            "resolve", escalated["id"], "--choice", "sometimes", "--as", "alice"
        )
        assert bad.returncode == 2 and "choose one of: every_day, weekdays" in bad.stderr
        sqlite_backend.cli("resolve", escalated["id"], "--choice", "weekdays", "--as", "alice")
        assert run.wait(timeout=60) == 0
    finally:
        if run.poll() is None:
            run.kill()
