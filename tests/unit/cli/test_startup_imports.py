"""Start-up stays lean: what each command imports, checked in a fresh interpreter.

Every module a command imports is paid on every call (benchmarks/cli_startup.py measures it);
a top-level import in the wrong module brings DBOS or the snapshot store back into `status`.
The read-only commands also skip configuring structlog (`cli.main.QUIET_COMMANDS`), which is
sound only while nothing they import can log: so none of them may import structlog at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cofounder.cli.main import QUIET_COMMANDS
from cofounder.events import Narration
from cofounder.storage import Database, EventLog
from cofounder.storage.documents import upsert_document_in
from cofounder.storage.sessions import NewSession, insert_in

SID = "5e55100c0ffe"
# Never needed by a command that only reads (the roots of their packages; YAML reads projects
# and scripted trajectories).
RUNNING_ONLY = ("dbos", "structlog", "alembic", "anthropic", "openai", "obstore", "e2b", "yaml")
# Not needed before a command runs at all.
COMMAND_ONLY = ("sqlalchemy", "pydantic", "pydantic_settings", "cofounder.config")
QUIET_CASES = {
    "sessions": ["sessions"],
    "status": ["status", SID],
    "events": ["events", SID],
    "workspace": ["workspace", SID],
    "docs": ["docs", SID],
    "escalations": ["escalations"],
    "budget": ["budget", "founder"],
    "models": ["models"],
    "workers": ["workers"],
}

_PROBE = """
import json, os, sys
sys.argv = ["cofounder", *json.loads(os.environ["PROBE_ARGS"])]
def leave(code):  # a quiet command's fast exit, made to return here for the record
    raise SystemExit(code)
os._exit = leave
from cofounder.cli import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
with open(os.environ["PROBE_OUT"], "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding one session with an event and a document, written by the stores."""
    home = tmp_path_factory.mktemp("home")
    db = Database(f"sqlite:///{home / 'cofounder.sqlite'}")
    db.migrate()
    with db.transaction() as session:
        insert_in(
            session,
            NewSession(
                id=SID,
                name="Streaks",
                owner="founder",
                tier="bootstrapper",
                model_spec="scripted:t.yaml",
                project_json="{}",
                workspace=str(home / "sessions" / SID / "workspace"),
                max_tool_calls=10,
                max_wall_seconds=60.0,
            ),
        )
        upsert_document_in(session, SID, "overview", "A streak counter.", iteration=0)
    EventLog(db).append(SID, Narration(iteration=0, message="planning"))
    db.close()
    return home


def _imported(home: Path, args: list[str], tmp_path: Path) -> set[str]:
    """The modules `cofounder ARGS` has loaded by its end; it must exit 0."""
    out = tmp_path / "probe.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFOUNDER_")}
    env |= {"COFOUNDER_HOME": str(home), "PROBE_ARGS": json.dumps(args), "PROBE_OUT": str(out)}
    run = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.exists(), run.stderr
    result = json.loads(out.read_text())
    assert result["code"] == 0, run.stdout + run.stderr
    return set(result["modules"])


def _roots(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


@pytest.mark.parametrize("args", [["--version"], ["-h"]])
def test_version_and_help_import_no_settings_database_or_engine(
    home: Path, tmp_path: Path, args: list[str]
) -> None:
    modules = _imported(home, args, tmp_path)
    assert _roots(modules, RUNNING_ONLY + COMMAND_ONLY) == []


def test_every_quiet_command_has_a_case() -> None:
    assert set(QUIET_CASES) == QUIET_COMMANDS


@pytest.mark.parametrize("name", sorted(QUIET_CASES))
def test_read_only_commands_import_nothing_that_runs_or_logs(
    home: Path, tmp_path: Path, name: str
) -> None:
    modules = _imported(home, QUIET_CASES[name], tmp_path)
    assert _roots(modules, RUNNING_ONLY) == []


def test_any_other_command_configures_logging_first(home: Path, tmp_path: Path) -> None:
    """The other side of QUIET_COMMANDS: `init` is not listed, so structlog is set up for it."""
    modules = _imported(home, ["init", str(tmp_path / "project")], tmp_path)
    assert "cofounder.logs" in modules and "structlog" in modules


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFOUNDER_")}
    env["COFOUNDER_HOME"] = str(home)
    env.pop("PYTHONUNBUFFERED", None)  # block-buffered output into a pipe, as users have it
    return subprocess.run(
        [sys.executable, "-m", "cofounder", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_quiet_commands_fast_exit_keeps_its_output_and_exit_code(home: Path) -> None:
    shown = _cli(home, "sessions", "--json")  # printed without flush: buffered until exit
    assert shown.returncode == 0, shown.stderr
    assert [json.loads(line)["session_id"] for line in shown.stdout.splitlines()] == [SID]
    refused = _cli(home, "status", "nope")
    assert refused.returncode == 2
    assert "error: no session with id 'nope'" in refused.stderr
