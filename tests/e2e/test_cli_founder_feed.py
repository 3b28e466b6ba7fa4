"""The founder's terminal, end to end through the real CLI and the scripted model: hostile text
(project name, narration, the agent's messages, tool labels, docs, questions) reaches no view
raw; the live feed asks its question with the exact `resolve` command; `resume` never calls the
model past an unanswered question, lists what waits, and says a finished session is done."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

from cf_support import Backend, app_db_url, scripted_project, session_id_from, wait_for_state
from cofounder.storage import Database, EventLog

# Rich styles nothing when stdout is not a terminal; this keeps it so whatever the caller's
# environment forces, so every ESC in the output would be one the text smuggled in.
PLAIN = {"TTY_COMPATIBLE": "0"}
RAW = ("\x1b", "\x9b", "\x07", "\u202e")
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31m[red]red[/red] :smile: \u202eevil\x9b1A"
SUMMARY_END = "That is everything: run `python3 app.py` and open the page. END-OF-SUMMARY"

ASK = {
    "name": "ask_founder",
    "input": {
        "problem": f"Should streaks count weekends? {HOSTILE}",
        "tried": ["read the brief"],
        "recommendation": "Count every day.",
        "options": [
            {"key": "every_day", "label": "Every day counts"},
            {"key": "weekdays", "label": f"Only weekdays count {HOSTILE}"},
        ],
        "default": "every_day",
    },
}


def _asking_project(tmp_path: Path) -> Path:
    return scripted_project(
        tmp_path,
        [
            {"text": "One product question first.", "tool_calls": [ASK]},
            {"text": "Weekdays it is. Done.", "expect": ["Only weekdays count"]},
        ],
    )


def _event_types(backend: Backend, session_id: str) -> list[str]:
    db = Database(app_db_url(backend))
    try:
        return [e.type for e in EventLog(db).read(session_id, limit=100_000)]
    finally:
        db.close()


def _wait_for_event(backend: Backend, session_id: str, kind: str) -> None:
    deadline = time.monotonic() + 60
    while kind not in _event_types(backend, session_id):
        assert time.monotonic() < deadline, f"no {kind} event within 60 s"
        time.sleep(0.1)


class _Stdout:
    """A live process's stdout, read on a thread, so a wait for a line can give up."""

    def __init__(self, run: subprocess.Popen[str]) -> None:
        assert run.stdout is not None
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(run.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def until(self, marker: str, timeout: float = 60) -> str:
        """The lines up to and including the first that holds `marker`."""
        seen, deadline = "", time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"{marker!r} never printed; stdout was:\n{seen}")
            seen += line
            if marker in line:
                return seen

    def rest(self) -> str:
        """Everything left, once the process has ended."""
        seen = ""
        while (line := self._lines.get(timeout=60)) is not None:
            seen += line
        return seen


def _assert_inert(*outputs: str) -> None:
    for output in outputs:
        for raw in RAW:
            assert raw not in output, f"raw {raw!r} reached the terminal: {output!r}"


def _killed_while_waiting(backend: Backend, tmp_path: Path) -> str:
    """A build that asked its founder a question, killed while it waits for the answer."""
    run = backend.popen("build", str(_asking_project(tmp_path)), **PLAIN)
    assert run.stdout is not None
    session_id = run.stdout.readline().removeprefix("session: ").strip()
    _wait_for_event(backend, session_id, "waiting_for_input")
    wait_for_state(backend, session_id, "waiting")
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    return session_id


