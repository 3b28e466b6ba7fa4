"""read_file, write_file and edit_file through the ToolBox."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from cofounder.tools import ToolRun

Call = Callable[..., ToolRun]

# --- read_file ----------------------------------------------------------------------------


def test_read_numbers_lines_like_cat_n(call: Call, ws: Path) -> None:
    (ws / "a.txt").write_text("alpha\nbeta\r\n\ngamma")
    run = call("read_file", path="a.txt")
    assert run.result.ok
    assert run.result.content == (
        "     1\talpha\n     2\tbeta\n     3\t\n     4\tgamma\n"
        "[1 of the 3 line breaks shown are CRLF (\\r\\n), not displayed; edit_file keeps them]"
    )
    assert run.label == "Reading a.txt" and run.summary == "read 4 lines"


def test_read_offset_and_limit_window_with_footer(call: Call, ws: Path) -> None:
    (ws / "n.txt").write_text("".join(f"n{i}\n" for i in range(1, 101)))
    run = call("read_file", path="/workspace/n.txt", offset=10, limit=3)
    lines = run.result.content.splitlines()
    assert lines[:3] == ["    10\tn10", "    11\tn11", "    12\tn12"]
    assert lines[3] == "[showing lines 10-12 of 100; continue with offset=13]"
    assert run.summary == "read lines 10-12 of 100"


def test_read_default_limit_is_2000_lines(call: Call, ws: Path) -> None:
    (ws / "big.txt").write_text("x\n" * 2500)
    run = call("read_file", path="big.txt")
    assert "  2000\tx" in run.result.content and "  2001\t" not in run.result.content
    assert "continue with offset=2001" in run.result.content


def test_read_stops_at_the_output_budget_and_says_where_to_continue(call: Call, ws: Path) -> None:
    (ws / "wide.txt").write_text(("w" * 150 + "\n") * 1000)
    run = call("read_file", path="wide.txt")
    assert len(run.result.content) <= 30000
    assert "(output size cap); continue with offset=" in run.result.content


def test_read_clips_very_long_lines(call: Call, ws: Path) -> None:
    (ws / "min.js").write_text("a" * 5000 + "\nshort\n")
    content = call("read_file", path="min.js").result.content
    assert "line clipped, 3000 more chars" in content
    assert content.endswith("     2\tshort")


def test_read_offset_past_end(call: Call, ws: Path) -> None:
    (ws / "s.txt").write_text("one\ntwo\n")
    run = call("read_file", path="s.txt", offset=5)
    assert not run.result.ok
    assert "offset 5 is past the end of s.txt, which has 2 lines" in run.result.content


def test_read_empty_file(call: Call, ws: Path) -> None:
    (ws / "e.txt").write_text("")
    run = call("read_file", path="e.txt")
    assert run.result.ok and "empty" in run.result.content


def test_read_binary_file_with_nul_is_refused(call: Call, ws: Path) -> None:
    (ws / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    run = call("read_file", path="img.png")
    assert not run.result.ok
    assert "binary" in run.result.content and "NUL" in run.result.content


def test_read_undecodable_file_is_refused(call: Call, ws: Path) -> None:
    (ws / "latin1.txt").write_bytes(b"ok\ncaf\xe9\n")
    run = call("read_file", path="latin1.txt")
    assert not run.result.ok
    assert "line 2 is not valid UTF-8" in run.result.content


def test_read_missing_file_and_directory(call: Call, ws: Path) -> None:
    (ws / "d").mkdir()
    missing = call("read_file", path="nope/x.py")
    assert not missing.result.ok and missing.result.content == "file not found: nope/x.py"
    dir_run = call("read_file", path="d")
    assert not dir_run.result.ok and "d is a directory" in dir_run.result.content


# --- write_file ---------------------------------------------------------------------------


def test_write_creates_parent_dirs_and_exact_content(call: Call, ws: Path) -> None:
    run = call("write_file", path="app/api/main.py", content="print('hi')\nx = 1\n")
    assert run.result.ok
    assert (ws / "app/api/main.py").read_text() == "print('hi')\nx = 1\n"
    assert run.label == "Writing app/api/main.py" and run.summary == "wrote 2 lines"
    assert stat.S_IMODE((ws / "app/api/main.py").stat().st_mode) == 0o644


def test_write_is_an_atomic_replace(call: Call, ws: Path) -> None:
    target = ws / "conf.txt"
    target.write_text("old\n")
    os.link(target, ws / "hardlink.txt")  # shares the old inode
    old_inode = target.stat().st_ino
    run = call("write_file", path="conf.txt", content="new\n")
    assert run.result.ok and "Overwrote conf.txt" in run.result.content
    assert target.read_text() == "new\n"
    assert target.stat().st_ino != old_inode  # a new file was renamed into place
    assert (ws / "hardlink.txt").read_text() == "old\n"  # the old one was never rewritten
    assert sorted(p.name for p in ws.iterdir()) == ["conf.txt", "hardlink.txt"]  # no temp left


def test_write_keeps_the_mode_of_an_existing_file(call: Call, ws: Path) -> None:
    script = ws / "run.sh"
    script.write_text("#!/bin/sh\necho old\n")
    script.chmod(0o755)
    call("write_file", path="run.sh", content="#!/bin/sh\necho new\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert call("bash", command="./run.sh").result.content.count("new") == 1


def test_write_through_an_inside_symlink_updates_the_target(call: Call, ws: Path) -> None:
    (ws / "real.txt").write_text("a\n")
    os.symlink("real.txt", ws / "alias.txt")
    assert call("write_file", path="alias.txt", content="b\n").result.ok
    assert (ws / "alias.txt").is_symlink()
    assert (ws / "real.txt").read_text() == "b\n"


def test_write_to_a_directory_or_under_a_file_fails_clearly(call: Call, ws: Path) -> None:
    (ws / "d").mkdir()
    (ws / "f").write_text("")
    assert "is a directory" in call("write_file", path="d", content="x").result.content
    run = call("write_file", path="f/child.txt", content="x")
    assert not run.result.ok and "not a directory" in run.result.content


def test_written_files_are_usable_inside_the_sandbox(call: Call) -> None:
    call("write_file", path="pkg/mod.py", content="print(6 * 7)\n")
    run = call("bash", command="python3 pkg/mod.py && echo extra >> pkg/mod.py")
    assert run.result.ok and "42" in run.result.content


# --- edit_file ----------------------------------------------------------------------------


def test_edit_replaces_a_unique_match_and_shows_context(call: Call, ws: Path) -> None:
    (ws / "m.py").write_text("def f():\n    return 1\n\ndef g():\n    return 2\n")
    run = call("edit_file", path="m.py", old_string="return 2", new_string="return 3")
    assert run.result.ok and run.summary == "replaced 1 occurrence"
    assert (ws / "m.py").read_text() == "def f():\n    return 1\n\ndef g():\n    return 3\n"
    assert "(line 5)" in run.result.content and "     5\t    return 3" in run.result.content


def test_edit_ambiguous_match_reports_count_and_lines(call: Call, ws: Path) -> None:
    original = "x = 1\ny = 2\nx = 1\n\nx = 1\n"
    (ws / "m.py").write_text(original)
    run = call("edit_file", path="m.py", old_string="x = 1", new_string="x = 9")
    assert not run.result.ok
    assert "matches 3 times" in run.result.content and "(lines 1, 3, 5)" in run.result.content
    assert (ws / "m.py").read_text() == original


def test_edit_zero_matches_says_so_and_hints_at_whitespace(call: Call, ws: Path) -> None:
    (ws / "m.py").write_text("if x:\n    go()\n")
    run = call("edit_file", path="m.py", old_string="  go()  ", new_string="stop()")
    assert not run.result.ok and "0 matches" in run.result.content
    assert "line 2" in run.result.content and "indentation" in run.result.content


def test_edit_replace_all(call: Call, ws: Path) -> None:
    (ws / "m.py").write_text("a a\na\n")
    run = call("edit_file", path="m.py", old_string="a", new_string="bb", replace_all=True)
    assert run.result.ok and run.summary == "replaced 3 occurrences"
    assert (ws / "m.py").read_text() == "bb bb\nbb\n"


def test_edit_identical_strings_is_an_error(call: Call, ws: Path) -> None:
    (ws / "m.py").write_text("same\n")
    run = call("edit_file", path="m.py", old_string="same", new_string="same")
    assert not run.result.ok and "identical" in run.result.content


def test_edit_keeps_crlf_mode_and_is_atomic(call: Call, ws: Path) -> None:
    target = ws / "w.bat"
    target.write_bytes(b"echo one\r\necho two\r\n")
    target.chmod(0o750)
    inode = target.stat().st_ino
    assert call("edit_file", path="w.bat", old_string="two", new_string="2").result.ok
    assert target.read_bytes() == b"echo one\r\necho 2\r\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert target.stat().st_ino != inode


def test_edit_refuses_binary_and_missing_files(call: Call, ws: Path) -> None:
    (ws / "b.bin").write_bytes(b"ab\x00cd")
    binary = call("edit_file", path="b.bin", old_string="ab", new_string="x")
    assert not binary.result.ok and "binary" in binary.result.content
    missing = call("edit_file", path="none.py", old_string="a", new_string="b")
    assert not missing.result.ok and "file not found: none.py" in missing.result.content


def test_edit_empty_old_string_is_rejected_by_schema(call: Call, ws: Path) -> None:
    (ws / "m.py").write_text("x\n")
    run = call("edit_file", path="m.py", old_string="", new_string="y")
    assert not run.result.ok and "field 'old_string'" in run.result.content
