"""A long session on a small context window: compaction keeps every request inside the window
and every tool pair valid, the raw transcript stays whole, the scripted turns still line up
(the summary says how many turns it replaced), and a crash right after a compaction neither
repeats the summary nor changes what the session does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from crash_support import requested_turns, transcript_of

from cf_support import Backend, app_db_url, session_id_from
from cofounder.agent.context.conversation_check import conversation_problems
from cofounder.storage import Database, EventLog, Transcript

TURNS = 24
WINDOW = 12_000
ENV = {
    "COFOUNDER_MAX_TOKENS": "1000",
    "COFOUNDER_CONTEXT_WINDOWS": json.dumps({"scripted:": WINDOW}),
    "COFOUNDER_COMPACTION_KEEP_TURNS": "2",
    "COFOUNDER_COMPACTION_TOOL_RESULT_CHARS": "300",
}


def _project(tmp_path: Path) -> Path:
    turns: list[dict[str, object]] = []
    for n in range(TURNS):
        turn: dict[str, object] = {
            "text": f"Step {n}: writing part {n} and checking the numbers.",
            "tool_calls": [
                {
                    "name": "write_file",
                    "input": {"path": f"parts/part{n:02d}.txt", "content": f"part {n}\n" * 150},
                },
                {"name": "bash", "input": {"command": f"seq 1 600; echo done-{n}"}},
            ],
        }
        if n:
            turn["expect"] = [f"done-{n - 1}"]
            turn["require_ok"] = True
        turns.append(turn)
    turns.append({"text": "All parts are written.", "expect": [f"done-{TURNS - 1}"]})
    (tmp_path / "trajectory.yaml").write_text(yaml.safe_dump({"turns": turns}))
    project = {
        "name": "Long session",
        "idea_brief": {"problem": "many small steps"},
        "understanding_qna": [],
        "goal": "write every part",
        "model": "scripted:trajectory.yaml",
    }
    path = tmp_path / "cofounder.yaml"
    path.write_text(yaml.safe_dump(project))
    return path


def _events(backend: Backend, session_id: str) -> list[tuple[str, dict[str, Any]]]:
    db = Database(app_db_url(backend))
    try:
        return [(e.type, e.payload) for e in EventLog(db).read(session_id, limit=100_000)]
    finally:
        db.close()


def _summaries_requested(backend: Backend, session_id: str) -> int:
    log = backend.home / "sessions" / session_id / "model-requests.jsonl"
    return sum(1 for line in log.read_text().splitlines() if json.loads(line).get("summary"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Backend, str]:
    home = tmp_path_factory.mktemp("long")
    backend = Backend("sqlite", home / "data", None)
    result = backend.cli("build", str(_project(home)), **ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    return backend, session_id_from(result.stdout)


def test_requests_stay_inside_the_window_and_the_transcript_stays_whole(
    uninterrupted: tuple[Backend, str],
) -> None:
    backend, session_id = uninterrupted
    events = _events(backend, session_id)
    sizes = [int(str(p["context_tokens"])) for t, p in events if t == "thinking"]
    compactions = [p for t, p in events if t == "context_compacted"]
    summaries = [p for p in compactions if p["kind"] == "summarize"]
    assert len(sizes) == TURNS + 1
    assert max(sizes) <= WINDOW, sizes
    # Without compaction the last request would be several windows long.
    assert len(summaries) >= 2, compactions
    assert summaries[-1]["summarized_turns"] > summaries[0]["summarized_turns"]
    assert all(int(str(p["tokens_after"])) < int(str(p["tokens_before"])) for p in compactions)
    assert _summaries_requested(backend, session_id) == len(summaries)
    assert requested_turns(backend.home, session_id) == list(range(TURNS + 1))
    db = Database(app_db_url(backend))
    try:
        raw = Transcript(db).messages(session_id)
    finally:
        db.close()
    assert len(raw) == 1 + 2 * TURNS + 1  # kickoff, (turn, results) x TURNS, final turn
    assert conversation_problems(raw) == []
    outputs = "".join(b.content for m in raw for b in m.content if b.type == "tool_result")
    assert outputs.count("\n600\n") == TURNS  # raw tool outputs are never trimmed in storage


def test_a_crash_after_a_compaction_resumes_without_summarizing_again(
    uninterrupted: tuple[Backend, str], tmp_path: Path
) -> None:
    backend = Backend("sqlite", tmp_path / "data", None)
    project = _project(tmp_path)
    crashed = backend.cli(
        "build", str(project), COFOUNDER_CRASH_AT="context.after_compaction#2", **ENV
    )
    assert crashed.returncode == -9, crashed.stdout + crashed.stderr
    session_id = session_id_from(crashed.stdout)
    resumed = backend.cli("resume", session_id, **ENV)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    base_backend, base_id = uninterrupted
    assert transcript_of(app_db_url(backend), session_id) == transcript_of(
        app_db_url(base_backend), base_id
    )
    compactions = [p for t, p in _events(backend, session_id) if t == "context_compacted"]
    base = [p for t, p in _events(base_backend, base_id) if t == "context_compacted"]
    assert [(p["iteration"], p["kind"]) for p in compactions] == [
        (p["iteration"], p["kind"]) for p in base
    ]
    summaries = sum(1 for p in compactions if p["kind"] == "summarize")
    assert _summaries_requested(backend, session_id) == summaries
