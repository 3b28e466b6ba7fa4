"""grep (ripgrep inside the sandbox) and glob (host-side, confined to the workspace)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cofounder.tools import ToolRun

Call = Callable[..., ToolRun]


def put(ws: Path, rel: str, text: str = "needle\n", mtime: float | None = None) -> Path:
    p = ws / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    if mtime is not None:
        os.utime(p, (mtime, mtime))
    return p


# --- grep ---------------------------------------------------------------------------------


def test_grep_lists_path_line_text(call: Call, ws: Path) -> None:
    put(ws, "src/a.py", "x = 1\nneedle = 2\n")
    put(ws, "b.txt", "needle\n")
    run = call("grep", pattern="need+le")
    assert run.result.ok
    assert run.result.content.splitlines() == ["b.txt:1:needle", "src/a.py:2:needle = 2"]
    assert run.summary == "2 matches in 2 files"
    assert run.label == "Searching for 'need+le'"


def test_grep_skips_ignored_hidden_binary_and_vendor_dirs(call: Call, ws: Path) -> None:
    put(ws, "keep.py")
    for rel in (
        ".git/config",
        "node_modules/pkg/index.js",
        ".venv/lib/site.py",
        ".hidden/secret.py",
        "build/out.py",
    ):
        put(ws, rel)
    put(ws, ".gitignore", "build/\n")
    (ws / "blob.bin").write_bytes(b"needle\x00\x01\x02")
    run = call("grep", pattern="needle")
    assert run.result.content.splitlines() == ["keep.py:1:needle"]


def test_grep_glob_and_path_filters(call: Call, ws: Path) -> None:
    put(ws, "src/a.py")
    put(ws, "src/b.ts")
    put(ws, "docs/c.py")
    by_glob = call("grep", pattern="needle", glob="*.py")
    assert by_glob.result.content.splitlines() == ["docs/c.py:1:needle", "src/a.py:1:needle"]
    by_path = call("grep", pattern="needle", path="src")
    assert by_path.result.content.splitlines() == ["src/a.py:1:needle", "src/b.ts:1:needle"]
    one_file = call("grep", pattern="needle", path="/workspace/src/b.ts")
    assert one_file.result.content == "src/b.ts:1:needle"


def test_grep_glob_does_not_reopen_vendor_dirs(call: Call, ws: Path) -> None:
    put(ws, "node_modules/x/y.py")
    put(ws, "a.py")
    assert call("grep", pattern="needle", glob="**/*.py").result.content == "a.py:1:needle"


def test_grep_no_match_is_ok(call: Call, ws: Path) -> None:
    put(ws, "a.py", "nothing here\n")
    run = call("grep", pattern="needle")
    assert run.result.ok and run.summary == "no matches" and run.result.content == "No matches."


def test_grep_bad_regex_is_an_error_with_rg_message(call: Call, ws: Path) -> None:
    put(ws, "a.py")
    run = call("grep", pattern="(unclosed")
    assert not run.result.ok
    assert "regex parse error" in run.result.content and "unclosed group" in run.result.content


def test_grep_pattern_starting_with_dash_is_a_pattern(call: Call, ws: Path) -> None:
    put(ws, "a.txt", "--flag\n")
    assert call("grep", pattern="--flag").result.content == "a.txt:1:--flag"


def test_grep_caps_the_number_of_lines(call: Call, ws: Path) -> None:
    put(ws, "many.txt", "needle\n" * 800)
    run = call("grep", pattern="needle")
    lines = run.result.content.splitlines()
    assert len(lines) == 501 and lines[-1].startswith("[showing the first 500 matching lines")
    assert run.result.truncated


def test_grep_cannot_search_outside(call: Call, ws: Path, outside: Path) -> None:
    os.symlink(outside, ws / "out")
    refused = call("grep", pattern="needle", path="out")
    assert not refused.result.ok and "outside the workspace" in refused.result.content
    assert not call("grep", pattern="needle", path=str(outside)).result.ok
    assert not call("grep", pattern="needle", path="..").result.ok
    # Searching the whole workspace does not follow the symlink out either.
    put(ws, "a.txt", "nothing\n")
    everywhere = call("grep", pattern="needle")
    assert everywhere.result.ok and everywhere.summary == "no matches"
    assert "HOST-SECRET" not in everywhere.result.content


def test_grep_in_a_workspace_with_nothing_searchable_is_no_matches(call: Call, ws: Path) -> None:
    put(ws, ".hidden/a.txt")
    run = call("grep", pattern="needle")
    assert run.result.ok and "no files were searched" in run.result.content


def test_grep_missing_path(call: Call) -> None:
    run = call("grep", pattern="x", path="nope")
    assert not run.result.ok and run.result.content == "path not found: nope"


# --- glob ---------------------------------------------------------------------------------


def test_glob_star_is_one_level_and_globstar_any_depth(call: Call, ws: Path) -> None:
    put(ws, "top.py", mtime=1_000)
    put(ws, "pkg/mid.py", mtime=2_000)
    put(ws, "pkg/deep/low.py", mtime=3_000)
    put(ws, "readme.md", mtime=4_000)
    assert call("glob", pattern="*.py").result.content == "top.py"
    assert call("glob", pattern="**/*.py").result.content.splitlines() == [
        "pkg/deep/low.py",
        "pkg/mid.py",
        "top.py",
    ]
    assert call("glob", pattern="pkg/*.py").result.content == "pkg/mid.py"
    assert call("glob", pattern="**/*.{py,md}").result.content.splitlines()[0] == "readme.md"


def test_glob_sorts_newest_first(call: Call, ws: Path) -> None:
    for name, t in [("a.txt", 3_000), ("b.txt", 1_000), ("c.txt", 2_000)]:
        put(ws, name, mtime=t)
    run = call("glob", pattern="*.txt")
    assert run.result.content.splitlines() == ["a.txt", "c.txt", "b.txt"]
    assert run.summary == "3 files"


def test_glob_relative_to_path_returns_workspace_paths(call: Call, ws: Path) -> None:
    put(ws, "web/src/App.tsx")
    put(ws, "App.tsx")
    run = call("glob", pattern="**/*.tsx", path="web")
    assert run.result.content == "web/src/App.tsx"


def test_glob_hidden_only_when_named(call: Call, ws: Path) -> None:
    put(ws, ".env")
    put(ws, "conf/.secrets.py")
    put(ws, "app.py")
    assert call("glob", pattern="*").result.content == "app.py"
    assert call("glob", pattern="**/*.py").result.content == "app.py"
    assert call("glob", pattern=".*").result.content == ".env"
    assert call("glob", pattern="**/.*.py").result.content == "conf/.secrets.py"


def test_glob_skips_node_modules_unless_named(call: Call, ws: Path) -> None:
    put(ws, "node_modules/lib/index.js")
    put(ws, "index.js")
    assert call("glob", pattern="**/*.js").result.content == "index.js"
    named = call("glob", pattern="node_modules/**/*.js")
    assert named.result.content == "node_modules/lib/index.js"


def test_glob_does_not_follow_symlinked_dirs(call: Call, ws: Path, outside: Path) -> None:
    put(ws, "src/inside.py")
    os.symlink(outside, ws / "escape")
    os.symlink("src", ws / "loop")
    assert call("glob", pattern="**/*.py").result.content == "src/inside.py"
    # Naming the symlink explicitly does not get out either.
    run = call("glob", pattern="escape/*.py")
    assert not run.result.ok and "'escape' is a symlink to" in run.result.content
    assert not call("glob", pattern="*.py", path="escape").result.ok


def test_glob_keeps_the_names_the_agent_used(call: Call, ws: Path) -> None:
    put(ws, "src/app/main.py")
    os.symlink("src", ws / "code")
    assert call("glob", pattern="code/app/*.py").result.content == "code/app/main.py"
    assert call("glob", pattern="*.py", path="code/app").result.content == "code/app/main.py"
    assert call("glob", pattern="app/*.py", path="code").result.content == "code/app/main.py"


def test_glob_refuses_patterns_that_leave_the_workspace(call: Call, ws: Path) -> None:
    put(ws, "a.py")
    for pattern in ("/etc/*", "../*", "src/../../*"):
        run = call("glob", pattern=pattern)
        assert not run.result.ok, pattern
    assert call("glob", pattern="/workspace/*.py").result.content == "a.py"


def test_glob_caps_results_with_a_note(call: Call, ws: Path) -> None:
    for i in range(520):
        put(ws, f"many/f{i:03d}.txt", mtime=10_000 + i)
    run = call("glob", pattern="many/*.txt")
    lines = run.result.content.splitlines()
    assert lines[0] == "many/f519.txt"
    assert len(lines) == 501 and "500 newest of 520" in lines[-1]
    assert run.result.truncated


@pytest.mark.parametrize("pattern", ["*.nothing", "**/zzz"])
def test_glob_no_match_is_ok(call: Call, ws: Path, pattern: str) -> None:
    run = call("glob", pattern=pattern)
    assert run.result.ok and run.summary == "no files"
