"""What prompt caching saves, and what compaction does to request size, on the example build.

The example trajectory is replayed through the official Anthropic SDK against the local fake
wire server (tests/fakes). Usage is not scripted: the fake server applies Anthropic's caching
rules to the request bodies that actually arrive (prefix written at each `cache_control`
breakpoint, read back when a later request starts with it), and the build's spend is priced
with the bundled table for claude-sonnet-4-5. Side by side, in one run:

- billed cost with prompt caching vs the same build with `COFOUNDER_PROMPT_CACHING=0`;
- request bytes per turn without compaction (the model's real 200k window) vs with a small
  window (`--window` tokens) that forces compaction part-way through.

    .venv/bin/python benchmarks/model_cost_and_context.py [--window 14000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from cofounder.llm.script import load_script  # noqa: E402
from fakes.llm_replay import TrajectoryReplayer  # noqa: E402
from fakes.llm_wire import running  # noqa: E402

EXAMPLE = REPO / "examples" / "habit-tracker" / "cofounder.yaml"
MODEL = "anthropic:claude-sonnet-4-5"


@dataclass
class Run:
    label: str
    outcome: str
    spend_microdollars: int
    request_bytes: list[int]
    compactions: int


def build(label: str, **env: str) -> Run:
    with tempfile.TemporaryDirectory() as home, running() as fake:
        replayer = TrajectoryReplayer(load_script(EXAMPLE.parent / "trajectory.yaml"))
        fake.responder = replayer
        base = {k: v for k, v in os.environ.items() if not k.startswith("COFOUNDER_")}
        full_env = {
            **base,
            "COFOUNDER_HOME": home,
            "ANTHROPIC_BASE_URL": fake.anthropic_base_url,
            "ANTHROPIC_API_KEY": "benchmark-key-not-real",
            **env,
        }
        cli = [sys.executable, "-m", "cofounder"]
        done = subprocess.run(
            [*cli, "build", str(EXAMPLE), "--model", MODEL],
            env=full_env,
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        if done.returncode != 0:
            raise SystemExit(f"{label}: build failed\n{done.stdout}\n{done.stderr}")
        session_id = done.stdout.splitlines()[0].removeprefix("session: ").strip()
        status = json.loads(
            subprocess.run(
                [*cli, "status", session_id, "--json"],
                env=full_env,
                capture_output=True,
                text=True,
                cwd=REPO,
            ).stdout
        )
        bodies = [r.body for r in fake.requests if r.body.get("tools")]
        return Run(
            label=label,
            outcome=status["outcome"],
            spend_microdollars=status["spend_microdollars"],
            request_bytes=[len(json.dumps(b)) for b in bodies],
            compactions=replayer.summaries,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=14_000, help="small window, in tokens")
    args = parser.parse_args()

    cached = build("caching on")
    uncached = build("caching off", COFOUNDER_PROMPT_CACHING="0")
    print(f"Billed cost of the example build ({MODEL}, bundled prices):")
    for run in (cached, uncached):
        print(f"  {run.label:<12} ${run.spend_microdollars / 1e6:.4f}  ({run.outcome})")
    ratio = uncached.spend_microdollars / max(1, cached.spend_microdollars)
    print(f"  caching makes the build {ratio:.2f}x cheaper")

    compacted = build(
        f"window {args.window}",
        COFOUNDER_CONTEXT_WINDOWS=json.dumps({MODEL: args.window}),
        COFOUNDER_MAX_TOKENS="2000",
    )
    print("\nRequest bytes per turn (what is re-sent every turn):")
    print(f"  {'':<14}{'median':>9}{'max':>9}{'last':>9}{'total':>11}  summaries")
    for run in (cached, compacted):
        sizes = run.request_bytes
        print(
            f"  {run.label:<14}{statistics.median(sizes):>9,.0f}{max(sizes):>9,}"
            f"{sizes[-1]:>9,}{sum(sizes):>11,}  {run.compactions}"
        )
    print("  per turn:", " ".join(f"{b // 1000}k" for b in cached.request_bytes))
    print("  compacted:", " ".join(f"{b // 1000}k" for b in compacted.request_bytes))


if __name__ == "__main__":
    main()
