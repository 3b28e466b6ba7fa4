"""Budget pacing end to end, with a priced scripted model, tiny allowances and windows of seconds:
the ledger matches the reported usage to the microdollar, a window's spend never exceeds its
allowance (also with two sessions of one owner at once), sleep/wake cycles repeat, a sleeping
session survives SIGKILL and wakes at its recorded time, `wake` + `top-up` wake it on demand,
and impossible budgets are refused clearly."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cf_support import Backend, app_db_url, session_id_from
from cofounder.storage import Database, EventLog

TURNS = 12
INPUT, OUTPUT = 2_000, 200  # per turn; under the engine's worst-case estimate, as in reality
PRICE = {"scripted:*": {"input": 1, "output": 2}}  # USD per million tokens
TURN_COST = INPUT * 1 + OUTPUT * 2  # microdollars: 2,400


def _project(tmp_path: Path, owner: str = "alice") -> Path:
    turns: list[dict[str, object]] = [
        {
            "tool_calls": [{"name": "narrate", "input": {"message": f"step {n}"}}],
            "usage": {"input_tokens": INPUT, "output_tokens": OUTPUT},
        }
        for n in range(TURNS)
    ]
    turns.append({"text": "done", "usage": {"input_tokens": INPUT, "output_tokens": OUTPUT}})
    (tmp_path / "trajectory.yaml").write_text(yaml.safe_dump({"turns": turns}))
    path = tmp_path / "cofounder.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "Paced",
                "goal": "pace",
                "idea_brief": {"what": "budget"},
                "understanding_qna": [],
                "owner": owner,
                "model": "scripted:trajectory.yaml",
            }
        )
    )
    return path


def _env(allowance_usd: str, window_s: int) -> dict[str, str]:
    return {
        "COFOUNDER_PRICES": json.dumps(PRICE),
        "COFOUNDER_ALLOWANCES": json.dumps({"bootstrapper": allowance_usd}),
        "COFOUNDER_BUDGET_WINDOW_SECONDS": str(window_s),
        "COFOUNDER_MAX_TOKENS": "1000",
    }


def _events(backend: Backend, session_id: str) -> list[tuple[str, dict[str, object], datetime]]:
    db = Database(app_db_url(backend))
    try:
        return [(e.type, e.payload, e.ts) for e in EventLog(db).read(session_id, limit=100_000)]
    finally:
        db.close()


def _ledger(backend: Backend) -> list[tuple[str, str, int, str]]:
    db = Database(app_db_url(backend))
    try:
        with db.transaction() as session:
            rows = session.execute(
                text(
                    "SELECT session_id, purpose, cost_microdollars, window_start "
                    "FROM ledger_entries ORDER BY created_at"
                )
            ).all()
            return [(r[0], r[1], int(r[2]), str(r[3])) for r in rows]
    finally:
        db.close()


def _per_window(entries: list[tuple[str, str, int, str]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for _, _, cost, window in entries:
        totals[window] = totals.get(window, 0) + cost
    return totals


def test_a_tiny_allowance_sleeps_and_wakes_until_the_build_completes(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    allowance = 9_000  # microdollars: three turns (+ reservations) per window
    result = sqlite_backend.cli_within(
        300, "build", str(_project(tmp_path)), **_env(str(allowance / 1e6), window_s=2)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)
    events = _events(sqlite_backend, session_id)
    types = [t for t, _, _ in events]
    assert types[-1] == "session_finished" and events[-1][1]["outcome"] == "completed"
    sleeps = [(p, ts) for t, p, ts in events if t == "sleeping"]
    wakes = [(p, ts) for t, p, ts in events if t == "waking"]
    assert len(sleeps) >= 3 and len(wakes) == len(sleeps)
    for (slept, _), (woke, woke_at) in zip(sleeps, wakes, strict=True):
        wake_at = datetime.fromisoformat(str(slept["wake_at"]))
        assert woke["wake_at"] == slept["wake_at"] and woke_at >= wake_at
    assert "budget_exhausted" in types and "budget_updated" in types
    entries = _ledger(sqlite_backend)
    # Exactly one entry per model call, priced from the reported usage to the microdollar.
    assert len(entries) == TURNS + 1
    assert sum(cost for _, _, cost, _ in entries) == (TURNS + 1) * TURN_COST
    assert all(total <= allowance for total in _per_window(entries).values())
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["spend_microdollars"] == (TURNS + 1) * TURN_COST


def test_two_sessions_of_one_owner_never_overshoot_the_allowance(
    backend: Backend, tmp_path: Path
) -> None:
    allowance = 12_000
    env = _env(str(allowance / 1e6), window_s=3600)
    projects: list[Path] = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        projects.append(_project(tmp_path / name))
    runs = [backend.popen("build", str(p), **env) for p in projects]
    db = Database(app_db_url(backend))
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                with db.transaction() as session:
                    asleep = session.execute(
                        text("SELECT count(*) FROM sessions WHERE state = 'sleeping'")
                    ).scalar_one()
            except DBAPIError:  # the first process is still creating the database
                continue
            if asleep == 2:
                break
        else:
            for run in runs:
                run.kill()
            outputs = [run.communicate() for run in runs]
            pytest.fail(f"both sessions should have gone to sleep; their output: {outputs}")
    finally:
        db.close()
        for run in runs:
            if run.poll() is None:
                run.kill()
            run.wait()
    entries = _ledger(backend)
    assert entries, "the owner's allowance was used"
    spent = sum(cost for _, _, cost, _ in entries)
    assert spent <= allowance
    assert spent > allowance - 2 * TURN_COST - 2 * 3_000  # it did use what it was given


def test_sigkill_while_sleeping_then_resume_wakes_at_the_recorded_time(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    env = _env("0.012", window_s=3)
    for attempt in range(5):
        # Its sleep lasts to the end of a 3 s window: sometimes a few milliseconds. Frozen the
        # moment it is seen asleep, a build still asleep then is killed asleep; one that had
        # already woken is another try (the test is about a kill during the sleep).
        (tmp_path / str(attempt)).mkdir()
        run = sqlite_backend.popen("build", str(_project(tmp_path / str(attempt))), **env)
        assert run.stdout is not None
        session_id = run.stdout.readline().removeprefix("session: ").strip()
        deadline = time.monotonic() + 60
        sleeping: dict[str, object] = {}
        while time.monotonic() < deadline and not sleeping:
            sleeping = next(
                (p for t, p, _ in _events(sqlite_backend, session_id) if t == "sleeping"), {}
            )
            time.sleep(0.05)
        assert sleeping, "the build should go to sleep"
        os.kill(run.pid, signal.SIGSTOP)  # it wakes no earlier than its wake time
        still_asleep = datetime.fromisoformat(str(sleeping["wake_at"])) > datetime.now(UTC)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        if still_asleep:
            break
    else:
        pytest.fail("5 builds had woken before they could be stopped")
    wake_at = datetime.fromisoformat(str(sleeping["wake_at"]))
    status = json.loads(sqlite_backend.cli("status", session_id, "--json", **env).stdout)
    assert status["state"] == "sleeping" and status["wake_at"] == sleeping["wake_at"]
    resumed = sqlite_backend.cli("resume", session_id, **env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    events = _events(sqlite_backend, session_id)
    first_wake = next((p, ts) for t, p, ts in events if t == "waking")
    assert first_wake[0]["wake_at"] == sleeping["wake_at"] and first_wake[1] >= wake_at
    assert events[-1][1]["outcome"] == "completed"


def test_a_top_up_wakes_the_owners_sleeping_build(sqlite_backend: Backend, tmp_path: Path) -> None:
    env = _env("0.012", window_s=3600)
    run = sqlite_backend.popen("build", str(_project(tmp_path)), **env)
    try:
        assert run.stdout is not None
        session_id = run.stdout.readline().removeprefix("session: ").strip()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(t == "sleeping" for t, _, _ in _events(sqlite_backend, session_id)):
                break
            time.sleep(0.05)
        budget = json.loads(sqlite_backend.cli("budget", "alice", "--json", **env).stdout)
        assert budget["allowance_microdollars"] == 12_000
        assert budget["spent_microdollars"] > 0 and budget["spent_microdollars"] % TURN_COST == 0
        topped = sqlite_backend.cli("budget", "top-up", "alice", "1", "--json", **env)
        assert json.loads(topped.stdout)["allowance_microdollars"] == 1_012_000
        # No `cofounder wake` needed: the top-up makes the sleeper due now.
        assert run.wait(timeout=60) == 0
        waking = [p for t, p, _ in _events(sqlite_backend, session_id) if t == "waking"]
        assert waking and waking[0]["on_request"] is True
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COFOUNDER_ALLOWANCES": json.dumps({"bootstrapper": 0})}, "has no budget"),
        ({"COFOUNDER_ALLOWANCES": json.dumps({"bootstrapper": -1})}, "greater than or equal"),
    ],
)
def test_a_zero_or_bad_allowance_is_refused_at_start(
    sqlite_backend: Backend, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = sqlite_backend.cli("build", str(_project(tmp_path)), **env)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (sqlite_backend.home / "sessions").exists() or not any(
        (sqlite_backend.home / "sessions").iterdir()
    )


def test_a_call_dearer_than_the_whole_allowance_is_a_hard_stop(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    env = {**_env("0.006", window_s=3600), "COFOUNDER_MAX_TOKENS": "100000"}
    result = sqlite_backend.cli("build", str(_project(tmp_path)), **env)
    assert result.returncode == 1
    session_id = session_id_from(result.stdout)
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["outcome"] == "budget_too_small"
    assert "more than the whole allowance" in status["outcome_reason"]
    assert _ledger(sqlite_backend) == []
