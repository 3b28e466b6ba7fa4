"""The shape of the house is checked: import-linter's contracts (pyproject.toml) hold on the
tree, and each kind of violation the contracts exist for is caught when it is introduced."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(src: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the `cofounder` package found first in `src`."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=src,
        timeout=120,
    )


def test_the_tree_keeps_every_contract() -> None:
    result = lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "violation", "contract"),
    [
        ("sandbox/e2b/backend.py", "import cofounder.sandbox.local.bwrap",
         "The E2B wing never imports the local wing"),
        ("engine/live.py", "import cofounder.sandbox.local.bwrap",
         "The engine never imports a sandbox wing"),
        ("engine/runtime.py", "import cofounder.engine.live",
         "The runtime holds services"),
        ("engine/workspace.py", "import cofounder.engine.live",
         "The runtime holds services"),
        ("agent/guards.py", "import cofounder.storage.ledger",
         "The agent decides"),
        ("agent/guards.py", "import sqlalchemy",
         "The agent decides"),
        ("storage/events.py", "import cofounder.engine.runtime",
         "The parts never import the engine"),
        ("tools/toolbox.py", "import cofounder.cli.main",
         "Nothing below the faces imports a face"),
        ("cli/preview_commands.py", "import cofounder.engine.locks",
         "The faces import only the engine's public surface"),
        ("cli/budget_commands.py", "import cofounder.storage.ledger",
         "The faces import only the engine's public surface"),
        ("hostfs/files.py", "import cofounder.config",
         "Host-side workspace access stands alone"),
    ],
)  # fmt: skip
def test_a_deliberate_violation_breaks_its_contract(
    tmp_path: Path, module: str, violation: str, contract: str
) -> None:
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "cofounder",
        src / "cofounder",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    target = src / "cofounder" / module
    target.write_text(target.read_text() + f"\n{violation}  # deliberate\n")
    result = lint(src)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout
