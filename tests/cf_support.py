"""Test support shared by every test folder: backends, the CLI runner, DB helpers.

A plain module (not conftest) so tests can import it by a name no other folder shadows."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from cofounder.llm import Message

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "habit-tracker" / "cofounder.yaml"
PG_URL_ENV = "COFOUNDER_TEST_POSTGRES_URL"


@dataclass
class Backend:
    """Where one test's data lives: a data dir plus, for PostgreSQL, a fresh database."""

    name: str
    home: Path
    database_url: str | None

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COFOUNDER_")}
        env["COFOUNDER_HOME"] = str(self.home)
        if self.database_url:
            env["COFOUNDER_DATABASE_URL"] = self.database_url
        env.update(extra)
        return env

    def cli(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return self.cli_within(180, *args, **extra_env)

    def cli_within(
        self, timeout: float, /, *args: str, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        """`cli` with a time limit of its own (a keyword `timeout` would make every
        `cli(..., **env)` with a dict of environment variables ill-typed)."""
        return subprocess.run(
            [sys.executable, "-m", "cofounder", *args],
            env=self.env(**extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )

    def popen(self, *args: str, **extra_env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "cofounder", *args],
            env=self.env(**extra_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )


def app_db_url(backend: Backend) -> str:
    return backend.database_url or f"sqlite:///{backend.home / 'cofounder.sqlite'}"


def transcript_of(backend: Backend, session_id: str) -> list[Message]:
    """A session's conversation as stored (what its model is sent)."""
    from cofounder.storage import Database, Transcript

    db = Database(app_db_url(backend))
    try:
        return Transcript(db).messages(session_id)
    finally:
        db.close()


def wait_for_state(backend: Backend, session_id: str, state: str, timeout: float = 120) -> None:
    """Until the session's row says `state`. An event is written before the state it leads to
    (`waiting_for_input` comes a few milliseconds before the row says `waiting`): a kill timed
    by the event can land in between."""
    import time

    from cofounder.storage import Database, SessionStore

    db = Database(app_db_url(backend))
    try:
        deadline = time.monotonic() + timeout
        while True:
            record = SessionStore(db).get(session_id)
            if record is not None and record.state == state:
                return
            assert time.monotonic() < deadline, f"never {state}: {record}"
            time.sleep(0.02)
    finally:
        db.close()


def texts_in(messages: list[Message], text: str) -> int:
    """How many text blocks of `messages` contain `text`."""
    return sum(text in getattr(block, "text", "") for m in messages for block in m.content)


def session_id_from(stdout: str) -> str:
    first = stdout.splitlines()[0]
    assert first.startswith("session: "), f"first line should name the session: {first!r}"
    return first.removeprefix("session: ").strip()


def scripted_project(folder: Path, turns: list[dict[str, Any]], **fields: Any) -> Path:
    """A project file (owner alice) whose model replays `turns`; `fields` override its own."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trajectory.yaml").write_text(yaml.safe_dump({"turns": turns}))
    path = folder / "cofounder.yaml"
    project = {
        "name": "Streaks",
        "goal": "print a streak",
        "idea_brief": {"what": "streaks"},
        "understanding_qna": [],
        "owner": "alice",
        "model": "scripted:trajectory.yaml",
    }
    path.write_text(yaml.safe_dump(project | fields))
    return path
