"""A rig for the takeover tests: `cofounder worker` processes to start and kill, detached
scripted builds, who holds which session (read from rows), and uninterrupted reference runs to
compare each finished session with."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cf_support import REPO, Backend, app_db_url, scripted_project, session_id_from
from cofounder.storage import Database, EventLog
from cofounder.storage.tables import SessionRow

# The session comparisons the crash tests use (a folder pytest puts on the path only for them).
sys.path.append(str(REPO / "tests" / "integration" / "engine"))
from crash_support import (
    step_events,
    tool_pairing_problems,
    transcript_of,
    workspace_digest,
)

# Each bash call sleeps this long inside the sandbox, so kills land in the middle of runs.
NAP_S = 0.3


def _call(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "input": args}


def trajectory(variant: int, turns: int) -> list[dict[str, Any]]:
    """Turns that write, chmod, append to and edit files, then a closing reply."""
    out: list[dict[str, Any]] = []
    for k in range(turns):
        part, mode = f"app/part{k}.py", 755 if k % 2 else 600
        calls = [
            _call("write_file", path=part, content=f"PART = {k}\n" * (1 + variant)),
            _call("bash", command=f"sleep {NAP_S}; echo {variant}-{k} >> log; chmod {mode} {part}"),
        ]
        if k % 3 == 2:
            before, after = f"PART = {k - 1}\n", f"PART = {k - 1}  # edited\n"
            calls.append(
                _call("edit_file", path=f"app/part{k - 1}.py", old_string=before,
                      new_string=after, replace_all=True)
            )  # fmt: skip
        out.append({"tool_calls": calls})
    out.append({"text": "Done."})
    return out


def project(folder: Path, variant: int, turns: int, owner: str) -> Path:
    """One owner per project, so no per-owner or per-project limit holds a build back."""
    return scripted_project(folder, trajectory(variant, turns), owner=owner, tier="cto_scale")


@dataclass
class RunningWorker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def ready(self) -> bool:
        """It logs `worker_started` once DBOS is up and its dispatcher runs."""
        return "worker_started" in self.log.read_text(errors="replace")

    def logged(self, event: str) -> list[dict[str, Any]]:
        """The `event` lines of its log (JSON lines), in order."""
        lines = self.log.read_text(errors="replace").splitlines()
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        return [entry for entry in entries if entry.get("event") == event]


@dataclass
class WorkerPool:
    """`cofounder worker` processes sharing one backend; their logs go to files."""

    backend: Backend
    logs: Path
    env: dict[str, str]
    concurrency: int
    live: list[RunningWorker] = field(default_factory=list)
    ended: list[RunningWorker] = field(default_factory=list)

    def start(self) -> RunningWorker:
        name = f"w{len(self.live) + len(self.ended)}"
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cofounder", "worker", "--name", name,
                 "--concurrency", str(self.concurrency), "--drain-seconds", "5"],
                env=self.backend.env(**self.env), stdout=sink, stderr=subprocess.STDOUT, cwd=REPO,
            )  # fmt: skip
        worker = RunningWorker(name, proc, log)
        self.live.append(worker)
        return worker

    def wait_ready(self, worker: RunningWorker, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not worker.ready():
            assert worker.proc.poll() is None, f"{worker.name} exited early:\n{self.tail(worker)}"
            assert time.monotonic() < deadline, f"{worker.name} never started"
            time.sleep(0.05)

    def kill(self, worker: RunningWorker, sig: signal.Signals = signal.SIGKILL) -> None:
        """Kill and reap it (an unreaped zombie would still look alive to the reaper)."""
        worker.proc.send_signal(sig)
        worker.proc.wait()
        self.retire(worker)

    def retire(self, worker: RunningWorker) -> None:
        self.live.remove(worker)
        self.ended.append(worker)

    def exited(self) -> list[RunningWorker]:
        """Workers that ended by themselves since the last call (fenced, crashed)."""
        gone = [w for w in self.live if w.proc.poll() is not None]
        for worker in gone:
            self.retire(worker)
        return gone

    def stop_all(self) -> None:
        for worker in self.live:
            worker.proc.send_signal(signal.SIGTERM)
        for worker in list(self.live):
            try:
                worker.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
            self.retire(worker)

    @staticmethod
    def tail(worker: RunningWorker) -> str:
        return worker.log.read_text(errors="replace")[-3000:]

    @property
    def pids(self) -> dict[int, str]:
        return {w.proc.pid: w.name for w in [*self.live, *self.ended]}


@contextmanager
def worker_pool(backend: Backend, logs: Path, concurrency: int, **env: str) -> Iterator[WorkerPool]:
    pool = WorkerPool(backend, logs, env, concurrency)
    try:
        yield pool
    finally:
        for worker in pool.live:
            worker.proc.kill()
            worker.proc.wait()


def detach_builds(backend: Backend, projects: list[Path], **env: str) -> list[str]:
    """`cofounder build --detach` for every project at once; their session ids, in order."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cofounder", "build", str(p), "--detach"],
            env=backend.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for p in projects
    ]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
        ids.append(session_id_from(out))
    return ids


@dataclass(frozen=True)
class Row:
    worker: str | None
    state: str
    outcome: str | None


