"""ToolBox.run contract: bash reporting, effects, and that every failure is a result."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cofounder.llm.messages import ToolUseBlock
from cofounder.tools import DocumentEffect, NarrationEffect, PhaseEffect, ToolBox, ToolRun
from cofounder.tools.exec_report import parse_exec_report

Call = Callable[..., ToolRun]


# --- bash ---------------------------------------------------------------------------------


def test_bash_reports_exit_code_and_labelled_streams(call: Call) -> None:
    run = call("bash", command="echo out-line; echo err-line >&2")
    assert run.result.ok and run.result.exit_code == 0
    content = run.result.content
    assert content.startswith("Exit code 0 after ")
    assert content.endswith(
        "--- stdout: 1 line, 9 bytes ---\nout-line\n--- stderr: 1 line, 9 bytes ---\nerr-line"
    )
    assert run.label == "Running: echo out-line; echo err-line >&2"
    assert run.summary.startswith("exit 0 in ") and run.summary.endswith("s")


def test_bash_nonzero_exit_is_not_ok(call: Call) -> None:
    run = call("bash", command="ls /nope")
    assert not run.result.ok and run.result.exit_code == 2
    assert "\n--- stdout: no output ---\n--- stderr: 1 line, " in run.result.content
    assert "No such file or directory" in run.result.content


def test_bash_timeout_says_the_tree_was_killed(call: Call, ws: Path) -> None:
    run = call("bash", command="(sleep 2; touch late) & echo hi; sleep 30", timeout=1)
    assert not run.result.ok and run.result.exit_code == 124
    assert "Timed out after 1s" in run.result.content
    assert "every process it started were killed" in run.result.content
    assert "hi" in run.result.content
    assert run.summary == "timed out after 1s"


def test_bash_truncation_is_flagged_and_keeps_both_ends(call: Call) -> None:
    run = call("bash", command="seq 1 200000; echo done >&2")
    assert run.result.truncated
    content = run.result.content
    assert len(content) <= 30000
    assert "\n1\n2\n" in content and "200000" in content and "elided" in content
    assert content.endswith("--- stderr: 1 line, 5 bytes ---\ndone")


def test_bash_output_cut_twice_reports_one_true_count(call: Call) -> None:
    # Cut by the sandbox's 64 KiB capture, then by the model's limit: one marker, true totals.
    run = call("bash", command="seq 1 2000000")
    content = run.result.content
    assert run.result.truncated and len(content) <= 30000
    assert content.count("elided") == 1
    lines = content.split("\n")
    assert lines[1].startswith("--- stdout: 2000000 lines, 14888896 bytes; showing the first ")
    at = next(i for i, ln in enumerate(lines) if ln.startswith("[... "))
    m = re.fullmatch(r"\[\.\.\. (\d+) lines \((\d+) bytes\) elided \.\.\.\]", lines[at])
    assert m is not None
    head, tail = lines[2:at], lines[at + 1 : lines.index("--- stderr: no output ---")]
    assert head == [str(i) for i in range(1, len(head) + 1)]
    assert tail == [str(i) for i in range(2_000_001 - len(tail), 2_000_001)]
    assert len(head) + int(m.group(1)) + len(tail) == 2_000_000
    assert sum(len(x) + 1 for x in head + tail) + int(m.group(2)) == 14_888_896


def test_bash_reports_output_byte_faithfully(call: Call) -> None:
    bare = call("bash", command="echo -n x").result.content
    ended = call("bash", command="echo x").result.content
    assert "--- stdout: 1 line, 1 byte, no newline at end ---\nx\n" in bare
    assert "--- stdout: 1 line, 2 bytes ---\nx\n" in ended
    silent = call("bash", command="true").result.content
    assert silent.endswith("\n--- stdout: no output ---\n--- stderr: no output ---")
    literal = call("bash", command="echo '(empty)'").result.content
    assert "--- stdout: 1 line, 8 bytes ---\n(empty)\n--- stderr: no output ---" in literal
    blank = call("bash", command="printf 'a\\n\\n\\n'").result.content
    assert "--- stdout: 3 lines, 4 bytes ---\na\n\n\n--- stderr" in blank


def test_a_boundary_printed_by_the_program_is_not_taken_for_ours(call: Call) -> None:
    fakes = "echo '--- stderr: no output ---'; printf 'real\\n--- stderr ---\\nfake\\n' >&2"
    run = call("bash", command=f"{fakes}; exit 3")
    parts = parse_exec_report(run.result.content)
    assert parts.stdout == "--- stderr: no output ---"
    assert parts.stderr == "real\n--- stderr ---\nfake"


def test_process_output_view_is_byte_faithful(call: Call) -> None:
    started = call("bash", command="printf 'ready'; sleep 30", background=True)
    assert "--- output so far: 1 line, 5 bytes, no newline at end ---\nready" in (
        started.result.content
    )
    quiet = call("bash", command="sleep 30", background=True)
    assert quiet.result.content.endswith("\n--- output so far: no output ---")
    out = call("processes", action="output", id="p1")
    assert out.result.content.endswith("--- output: 1 line, 5 bytes, no newline at end ---\nready")
    for pid in ("p1", "p2"):
        call("processes", action="stop", id=pid)


def test_bash_runs_in_the_workspace_sandbox(call: Call, ws: Path) -> None:
    run = call("bash", command="pwd; echo data > made.txt")
    assert parse_exec_report(run.result.content).stdout == "/workspace"
    assert (ws / "made.txt").read_text() == "data\n"


def test_bash_label_is_one_clipped_line(call: Call) -> None:
    run = call("bash", command="echo first\n" + "echo second " * 30)
    assert "\n" not in run.label and len(run.label) <= len("Running: ") + 80


# --- narrate / document -------------------------------------------------------------------


def test_narrate_without_phase(call: Call) -> None:
    run = call("narrate", message="I set up the project skeleton.")
    assert run.result.ok
    assert run.effects == [NarrationEffect(message="I set up the project skeleton.")]
    assert run.summary == "I set up the project skeleton."


def test_narrate_with_phase_opens_it_before_the_message(call: Call) -> None:
    run = call("narrate", message="Now the API.", phase_name="Building the API")
    assert run.effects == [
        PhaseEffect(phase_name="Building the API"),
        NarrationEffect(message="Now the API."),
    ]
    assert run.label == "Phase: Building the API"


def test_document_produces_its_effect(call: Call) -> None:
    run = call("document", section="getting_started", content="# Start\nRun it.")
    assert run.result.ok
    assert run.effects == [DocumentEffect(section="getting_started", content="# Start\nRun it.")]


# --- failures are results -----------------------------------------------------------------


def test_unknown_tool_lists_the_real_ones(call: Call) -> None:
    run = call("delete_everything", path="/")
    assert not run.result.ok
    assert "unknown tool 'delete_everything'" in run.result.content
    assert "read_file" in run.result.content and "glob" in run.result.content


def test_schema_invalid_input_names_the_field(call: Call, ws: Path) -> None:
    run = call("read_file", path="a.py", offset="ten", colour="red")
    assert not run.result.ok and run.summary == "invalid input"
    assert "field 'offset'" in run.result.content
    assert "'colour' was unexpected" in run.result.content
    missing = call("write_file", path="x.txt")
    assert "'content' is a required property" in missing.result.content
    assert not (ws / "x.txt").exists()


def test_exception_inside_a_tool_becomes_a_result(call: Call, ws: Path) -> None:
    # A lone surrogate cannot be encoded as UTF-8: the implementation raises, run() must not.
    run = call("write_file", path="bad.txt", content="oops \ud800")
    assert not run.result.ok
    assert "write_file failed: UnicodeEncodeError" in run.result.content
    assert not (ws / "bad.txt").exists()


def test_sandbox_errors_become_results(ws: Path) -> None:
    from cofounder.sandbox import BwrapSandbox, SandboxLimits

    sb = BwrapSandbox(ws, SandboxLimits())
    sb.close()
    run = ToolBox(sb).run(ToolUseBlock(id="t", name="bash", input={"command": "true"}))
    assert not run.result.ok and "sandbox error: sandbox is closed" in run.result.content


def test_results_are_capped_by_output_limit(ws: Path) -> None:
    from cofounder.sandbox import BwrapSandbox, SandboxLimits

    (ws / "f.txt").write_text("".join(f"{i}\n" for i in range(3000)))
    sb = BwrapSandbox(ws, SandboxLimits())
    box = ToolBox(sb, output_limit_chars=2000)
    run = box.run(ToolUseBlock(id="t", name="read_file", input={"path": "f.txt"}))
    assert len(run.result.content) <= 2000 and "continue with offset=" in run.result.content
    run = box.run(ToolUseBlock(id="t", name="bash", input={"command": "cat f.txt"}))
    assert run.result.truncated and len(run.result.content) < 2300
    sb.close()


def test_specs_match_the_tools(toolbox: ToolBox) -> None:
    specs = {s.name: s for s in toolbox.specs()}
    assert list(specs) == [
        "read_file", "write_file", "edit_file", "bash", "grep", "glob", "narrate", "document",
        "ask_founder", "processes", "preview", "take_screenshot",
    ]  # fmt: skip
    assert specs["bash"].input_schema["properties"]["timeout"]["maximum"] == 600
    assert specs["document"].input_schema["properties"]["section"]["enum"] == [
        "overview", "features", "getting_started", "faq",
    ]  # fmt: skip
    assert all(s.description for s in specs.values())


# --- path escapes through every file tool -------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "extra"),
    [
        ("read_file", {}),
        ("write_file", {"content": "pwned\n"}),
        ("edit_file", {"old_string": "needle", "new_string": "pwned"}),
    ],
)
def test_file_tools_refuse_every_escape(
    call: Call, ws: Path, outside: Path, tool: str, extra: dict[str, str]
) -> None:
    os.symlink(outside / "secret.txt", ws / "secret-link.txt")
    os.symlink(outside, ws / "outdir")
    os.symlink("/etc", ws / "etc")
    attempts = [
        "../outside/secret.txt",
        str(outside / "secret.txt"),
        "/etc/hostname",
        "/workspace/../outside/secret.txt",
        "secret-link.txt",
        "outdir/secret.txt",
        "outdir/new.txt",
        "etc/hostname",
    ]
    for path in attempts:
        run = call(tool, path=path, **extra)
        assert not run.result.ok, path
        assert run.summary == "path refused", (path, run.result.content)
        assert "HOST-SECRET" not in run.result.content
    assert (outside / "secret.txt").read_text() == "HOST-SECRET needle\n"
    assert sorted(p.name for p in outside.iterdir()) == ["leak.py", "secret.txt"]


def test_symlink_inside_workspace_is_usable(call: Call, ws: Path) -> None:
    (ws / "real").mkdir()
    (ws / "real" / "f.txt").write_text("hello\n")
    os.symlink("real", ws / "alias")
    assert call("read_file", path="alias/f.txt").result.content == "     1\thello"
    assert call("edit_file", path="alias/f.txt", old_string="hello", new_string="bye").result.ok
    assert (ws / "real" / "f.txt").read_text() == "bye\n"
