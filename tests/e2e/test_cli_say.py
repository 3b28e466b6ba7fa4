"""`cofounder say`: a message sent to a running build reaches the model exactly once — also
when the build is SIGKILLed between the send and the delivery, and when it dies right after
delivering it — and it is in the transcript and the feed. Only the owner may speak; a message
to an ended build is refused; the text is redacted and size-limited."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cf_support import Backend, app_db_url, scripted_project, texts_in, transcript_of
from cofounder.agent.context.conversation_check import conversation_problems
from cofounder.storage import Database, EventLog

SAID = "Please make the buttons green"
# The slow step runs until the test creates this file in the workspace: a message sent while
# it runs is then sent before the step ends however slow the machine (a fixed `sleep 10` was
# over before a loaded machine's `cofounder say` got there, and the build failed its next turn
# for want of the message).
GATE = "go"


def _call(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "input": args}


def _turns() -> list[dict[str, Any]]:
    return [
        {"tool_calls": [_call(
            "bash", command=f"while [ ! -e {GATE} ]; do sleep 0.1; done; echo slow", timeout=600
        )]},
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


def _wait_for(backend: Backend, session_id: str, kind: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not any(t == kind for t, _ in _events(backend, session_id)):
        assert time.monotonic() < deadline, f"no {kind} event within {timeout}s"
        time.sleep(0.1)


@contextmanager
def _started(
    backend: Backend, tmp_path: Path, **env: str
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A build whose slow step is under way (and waits for `_release`); killed if the test
    leaves it running."""
    run = backend.popen("build", str(scripted_project(tmp_path / "p", _turns())), **env)
    try:
        assert run.stdout is not None
        session_id = run.stdout.readline().removeprefix("session: ").strip()
        _wait_for(backend, session_id, "tool_started")
        yield run, session_id
    finally:
        if run.poll() is None:
            run.kill()
        run.communicate()


def _release(backend: Backend, session_id: str) -> None:
    """Let the slow step end."""
    workspace = backend.cli("workspace", session_id)
    assert workspace.returncode == 0, workspace.stderr
    (Path(workspace.stdout.strip()) / GATE).touch()


def _check_once(backend: Backend, session_id: str) -> None:
    assert _said_in_transcript(backend, session_id) == 1
    said = [p for t, p in _events(backend, session_id) if t == "founder_message"]
    assert len(said) == 1 and said[0]["text"] == SAID and said[0]["by"] == "alice"


def test_a_message_reaches_the_model_once_when_the_build_dies_before_it(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    with _started(sqlite_backend, tmp_path) as (run, session_id):
        sent = sqlite_backend.cli("say", session_id, SAID, "--as", "alice")
        assert sent.returncode == 0, sent.stderr
        assert "the build reads it before its next step" in sent.stdout
        os.kill(run.pid, signal.SIGKILL)  # sent, not yet delivered
        run.wait()
    resume = sqlite_backend.popen("resume", session_id)
    try:
        # The interrupted step runs again in the workspace as its last commit left it, which
        # has no gate: it is let go once that restore is done.
        _wait_for(sqlite_backend, session_id, "workspace_restored")
        _release(sqlite_backend, session_id)
        out, err = resume.communicate(timeout=180)
    finally:
        if resume.poll() is None:
            resume.kill()
            resume.communicate()
    assert resume.returncode == 0, out + err
    assert "alice says: Please make the buttons green" in out
    _check_once(sqlite_backend, session_id)


def test_a_message_reaches_the_model_once_when_the_build_dies_right_after_it(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    with _started(sqlite_backend, tmp_path, COFOUNDER_CRASH_AT="deliver.after#1") as (
        run,
        session_id,
    ):
        assert sqlite_backend.cli("say", session_id, SAID, "--as", "alice").returncode == 0
        _release(sqlite_backend, session_id)
        assert run.wait(timeout=180) == -signal.SIGKILL  # died just after the delivery committed
    resumed = sqlite_backend.cli("resume", session_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    _check_once(sqlite_backend, session_id)


def test_only_the_owner_speaks_and_nobody_to_an_ended_build(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    with _started(sqlite_backend, tmp_path) as (run, session_id):
        key = "sk-ant-api03-" + "A" * 40  # sent first: the build's next step needs the message
        leaky = sqlite_backend.cli("say", session_id, f"{SAID}; key {key}", "--as", "alice")
        assert leaky.returncode == 0, leaky.stderr
        other = sqlite_backend.cli("say", session_id, SAID, "--as", "mallory")
        assert other.returncode == 2 and "only the session's owner" in other.stderr
        assert sqlite_backend.cli("say", session_id, "   ", "--as", "alice").returncode == 2
        long = sqlite_backend.cli("say", session_id, "x" * 4001, "--as", "alice")
        assert long.returncode == 2 and "4000" in long.stderr.replace(",", "")
        _release(sqlite_backend, session_id)
        assert run.wait(timeout=180) == 0
    said = [p for t, p in _events(sqlite_backend, session_id) if t == "founder_message"]
    assert len(said) == 1 and key not in said[0]["text"] and SAID in said[0]["text"]
    late = sqlite_backend.cli("say", session_id, "one more thing", "--as", "alice")
    assert late.returncode == 1 and "has ended" in late.stderr
