"""CLI start-up: every read-only command against a bare `python -c pass`, same interpreter.

A founder types `cofounder status` far more often than `cofounder build`, so what each command
costs before it does anything is what the CLI feels like. Figures (issue 13, item 8):

- each read-only command's median wall time over --runs child processes, and its ratio to a
  bare `python -c pass` of the same environment (goal: every ratio <= 5);
- `build` to its `session:` line on stdout (goal <= 0.3 s);
- crash -> next model call: a build SIGKILLed at a chosen point (COFOUNDER_CRASH_AT, so the kill
  lands mid-run without racing a timer), then `resume` started; the time to the scripted
  model's first logged request from the new process, process start included (goal <= 1 s).

The commands read a data dir holding one finished example session (examples/habit-tracker,
built once with its scripted model). `--bytecode none` measures as if nothing were compiled
(an empty PYTHONPYCACHEPREFIX and PYTHONDONTWRITEBYTECODE=1); the default measures the
environment as installed, which is what `scripts/bootstrap.sh` gives a user.

    .venv/bin/python benchmarks/cli_startup.py [--runs 7] [--builds 3] [--bytecode none] [--json]

With --json it prints one JSON object of its named figures instead of the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "habit-tracker" / "cofounder.yaml"
RATIO_GOAL, SESSION_LINE_GOAL_S, CRASH_TO_CALL_GOAL_S = 5.0, 0.3, 1.0


@dataclass(frozen=True)
class Setup:
    """How every child process is started: the command prefix and its environment."""

    cofounder: list[str]
    env: dict[str, str]


def make_setup(home: Path, bytecode: str, cache_prefix: Path) -> Setup:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFOUNDER_")}
    env["COFOUNDER_HOME"] = str(home)
    env["COLUMNS"] = "120"
    if bytecode == "none":  # look for bytecode only in an empty folder, and write none there
        env["PYTHONPYCACHEPREFIX"] = str(cache_prefix)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    script = Path(sys.executable).parent / "cofounder"  # the console script a user runs
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "cofounder"]
    return Setup(prefix, env)


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{argv[-3:]} exited {result.returncode}: {result.stderr[-2000:]}")
    return elapsed


def median_of(argv: list[str], env: dict[str, str], runs: int) -> float:
    timed(argv, env)  # one warm-up: page cache, and bytecode writes where they are allowed
    return statistics.median(timed(argv, env) for _ in range(runs))


def session_id_of(line: str) -> str:
    if not line.startswith("session: "):
        raise SystemExit(f"expected a `session:` line first, got {line!r}")
    return line.removeprefix("session: ").strip()


def build_example(setup: Setup) -> str:
    result = subprocess.run(
        [*setup.cofounder, "build", str(EXAMPLE)],
        env=setup.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"the example build failed ({result.returncode}): {result.stderr[-2000:]}")
    return session_id_of(result.stdout.splitlines()[0])


def tiny_project(folder: Path, turns: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trajectory.yaml").write_text(yaml.safe_dump({"turns": turns}))
    project = {
        "name": "Bench",
        "goal": "Measure start-up.",
        "idea_brief": {"what": "benchmark"},
        "understanding_qna": [],
        "owner": "bench",
        "model": "scripted:trajectory.yaml",
    }
    (folder / "cofounder.yaml").write_text(yaml.safe_dump(project))
    return folder / "cofounder.yaml"


def build_to_session_line(setup: Setup, project: Path) -> float:
    """Seconds from starting `cofounder build` to its `session:` line; the build then ends."""
    start = time.perf_counter()
    run = subprocess.Popen(
        [*setup.cofounder, "build", str(project)],
        env=setup.env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert run.stdout is not None
    line = run.stdout.readline()
    elapsed = time.perf_counter() - start
    session_id_of(line)
    run.stdout.read()
    if run.wait() != 0:
        raise SystemExit(f"the timed build exited {run.returncode}")
    return elapsed


def crash_to_next_call(setup: Setup, project: Path, home: Path) -> float:
    """SIGKILL a build after its first commit, then time `resume` to its first model request."""
    crashed = subprocess.run(
        [*setup.cofounder, "build", str(project)],
        env=setup.env | {"COFOUNDER_CRASH_AT": "commit.after#1"},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if crashed.returncode != -9:
        raise SystemExit(f"the build to crash exited {crashed.returncode}, not -9 (SIGKILL)")
    session_id = session_id_of(crashed.stdout.splitlines()[0])
    started = time.time()  # wall clock: the request log stamps its lines with it
    resumed = subprocess.run(
        [*setup.cofounder, "resume", session_id],
        env=setup.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if resumed.returncode != 0:
        raise SystemExit(f"resume exited {resumed.returncode}: {resumed.stderr[-2000:]}")
    log = home / "sessions" / session_id / "model-requests.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line]
    # The crashed process served turn 0; the resumed one's first request is the next line.
    first_new = next((e for e in lines if e.get("turn") == 1), None)
    if first_new is None:
        raise SystemExit(f"resume made no new model request: {lines}")
    return datetime.fromisoformat(first_new["ts"]).timestamp() - started


def read_only_commands(session_id: str, owner: str) -> dict[str, list[str]]:
    short = session_id[:8]
    return {
        "--version": ["--version"],
        "-h": ["-h"],
        "sessions": ["sessions"],
        "sessions --json": ["sessions", "--json"],
        "status ID": ["status", short],
        "status ID --json": ["status", short, "--json"],
        "events ID": ["events", short],
        "events ID --json": ["events", short, "--json"],
        "docs ID": ["docs", short],
        "workspace ID": ["workspace", short],
        "escalations": ["escalations"],
        "budget OWNER": ["budget", owner],
        "models": ["models"],
    }


def has_bytecode(env: dict[str, str]) -> bool:
    """Whether the installed dependencies were compiled (typer's package stands for them)."""
    probe = (
        "import importlib.util as u, os, typer;"
        " print(os.path.exists(u.cache_from_source(typer.__file__)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() == "True"


def measure(args: argparse.Namespace, root: Path) -> dict[str, object]:
    home = root / "home"
    setup = make_setup(home, args.bytecode, root / "empty-pycache")
    session_id = build_example(setup)
    owner = str(yaml.safe_load(EXAMPLE.read_text()).get("owner", "default"))
    commands = read_only_commands(session_id, owner)
    bare = median_of([sys.executable, "-c", "pass"], setup.env, args.runs)
    medians = {
        name: median_of([*setup.cofounder, *argv], setup.env, args.runs)
        for name, argv in commands.items()
    }
    ratios = {name: value / bare for name, value in medians.items()}
    quick = tiny_project(root / "quick", [{"text": "done"}])
    session_lines = [build_to_session_line(setup, quick) for _ in range(args.builds)]
    steps: list[dict[str, object]] = [
        {"tool_calls": [{"name": "bash", "input": {"command": "echo one"}}]},
        {"tool_calls": [{"name": "bash", "input": {"command": "echo two"}}]},
        {"text": "done"},
    ]
    crash = tiny_project(root / "crash", steps)
    crash_times = [crash_to_next_call(setup, crash, home) for _ in range(args.builds)]
    return {
        "bytecode": args.bytecode,
        "bytecode_present": has_bytecode(setup.env),
        "pythondontwritebytecode": setup.env.get("PYTHONDONTWRITEBYTECODE", ""),
        "runs": args.runs,
        "loadavg_1m": round(os.getloadavg()[0], 2),  # shared machines: read the figures with it
        "python_pass_s": round(bare, 4),
        "command_median_s": {k: round(v, 4) for k, v in medians.items()},
        "command_ratio": {k: round(v, 2) for k, v in ratios.items()},
        "worst_command": max(ratios, key=lambda k: ratios[k]),
        "worst_ratio": round(max(ratios.values()), 2),
        "build_to_session_line_s": round(statistics.median(session_lines), 3),
        "crash_to_next_model_call_s": round(statistics.median(crash_times), 3),
        "goals_met": {
            "ratio_le_5": max(ratios.values()) <= RATIO_GOAL,
            "session_line_le_0.3s": statistics.median(session_lines) <= SESSION_LINE_GOAL_S,
            "crash_to_call_le_1s": statistics.median(crash_times) <= CRASH_TO_CALL_GOAL_S,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command")
    parser.add_argument("--builds", type=int, default=3, help="builds per build figure")
    parser.add_argument("--bytecode", choices=("installed", "none"), default="installed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cli-startup-"))
    try:
        figures = measure(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"python -c pass: {figures['python_pass_s']} s  (bytecode: {args.bytecode})")
    medians = figures["command_median_s"]
    ratios = figures["command_ratio"]
    assert isinstance(medians, dict) and isinstance(ratios, dict)
    for name, value in medians.items():
        print(f"  {name:<18} {value:>7.3f} s  {ratios[name]:>5.1f}x")
    print(f"build -> session: line      {figures['build_to_session_line_s']} s")
    print(f"crash -> next model call    {figures['crash_to_next_model_call_s']} s")
    print(f"goals met: {figures['goals_met']}")


if __name__ == "__main__":
    main()
