"""Helpers to compare whole build sessions: workspace bytes, transcript, events, model requests."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cf_support import EXAMPLE, Backend
from cofounder.storage import Database, EventLog, Transcript

CACHE_DIRS = {"__pycache__", ".pytest_cache"}
_VOLATILE = [
    (re.compile(r"\b\d+(\.\d+)?\s?(ms|s)\b"), "<dur>"),
    (re.compile(r"/tmp/tmp\.[A-Za-z0-9]+"), "/tmp/<tmp>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"), "<ts>"),
    (re.compile(r"\[\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d\]"), "[<http-log-time>]"),
]


def workspace_digest(root: Path) -> dict[str, str]:
    """path -> mode + sha256 for every file and symlink, caches aside."""
    digest: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in CACHE_DIRS]
        for name in filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                digest[rel] = "link:" + os.readlink(full)
            else:
                mode = oct(full.stat().st_mode & 0o777)
                digest[rel] = mode + ":" + hashlib.sha256(full.read_bytes()).hexdigest()
        for name in dirnames:
            digest[(Path(dirpath) / name).relative_to(root).as_posix() + "/"] = "dir"
    return digest


def normalise(text: str) -> str:
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text


def transcript_of(db_url: str, session_id: str) -> list[str]:
    db = Database(db_url)
    try:
        return [normalise(m.model_dump_json()) for m in Transcript(db).messages(session_id)]
    finally:
        db.close()


def event_seqs_and_types(db_url: str, session_id: str) -> list[tuple[int, str]]:
    db = Database(db_url)
    try:
        return [(e.seq, e.type) for e in EventLog(db).read(session_id, limit=100_000)]
    finally:
        db.close()


# What a step shows the founder while it runs (before its result is recorded). A preview
# coming back in the next run is news, not a repeat: not counted.
STEP_EVENT_TYPES = frozenset(
    {
        "thinking", "assistant_text", "tool_started", "tool_called", "narration",
        "phase_started", "phase_completed", "documentation_updated",
        "screenshot_taken",
    }
)  # fmt: skip


def step_events(db_url: str, session_id: str) -> Counter[tuple[str, int, str]]:
    """Each step event's (type, iteration, tool use), counted: after a crash and a resume it
    must equal an uninterrupted run's (nothing shown twice, nothing lost)."""
    db = Database(db_url)
    try:
        return Counter(
            (e.type, int(e.payload.get("iteration", -1)), str(e.payload.get("tool_use_id", "")))
            for e in EventLog(db).read(session_id, limit=100_000)
            if e.type in STEP_EVENT_TYPES
        )
    finally:
        db.close()


def requested_turns(home: Path, session_id: str) -> list[int]:
    log = home / "sessions" / session_id / "model-requests.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [e["turn"] for e in entries if "turn" in e and not e.get("failed")]


def tool_pairing_problems(messages_json: list[str]) -> list[str]:
    """Every assistant tool_use must be answered, in order, by the next user message."""
    problems: list[str] = []
    messages = [json.loads(m) for m in messages_json]
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        uses = [b["id"] for b in message["content"] if b["type"] == "tool_use"]
        if not uses:
            continue
        if i + 1 >= len(messages):
            problems.append(f"message {i}: tool_use without any following results")
            continue
        answer = messages[i + 1]
        results = [b["tool_use_id"] for b in answer["content"] if b["type"] == "tool_result"]
        if answer["role"] != "user" or results != uses:
            problems.append(f"message {i}: uses {uses} answered by {results}")
    return problems


# -- moving a session between machines -------------------------------------------------------
# A "machine" is a data dir; only the shared database and object store outlive it.


def event_count(db_url: str, session_id: str) -> int:
    db = Database(db_url)
    try:
        return len(EventLog(db).read(session_id, limit=100_000))
    finally:
        db.close()


def wait_for_events(
    db_url: str, session_id: str, count: int, proc: subprocess.Popen[str], timeout: float = 180
) -> None:
    """Until the session's event log holds `count` events; fails if `proc` ends first.

    Reads only the events new since the last look: re-reading the whole log every 10 ms let a
    fast build run tens of events past `count` on a loaded machine before the kill came."""
    db = Database(db_url)
    try:
        deadline = time.monotonic() + timeout
        seen, last_seq = 0, 0
        while True:
            fresh = EventLog(db).read(session_id, after_seq=last_seq, limit=100_000)
            seen += len(fresh)
            last_seq = fresh[-1].seq if fresh else last_seq
            if seen >= count:
                return
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"the run ended (rc {proc.returncode}) early:\n{out}{err}")
            assert time.monotonic() < deadline, "the build stalled"
            time.sleep(0.01)
    finally:
        db.close()


@dataclass
class MovedRun:
    session_id: str
    last_home: Path  # the data dir of the machine that finished the session
    kills: list[int] = field(default_factory=list)  # event counts at which each kill came

    @property
    def workspace(self) -> Path:
        return self.last_home / "sessions" / self.session_id / "workspace"


def remove_machine(home: Path, within: float = 30) -> None:
    """Delete a killed machine's data dir. Its sandboxes die with their parent, but a moment
    later: one still writing (a test run's __pycache__) made a single rmtree fail with
    'Directory not empty' on a loaded machine."""
    deadline = time.monotonic() + within
    while True:
        try:
            shutil.rmtree(home)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def run_across_machines(
    machines: list[Backend],
    database_url: str,
    kill_after: list[int],
    extra: dict[str, str],
    jitter: Callable[[], float] = lambda: 0.0,
) -> MovedRun:
    """Build the example on machines[0]; each time the event log reaches the next count in
    `kill_after` (and the current process has written at least one event), SIGKILL it, delete
    its whole data dir and resume on the next machine; then let the last one finish."""
    assert len(machines) == len(kill_after) + 1
    proc = machines[0].popen("build", str(EXAMPLE), **extra)
    assert proc.stdout is not None
    session_id = proc.stdout.readline().removeprefix("session: ").strip()
    assert session_id, proc.communicate()
    run = MovedRun(session_id, machines[-1].home)
    started_at = 0
    for machine, next_machine, count in zip(machines, machines[1:], kill_after, strict=False):
        wait_for_events(database_url, session_id, max(count, started_at + 1), proc)
        time.sleep(jitter())
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run.kills.append(event_count(database_url, session_id))
        finished = event_seqs_and_types(database_url, session_id)[-1][1] == "session_finished"
        assert not finished, (
            f"the kill planned after {count} events landed after the build finished "
            f"({run.kills[-1]} events): the machine was too slow to stop it in time"
        )
        remove_machine(machine.home)  # the machine is gone: workspace, session dir, caches
        started_at = run.kills[-1]
        proc = next_machine.popen("resume", session_id, **extra)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out + err
    return run
