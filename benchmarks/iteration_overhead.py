"""Harness overhead per iteration: a durable session vs a bare think-act loop, same run.

Both sides use the scripted model and the no-op `narrate` tool, so what differs is the harness:
DBOS steps, checkpoint + transcript + events in the application DB, workspace snapshot, guards.

    .venv/bin/python benchmarks/iteration_overhead.py [--iterations 60] [--runs 3]
        [--database-url postgresql://...] [--json]

With --json it prints one JSON object of its named figures instead of the table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from cofounder.config import Settings
from cofounder.engine.service import Engine
from cofounder.llm import Message, ModelRequest, ScriptedModel, TextBlock, ToolResultBlock
from cofounder.logs import configure_logging
from cofounder.project import ProjectSpec, load_project
from cofounder.sandbox import BwrapSandbox
from cofounder.tools import ToolBox


def write_project(root: Path, iterations: int) -> Path:
    turns: list[dict[str, object]] = [
        {
            "tool_calls": [{"name": "narrate", "input": {"message": f"step {i}"}}],
            "usage": {"input_tokens": 1000 + i, "output_tokens": 20},
        }
        for i in range(iterations)
    ]
    turns.append({"text": "done"})
    (root / "trajectory.yaml").write_text(yaml.safe_dump({"turns": turns}))
    (root / "cofounder.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "Bench",
                "goal": "Measure the harness.",
                "idea_brief": {"what": "benchmark"},
                "understanding_qna": [],
                "model": "scripted:trajectory.yaml",
            }
        )
    )
    return root / "cofounder.yaml"


def durable_run(project_file: Path, data_dir: Path, database_url: str | None) -> list[float]:
    """Per-iteration milliseconds from consecutive `iteration_committed` event timestamps."""
    # No tool-call cap: a long run shows whether an iteration costs more as a session grows.
    settings = Settings(home=data_dir, database_url=database_url, max_tool_calls=1_000_000)
    engine = Engine(settings)
    spec = load_project(project_file)
    record = engine.create_session(spec, project_file)
    outcome = engine.run(record.id)
    assert outcome == "completed", outcome
    stamps = [
        e.ts
        for e in engine.rt.events.read(record.id, limit=100_000)
        if e.type == "iteration_committed"
    ]
    engine.close()
    return [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(stamps)]


def bare_run(project_file: Path, workspace: Path, spec: ProjectSpec) -> list[float]:
    """The same model and tool calls in a plain in-memory loop: no durability at all. The
    model keeps its request log as in the durable run (the scripted model's own cost)."""
    model = ScriptedModel(
        project_file.parent / "trajectory.yaml", request_log=workspace / "model-requests.jsonl"
    )
    toolbox = ToolBox(BwrapSandbox(workspace))
    messages = [Message(role="user", content=[TextBlock(text=spec.goal)])]
    timings: list[float] = []
    while True:
        started = time.perf_counter()
        turn = model.complete(
            ModelRequest(system="bench", messages=messages, tools=toolbox.specs())
        )
        messages.append(turn.as_message())
        if not turn.tool_uses:
            break
        results = [toolbox.run(call).result for call in turn.tool_uses]
        messages.append(
            Message(
                role="user",
                content=[
                    ToolResultBlock(tool_use_id=r.tool_use_id, content=r.content) for r in results
                ],
            )
        )
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    configure_logging()  # as the CLI does: COFOUNDER_LOG_LEVEL, WARNING by default
    durable: list[float] = []
    bare: list[float] = []
    early: list[float] = []  # each run's first and last 50 iterations
    late: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project_file = write_project(root, args.iterations)
        spec = load_project(project_file)
        for run in range(args.runs):
            timings = durable_run(project_file, root / f"data{run}", args.database_url)
            durable += timings
            early += timings[:50]
            late += timings[-50:]
            workspace = root / f"bare{run}"
            workspace.mkdir()
            bare += bare_run(project_file, workspace, spec)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    d, b = statistics.median(durable), statistics.median(bare)
    if args.json:
        print(
            json.dumps(
                {
                    "backend": backend,
                    "iterations": args.iterations,
                    "runs": args.runs,
                    "durable_median_ms": round(d, 3),
                    "durable_p90_ms": round(statistics.quantiles(durable, n=10)[-1], 3),
                    "bare_median_ms": round(b, 3),
                    "overhead_median_ms": round(d - b, 3),
                    "ratio_to_bare": round(d / b, 2),
                    "durable_first_50_median_ms": round(statistics.median(early), 3),
                    "durable_last_50_median_ms": round(statistics.median(late), 3),
                }
            )
        )
        return
    print(f"iterations per run: {args.iterations}, runs: {args.runs}, backend: {backend}")
    print(f"{'loop':<34}{'median ms/iter':>16}{'p90 ms/iter':>14}")
    for name, values in (
        ("bare loop (no durability)", bare),
        ("durable session (DBOS + DB)", durable),
    ):
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:<34}{statistics.median(values):>16.2f}{p90:>14.2f}")
    print(f"harness overhead per iteration: {d - b:.2f} ms median ({d / b:.1f}x the bare loop)")
    print(
        f"durable, first 50 vs last 50 iterations of a run: {statistics.median(early):.2f} vs "
        f"{statistics.median(late):.2f} ms median (a session's length should not cost)"
    )


if __name__ == "__main__":
    main()