class Rows:
    """The sessions' rows as the workers leave them."""

    def __init__(self, backend: Backend) -> None:
        self.db = Database(app_db_url(backend))

    def sessions(self) -> dict[str, Row]:
        with self.db.transaction() as session:
            rows = session.execute(
                select(SessionRow.id, SessionRow.worker, SessionRow.state, SessionRow.outcome)
            ).all()
        return {i: Row(w, s, o) for i, w, s, o in rows}

    def held_by(self, worker: str) -> set[str]:
        return {
            i for i, r in self.sessions().items() if r.worker == worker and r.state == "running"
        }

    def events(self, session_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        return [
            (e.seq, e.type, e.payload) for e in EventLog(self.db).read(session_id, limit=100_000)
        ]

    def wait_all_ended(self, ids: list[str], pool: WorkerPool, timeout: float) -> dict[str, Row]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.sessions()
            if all(rows[i].state == "finished" for i in ids):
                return rows
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {w.name}\n{pool.tail(w)}" for w in pool.live)
                raise AssertionError(f"sessions did not finish: {rows}\n{tails}")
            time.sleep(0.1)

    def close(self) -> None:
        self.db.close()


def requests_by_turn(home: Path, session_id: str) -> dict[int, list[int]]:
    """turn index -> the pids that requested it, in order (the scripted model's log)."""
    log = home / "sessions" / session_id / "model-requests.jsonl"
    by_turn: dict[int, list[int]] = {}
    for line in log.read_text().splitlines():
        entry = json.loads(line) if line.strip() else {}
        if "turn" in entry and not entry.get("failed"):
            by_turn.setdefault(entry["turn"], []).append(entry["pid"])
    return by_turn


def repeated_requests(by_turn: dict[int, list[int]], dead_pids: set[int]) -> list[str]:
    """Turns requested more than once, beyond one in flight per worker that died: a repeat
    must come from a worker that died (its request was never recorded), once per worker."""
    problems = []
    wasted: Counter[int] = Counter()
    for turn, pids in sorted(by_turn.items()):
        for pid in pids[:-1]:
            wasted[pid] += 1
            if pid not in dead_pids:
                problems.append(f"turn {turn} requested again after a live worker ({pid}) did")
    problems += [f"worker {pid} had {n} requests in flight" for pid, n in wasted.items() if n > 1]
    return problems


@dataclass(frozen=True)
class Finished:
    """What a finished session left: to compare with an uninterrupted run's."""

    workspace: dict[str, str]
    transcript: list[str]
    shown: Counter[tuple[str, int, str]]  # the step events the founder saw
    commits: int
    turns: list[int]

    @classmethod
    def read(cls, backend: Backend, session_id: str) -> Finished:
        rows = Rows(backend)
        try:
            types = [t for _, t, _ in rows.events(session_id)]
        finally:
            rows.close()
        return cls(
            workspace=workspace_digest(backend.home / "sessions" / session_id / "workspace"),
            transcript=transcript_of(app_db_url(backend), session_id),
            shown=step_events(app_db_url(backend), session_id),
            commits=types.count("iteration_committed"),
            turns=sorted(requests_by_turn(backend.home, session_id)),
        )

    def differences(self, got: Finished) -> list[str]:
        """How `got` differs from this uninterrupted run (empty: not at all)."""
        paths = sorted(self.workspace.keys() | got.workspace.keys())
        problems = [
            f"workspace {path}: {got.workspace.get(path)} (reference {self.workspace.get(path)})"
            for path in paths
            if got.workspace.get(path) != self.workspace.get(path)
        ]
        if got.transcript != self.transcript:
            problems.append("the transcript differs")
        if got.shown != self.shown:
            problems.append(
                f"step events: extra {got.shown - self.shown}, lost {self.shown - got.shown}"
            )
        if (got.commits, got.turns) != (self.commits, self.turns):
            ours, theirs = (got.commits, got.turns), (self.commits, self.turns)
            problems.append(f"commits, turns {ours} (reference {theirs})")
        return problems + tool_pairing_problems(got.transcript)


class References:
    """Uninterrupted runs of each variant (`cofounder build`, SQLite, a home of their own),
    started at once in the background so they overlap the runs under test."""

    def __init__(self, root: Path, turns: int, variants: int) -> None:
        self.backends: list[Backend] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.outputs: list[Path] = []
        self.done: dict[int, Finished] = {}
        for variant in range(variants):
            folder = root / f"ref{variant}"
            backend = Backend("sqlite", folder / "data", None)
            path = project(folder / "project", variant, turns, "reference")
            self.backends.append(backend)
            self.outputs.append(folder / "build.out")
            with self.outputs[-1].open("wb") as sink:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "cofounder", "build", str(path)],
                        env=backend.env(),
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        cwd=REPO,
                    )
                )

    def get(self, variant: int) -> Finished:
        if variant not in self.done:
            returncode = self.procs[variant].wait(timeout=300)
            out = self.outputs[variant].read_text(errors="replace")
            assert returncode == 0, out[-3000:]
            session_id = session_id_from(out)
            self.done[variant] = Finished.read(self.backends[variant], session_id)
        return self.done[variant]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
