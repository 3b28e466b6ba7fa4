"""SIGKILL the example build at many points; `cofounder resume` must finish it with the same
workspace (byte for byte, caches aside) and transcript as an uninterrupted run, never request a
recorded model turn again, and keep event seq gap-free.

Screenshots are off here (`COFOUNDER_CHROMIUM` names no browser, so `take_screenshot` is an
ordinary failed tool result in every run): each costs ~2 s, and the chaos and preview tests
cover them through kills. One crash point per kind of step boundary keeps CI within budget."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from crash_support import (
    event_seqs_and_types,
    requested_turns,
    step_events,
    tool_pairing_problems,
    transcript_of,
    workspace_digest,
)

from cf_support import EXAMPLE, Backend, app_db_url, session_id_from
from cofounder.storage import Database, EventLog

# (crash point, does the killed turn's request happen before the kill and go unrecorded?)
CRASH_POINTS = [
    ("think.before_model#1", False),
    ("think.after_model#6", True),
    ("act.before_tools#2", False),
    ("act.after_tool#7", False),
    ("act.after_tool#19", False),
    ("act.before_snapshot#4", False),
    ("act.after_snapshot#6", False),
    ("commit.before#3", False),
    ("commit.after#13", False),
    ("finish.before#1", False),
]
NO_SCREENSHOTS = {"COFOUNDER_CHROMIUM": "/nonexistent/chromium"}


class Baseline:
    def __init__(self, backend: Backend, **extra_env: str) -> None:
        result = backend.cli("build", str(EXAMPLE), **extra_env)
        assert result.returncode == 0, result.stdout + result.stderr
        self.session_id = session_id_from(result.stdout)
        self.workspace = workspace_digest(_workspace(backend, self.session_id))
        self.transcript = transcript_of(app_db_url(backend), self.session_id)
        self.turns = requested_turns(backend.home, self.session_id)
        self.step_events = step_events(app_db_url(backend), self.session_id)


def _workspace(backend: Backend, session_id: str) -> Path:
    return backend.home / "sessions" / session_id / "workspace"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    return Baseline(Backend("sqlite", tmp_path_factory.mktemp("baseline"), None), **NO_SCREENSHOTS)


def _crash_then_resume(backend: Backend, point: str) -> str:
    crashed = backend.cli("build", str(EXAMPLE), COFOUNDER_CRASH_AT=point, **NO_SCREENSHOTS)
    assert crashed.returncode == -signal.SIGKILL, (
        f"expected a SIGKILL at {point}, got {crashed.returncode}\n{crashed.stderr}"
    )
    session_id = session_id_from(crashed.stdout)
    status = backend.cli("status", session_id, "--json")
    assert '"state": "interrupted"' in status.stdout
    resumed = backend.cli("resume", session_id, **NO_SCREENSHOTS)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    return session_id


def _assert_same_as_baseline(
    backend: Backend, session_id: str, baseline: Baseline, extra_request: bool
) -> None:
    assert workspace_digest(_workspace(backend, session_id)) == baseline.workspace
    transcript = transcript_of(app_db_url(backend), session_id)
    assert transcript == baseline.transcript
    assert tool_pairing_problems(transcript) == []
    turns = requested_turns(backend.home, session_id)
    expected = len(baseline.turns) + (1 if extra_request else 0)
    assert sorted(set(turns)) == sorted(baseline.turns)
    assert len(turns) == expected, f"model turns requested: {turns}"
    events = event_seqs_and_types(app_db_url(backend), session_id)
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    types = [t for _, t in events]
    assert types.count("session_resumed") == 1
    assert types.count("session_finished") == 1 and types[-1] == "session_finished"
    # What the founder saw while steps ran: each once, as in the uninterrupted run.
    assert step_events(app_db_url(backend), session_id) == baseline.step_events


@pytest.mark.parametrize(("point", "extra_request"), CRASH_POINTS, ids=[p for p, _ in CRASH_POINTS])
def test_sigkill_at_point_then_resume_matches_uninterrupted_run(
    sqlite_backend: Backend, baseline: Baseline, point: str, extra_request: bool
) -> None:
    session_id = _crash_then_resume(sqlite_backend, point)
    _assert_same_as_baseline(sqlite_backend, session_id, baseline, extra_request)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("point", "extra_request"),
    [CRASH_POINTS[1], CRASH_POINTS[6]],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_sigkill_then_resume_on_postgres(
    tmp_path: Path, postgres_url: str, baseline: Baseline, point: str, extra_request: bool
) -> None:
    backend = Backend("postgres", tmp_path / "data", postgres_url)
    session_id = _crash_then_resume(backend, point)
    _assert_same_as_baseline(backend, session_id, baseline, extra_request)


def test_repeated_external_sigkills_at_random_moments(
    sqlite_backend: Backend, baseline: Baseline
) -> None:
    """Kill from outside, whenever the event log has grown, three times over; then finish."""
    backend = sqlite_backend
    proc = backend.popen("build", str(EXAMPLE), **NO_SCREENSHOTS)
    assert proc.stdout is not None
    session_id = proc.stdout.readline().removeprefix("session: ").strip()
    db = Database(app_db_url(backend))
    log = EventLog(db)
    for kill_after_events in (9, 40, 75):
        deadline = time.monotonic() + 60
        while len(log.read(session_id, limit=100_000)) < kill_after_events:
            assert time.monotonic() < deadline, "the build stalled"
            assert proc.poll() is None, "the build ended before it could be killed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = backend.popen("resume", session_id, **NO_SCREENSHOTS)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=180)
    db.close()
    assert proc.returncode == 0, out + err
    assert workspace_digest(_workspace(backend, session_id)) == baseline.workspace
    transcript = transcript_of(app_db_url(backend), session_id)
    assert transcript == baseline.transcript
    turns = requested_turns(backend.home, session_id)
    assert sorted(set(turns)) == sorted(baseline.turns)
    # A kill can land between a response arriving and its being recorded: at most one repeat each.
    assert len(turns) <= len(baseline.turns) + 3
