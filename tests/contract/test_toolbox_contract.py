"""The agent's file tools and bash work the same over every backend (see conftest)."""

from __future__ import annotations

from pathlib import Path

from cofounder.llm.messages import ToolUseBlock
from cofounder.sandbox import Backend
from cofounder.tools.toolbox import ToolBox


def run(box: ToolBox, name: str, **args: object) -> tuple[bool, str]:
    outcome = box.run(ToolUseBlock(id=f"t-{name}", name=name, input=args))
    return outcome.result.ok, outcome.result.content


def test_write_edit_read_grep_glob_and_bash(backend: Backend, ws: Path) -> None:
    box = ToolBox(backend.sandbox)
    assert run(box, "write_file", path="src/app.py", content="print(6*7)\n")[0]
    assert run(box, "edit_file", path="src/app.py", old_string="6*7", new_string="6 * 7")[0]
    assert (ws / "src" / "app.py").read_text() == "print(6 * 7)\n"
    ok, content = run(box, "read_file", path="src/app.py")
    assert ok and "print(6 * 7)" in content
    ok, content = run(box, "grep", pattern=r"6 \* 7")
    assert ok and "src/app.py" in content
    ok, content = run(box, "glob", pattern="**/*.py")
    assert ok and "src/app.py" in content
    ok, content = run(box, "bash", command="python3 src/app.py > answer.txt; cat answer.txt")
    assert ok and "42" in content
    assert (ws / "answer.txt").read_text() == "42\n"  # the command's files reach the host
    ok, content = run(box, "bash", command="echo nope >&2; exit 4")
    assert not ok and "nope" in content and "4" in content
