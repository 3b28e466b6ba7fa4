"""Sandbox start + command round-trip vs the same command without a sandbox, same run.

Each sample is one complete `exec`: bubblewrap (and cgroup join, rlimits, network namespace)
started, the command run, output captured, the namespace torn down, the workspace checked.
"per command" rows reuse one sandbox object, as a session's tool calls do; "new sandbox" rows
also create and close the sandbox (cgroup, and for egress: pasta and its block rules).

    .venv/bin/python benchmarks/sandbox_roundtrip.py [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cofounder.sandbox import BwrapSandbox, egress_available, probe_active_limits

COMMANDS = {"true": "true", "echo": "echo hello"}


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm-up: page cache, first probe
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def plain(command: str) -> Callable[[], object]:
    return lambda: subprocess.run(["/bin/bash", "-c", command], capture_output=True, check=True)


def warm(sandbox: BwrapSandbox, command: str) -> Callable[[], object]:
    def run() -> None:
        result = sandbox.exec(command, timeout_s=30)
        assert result.exit_code == 0, result.stderr

    return run


def cold(workspace: Path, command: str, network: str) -> Callable[[], object]:
    def run() -> None:
        with BwrapSandbox(workspace, network="egress" if network == "egress" else "none") as sb:
            assert sb.exec(command, timeout_s=30).exit_code == 0

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    networks = ["none", "egress"] if egress_available() else ["none"]
    rows: list[tuple[str, str, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        for name, command in COMMANDS.items():
            rows.append((name, "plain subprocess (no sandbox)", timed(plain(command), args.runs)))
            for network in networks:
                with BwrapSandbox(workspace, network=network) as sb:  # type: ignore[arg-type]
                    samples = timed(warm(sb, command), args.runs)
                rows.append((name, f"sandbox, network={network}, per command", samples))
                samples = timed(cold(workspace, command, network), args.runs)
                rows.append((name, f"new sandbox, network={network}", samples))
    print(f"runs per row: {args.runs}; limits here: {probe_active_limits().summary}")
    if "egress" not in networks:
        print("network=egress skipped: needs root, pasta (passt) and iproute2")
    print(f"{'cmd':<6}{'how':<40}{'median ms':>11}{'p90 ms':>9}{'x plain':>9}")
    base: dict[str, float] = {}
    for name, how, samples in rows:
        median = statistics.median(samples)
        base.setdefault(name, median)
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"{name:<6}{how:<40}{median:>11.2f}{p90:>9.2f}{median / base[name]:>9.1f}")


if __name__ == "__main__":
    main()
