"""`cofounder say`: a message sent to a running build reaches the model exactly once — also
when the build is SIGKILLed between the send and the delivery, and when it dies right after
delivering it — and it is in the transcript and the feed. Only the owner may speak; a message
to an ended build is refused; the text is redacted and size-limited."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from cf_support import Backend, app_db_url, scripted_project, texts_in, transcript_of
from cofounder.agent.context.conversation_check import conversation_problems
from cofounder.storage import Database, EventLog

SAID = "Please make the buttons green"


def _call(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "input": args}


def _turns() -> list[dict[str, Any]]:
    return [
        {"tool_calls": [_call("bash", command="sleep 10; echo slow")]},
        # The scripted model fails the build unless this request carries the message.
        {"text": "Green it is.", "expect": [SAID], "tool_calls": [
            _call("narrate", message="Making the buttons green, as you asked.")]},
        {"text": "done"},
    ]  # fmt: skip


def _events(backend: Backend, session_id: str) -> list[tuple[str, dict[str, Any]]]:
    db = Database(app_db_url(backend))
    try:
        return [(e.type, e.payload) for e in EventLog(db).read(session_id, limit=100_000)]
    finally:
        db.close()


def _said_in_transcript(backend: Backend, session_id: str) -> int:
    messages = transcript_of(backend, session_id)
    assert conversation_problems(messages) == []
    return texts_in(messages, SAID)


def _wait_for(backend: Backend, session_id: str, kind: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(t == kind for t, _ in _events(backend, session_id)):
        assert time.monotonic() < deadline, f"no {kind} event within {timeout}s"
        time.sleep(0.1)


def _start(backend: Backend, tmp_path: Path) -> tuple[Any, str]:
    run = backend.popen("build", str(scripted_project(tmp_path / "p", _turns())))
    assert run.stdout is not None
    session_id = run.stdout.readline().removeprefix("session: ").strip()
    _wait_for(backend, session_id, "tool_started")  # the slow step is under way
    return run, session_id


def _check_once(backend: Backend, session_id: str) -> None:
    assert _said_in_transcript(backend, session_id) == 1
    said = [p for t, p in _events(backend, session_id) if t == "founder_message"]
    assert len(said) == 1 and said[0]["text"] == SAID and said[0]["by"] == "alice"


def test_a_message_reaches_the_model_once_when_the_build_dies_before_it(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    run, session_id = _start(sqlite_backend, tmp_path)
    sent = sqlite_backend.cli("say", session_id, SAID, "--as", "alice")
    assert sent.returncode == 0, sent.stderr
    assert "the build reads it before its next step" in sent.stdout
    os.kill(run.pid, signal.SIGKILL)  # sent, not yet delivered
    run.wait()
    resumed = sqlite_backend.cli("resume", session_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "alice says: Please make the buttons green" in resumed.stdout
    _check_once(sqlite_backend, session_id)


def test_a_message_reaches_the_model_once_when_the_build_dies_right_after_it(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    project = scripted_project(tmp_path / "p", _turns())
    run = sqlite_backend.popen("build", str(project), COFOUNDER_CRASH_AT="deliver.after#1")
    assert run.stdout is not None
    session_id = run.stdout.readline().removeprefix("session: ").strip()
    _wait_for(sqlite_backend, session_id, "tool_started")
    assert sqlite_backend.cli("say", session_id, SAID, "--as", "alice").returncode == 0
    assert run.wait(timeout=120) == -signal.SIGKILL  # died just after the delivery committed
    resumed = sqlite_backend.cli("resume", session_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    _check_once(sqlite_backend, session_id)


def test_only_the_owner_speaks_and_nobody_to_an_ended_build(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    run, session_id = _start(sqlite_backend, tmp_path)
    key = "sk-ant-api03-" + "A" * 40  # sent first: the build's next step needs the message
    leaky = sqlite_backend.cli("say", session_id, f"{SAID}; key {key}", "--as", "alice")
    assert leaky.returncode == 0, leaky.stderr
    other = sqlite_backend.cli("say", session_id, SAID, "--as", "mallory")
    assert other.returncode == 2 and "only the session's owner" in other.stderr
    assert sqlite_backend.cli("say", session_id, "   ", "--as", "alice").returncode == 2
    long = sqlite_backend.cli("say", session_id, "x" * 4001, "--as", "alice")
    assert long.returncode == 2 and "4000" in long.stderr.replace(",", "")
    assert run.wait(timeout=120) == 0
    said = [p for t, p in _events(sqlite_backend, session_id) if t == "founder_message"]
    assert len(said) == 1 and key not in said[0]["text"] and SAID in said[0]["text"]
    late = sqlite_backend.cli("say", session_id, "one more thing", "--as", "alice")
    assert late.returncode == 1 and "has ended" in late.stderr
