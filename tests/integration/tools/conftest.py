"""A ToolBox over a real bubblewrap sandbox on a fresh workspace, and a one-line caller."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cofounder.llm.messages import ToolUseBlock
from cofounder.sandbox import BwrapSandbox, LocalSandboxConfig, SandboxLimits
from cofounder.tools import ToolBox, ToolRun

Call = Callable[..., ToolRun]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    d = tmp_path / "ws"
    d.mkdir()
    return d


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host directory next to the workspace that nothing may reach."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text("HOST-SECRET needle\n")
    (d / "leak.py").write_text("needle = 1\n")
    return d


@pytest.fixture
def toolbox(ws: Path) -> Iterator[ToolBox]:
    sb = BwrapSandbox(ws, SandboxLimits())
    yield ToolBox(sb, preview=LocalSandboxConfig(ready_timeout_s=3).preview(sb))
    sb.close()


@pytest.fixture
def call(toolbox: ToolBox) -> Call:
    ids = itertools.count(1)

    def _call(name: str, /, **inp: Any) -> ToolRun:
        call_id = f"toolu_{next(ids)}"
        run = toolbox.run(ToolUseBlock(id=call_id, name=name, input=inp))
        assert run.result.tool_use_id == call_id
        assert run.label and run.summary and "\n" not in run.summary
        return run

    return _call