def test_hostile_text_reaches_no_view_raw_and_the_summary_is_whole(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    summary = " ".join(f"Step {n}: the page shows your habits and streaks." for n in range(12))
    name = f"Evil {HOSTILE} App whose long name wraps in the table"
    project = scripted_project(
        tmp_path,
        [
            {
                "text": f"Starting. {HOSTILE}",
                "tool_calls": [
                    {"name": "narrate", "input": {"message": HOSTILE, "phase_name": HOSTILE}},
                    {"name": "bash", "input": {"command": f"echo '{HOSTILE}'"}},
                    {
                        "name": "document",
                        "input": {"section": "overview", "content": f"# Hi {HOSTILE}\nMore."},
                    },
                ],
            },
            {"text": f"{summary}\n{HOSTILE}\n{SUMMARY_END}"},
        ],
        name=name,
    )
    built = sqlite_backend.cli("build", str(project), **PLAIN)
    assert built.returncode == 0, built.stdout + built.stderr
    session_id = session_id_from(built.stdout)
    assert "\\x1b]0;pwned\\x07" in built.stdout  # shown, escaped
    flat = " ".join(built.stdout.split())  # wrapped at the terminal's width
    assert summary in flat and SUMMARY_END in flat  # the closing summary whole, not cut at 400
    views = [
        sqlite_backend.cli(*args, **PLAIN, COLUMNS="80")
        for args in (
            ("sessions",),
            ("status", session_id),
            ("events", session_id),
            ("docs", session_id),
            ("escalations",),
        )
    ]
    for view in views:
        assert view.returncode == 0, view.stderr
    _assert_inert(built.stdout, built.stderr, *(v.stdout + v.stderr for v in views))
    listed = views[0].stdout
    assert session_id in listed  # whole, at 80 columns, beside a long name that wraps
    assert "[red]red[/red] :smile:" in " ".join(views[1].stdout.split())  # markup stays literal
    assert all(len(line) <= 80 for line in listed.splitlines())
    started = json.loads(sqlite_backend.cli("events", session_id, "--json").stdout.splitlines()[0])
    assert started["payload"]["name"] == name  # the data itself is kept as it was


def test_the_live_feed_asks_with_the_exact_resolve_command(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    run = sqlite_backend.popen("build", str(_asking_project(tmp_path)), **PLAIN)
    stdout = _Stdout(run)
    try:
        asked = stdout.until("→ answer with")
        session_id = session_id_from(asked)
        escalation_id = f"{session_id}-1-0"
        assert f"Question for you ({escalation_id})" in asked
        assert "--choice every_day: Every day counts (default)" in asked
        assert f"`cofounder resolve {escalation_id} --choice every_day --as alice`" in asked
        waiting = stdout.until("Waiting for your answer")
        assert f"to {escalation_id} until " in waiting and " UTC" in waiting
        answer = sqlite_backend.cli(
            "resolve", escalation_id, "--choice", "weekdays", "--as", "alice", **PLAIN
        )
        assert answer.returncode == 0, answer.stderr
        code = run.wait(timeout=60)
        rest, errors = stdout.rest(), run.stderr.read() if run.stderr else ""
        assert code == 0, rest + errors
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert f"{escalation_id} answered by alice: weekdays" in rest
    _assert_inert(asked, waiting, rest, errors, answer.stdout)


def test_resume_waits_for_the_answer_and_never_calls_the_model_before_it(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    session_id = _killed_while_waiting(sqlite_backend, tmp_path / "asks")
    # A second session, killed mid-build, is one `resume` can run now.
    crashed = sqlite_backend.cli(
        "build",
        str(scripted_project(tmp_path / "plain", [{"text": "Nothing to do: done."}])),
        COFOUNDER_CRASH_AT="think.after_model#1",
    )
    assert crashed.returncode == -9
    runnable = session_id_from(crashed.stdout)

    every = sqlite_backend.cli_within(120, "resume", **PLAIN)
    assert every.returncode == 0, every.stdout + every.stderr
    assert f"{session_id} “Streaks” (waiting)" in every.stdout
    assert f"cofounder resolve {session_id}-1-0 --choice every_day --as alice" in every.stdout
    assert "1 waiting or sleeping; running 1" in every.stdout
    _assert_inert(every.stdout, every.stderr)
    states = {
        json.loads(line)["session_id"]: json.loads(line)["state"]
        for line in sqlite_backend.cli("sessions", "--json").stdout.splitlines()
    }
    assert states == {session_id: "waiting", runnable: "completed"}
    calls_before = _event_types(sqlite_backend, session_id).count("thinking")

    run = sqlite_backend.popen("resume", session_id, **PLAIN)
    stdout = _Stdout(run)
    try:
        asked = stdout.until("→ answer with")  # printed before it waits
        _wait_for_event(sqlite_backend, session_id, "session_resumed")
        answer = sqlite_backend.cli(
            "resolve", f"{session_id}-1-0", "--choice", "weekdays", "--as", "alice"
        )
        assert answer.returncode == 0, answer.stderr
        code = run.wait(timeout=60)
        assert code == 0, asked + stdout.rest() + (run.stderr.read() if run.stderr else "")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    types = _event_types(sqlite_backend, session_id)
    resumed = types.index("session_resumed")
    # The only model call after the resume comes after the answer was delivered.
    assert types[resumed:].index("resolved") < types[resumed:].index("thinking")
    assert types.count("thinking") == calls_before + 1

    again = sqlite_backend.cli("resume", session_id, **PLAIN)
    assert again.returncode == 0, again.stderr
    assert f"session {session_id} already finished (completed)" in again.stdout
