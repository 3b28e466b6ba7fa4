"""The security battery, part 2: hostile inputs to the file tools (which act on the host side).

The model sets a trap inside the sandbox (a symlink out of the workspace), then asks a tool to
follow it; every such request must be refused with a precise message and touch nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sandbox_battery_support import Host, assert_host_healthy

from cofounder.llm.messages import ToolUseBlock
from cofounder.sandbox import BwrapSandbox, SandboxLimits
from cofounder.tools import ToolBox, ToolRun


@dataclass(frozen=True)
class ToolCase:
    id: str
    prepare: str  # run in the sandbox first: the model sets its trap
    tool: str
    input: Callable[[Host], dict[str, Any]]
    refusal: str  # in the result, which must be an error


TOOL_CASES = [
    ToolCase("read-dotdot", "", "read_file",
             lambda h: {"path": "../outside/secret.txt"}, "uses '..' to leave the workspace"),
    ToolCase("read-absolute-outside", "", "read_file",
             lambda h: {"path": f"{h.outside}/secret.txt"}, "is outside the workspace"),
    ToolCase("read-through-symlinked-dir", "ln -s {outside} link", "read_file",
             lambda h: {"path": "link/secret.txt"}, "is a symlink to"),
    ToolCase("write-through-symlinked-file", "ln -s {outside}/target.txt t.txt", "write_file",
             lambda h: {"path": "t.txt", "content": "pwned"}, "is a symlink to"),
    ToolCase("write-dotdot", "", "write_file",
             lambda h: {"path": "../../evil.txt", "content": "pwned"}, "uses '..'"),
    ToolCase("edit-through-symlink", "ln -s {outside} d", "edit_file",
             lambda h: {"path": "d/target.txt", "old_string": "untouched", "new_string": "pwned"},
             "is a symlink to"),
    ToolCase("grep-outside", "", "grep",
             lambda h: {"pattern": "needle", "path": "../outside"}, "uses '..'"),
    ToolCase("glob-outside", "", "glob", lambda h: {"pattern": "*", "path": str(h.outside)},
             "is outside the workspace"),
    ToolCase("read-symlink-to-root", "ln -s / root", "read_file",
             lambda h: {"path": "root/etc/hostname"}, "is a symlink to"),
]  # fmt: skip

_ids = itertools.count(1)


@pytest.mark.parametrize("case", TOOL_CASES, ids=[c.id for c in TOOL_CASES])
def test_hostile_tool_input_is_refused(case: ToolCase, host: Host) -> None:
    sandbox = BwrapSandbox(host.ws, SandboxLimits())
    try:
        if case.prepare:
            prep = sandbox.exec(case.prepare.format(outside=host.outside), timeout_s=30)
            assert prep.exit_code == 0, prep.stderr
        run: ToolRun = ToolBox(sandbox).run(
            ToolUseBlock(id=f"toolu_{next(_ids)}", name=case.tool, input=case.input(host))
        )
    finally:
        sandbox.close()
    assert not run.result.ok
    assert case.refusal in run.result.content, run.result.content
    assert "HOST-SECRET" not in run.result.content
    assert not (host.ws.parent.parent / "evil.txt").exists()
    assert_host_healthy(host, sandbox)


def test_tool_battery_size() -> None:
    assert len(TOOL_CASES) >= 9
