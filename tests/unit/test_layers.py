"""The shape of the house is checked: import-linter's contracts (pyproject.toml) hold on the
tree, and each kind of violation the contracts exist for is caught when it is introduced; and
the faces ask the catalog, never the runtime behind it (an AST check: `.rt` is no import)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"
FACES = ROOT / "src" / "cofounder" / "cli"


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


def runtime_reaches(source: str) -> list[int]:
    """Lines that reach the engine's runtime (`x.rt`, `getattr(x, "rt")`) instead of asking
    the catalog's verbs."""
    nodes = ast.walk(ast.parse(source))
    return sorted(n.lineno for n in nodes if isinstance(n, ast.expr) and _names_runtime(n))


def _names_runtime(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "rt"
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr")
        and len(node.args) > 1
        and isinstance(node.args[1], ast.Constant)
        and node.args[1].value == "rt"
    )


def test_the_faces_never_reach_into_the_runtime() -> None:
    reaches = {
        str(path.relative_to(FACES)): lines
        for path in sorted(FACES.rglob("*.py"))
        if (lines := runtime_reaches(path.read_text()))
    }
    assert reaches == {}, "cli/ reaches past the catalog (add a Catalog verb instead)"


@pytest.mark.parametrize(
    "violation",
    [
        "engine.rt.sessions.request_wake(record.id)",
        "runtime = catalog.rt",
        'store = getattr(catalog, "rt").snapshots',
    ],
)
def test_a_face_reaching_into_the_runtime_is_caught(violation: str) -> None:
    source = (FACES / "session_commands.py").read_text() + f"\n{violation}  # deliberate\n"
    assert runtime_reaches(source) == [len(source.splitlines())]
