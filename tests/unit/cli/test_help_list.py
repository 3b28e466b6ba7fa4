"""`cofounder --help` lists every command with its whole summary, one row per command when
the terminal is wide enough (Typer's rich mode would keep each docstring's source breaks)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from cofounder.cli.main import app


def test_each_command_summary_is_one_row_on_a_wide_terminal() -> None:
    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "300"}, terminal_width=300)
    assert shown.exit_code == 0, shown.output
    rows = [line.strip("│ ").rstrip() for line in shown.output.splitlines() if "│" in line]
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")  # type: ignore[union-attr]
        (row,) = [r for r in rows if re.match(rf"{re.escape(name)}\s", r)]
        assert row.endswith((".", ")")), row  # the sentence ends on the command's own row
        assert info.short_help is not None and row.endswith(info.short_help[-30:]), row
