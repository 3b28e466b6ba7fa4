"""The bash report: byte-faithful streams, one true elision, boundaries no output can fake.

Cases ported from what peer shell tools' suites check (SWE-agent, OpenHands, Claude Code's
bash tool): a missing final newline is visible, "no output" is not the text "(empty)",
blank lines survive, and a long output keeps both ends with an exact count of the middle.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from cofounder.agent.healing.signature import analyse
from cofounder.sandbox import ExecResult, OutputCapture
from cofounder.sandbox.output import Elision
from cofounder.tools import ToolResult
from cofounder.tools.exec_report import format_exec, format_log_tail, parse_exec_report

MARKER = re.compile(r"\[\.\.\. (\d+) lines? \((\d+) bytes\) elided \.\.\.\]")


def captured(data: bytes, limit: int = 64 * 1024) -> tuple[str, Elision | None]:
    cap = OutputCapture(limit)
    for i in range(0, len(data), 65536):
        cap.feed(data[i : i + 65536])
    res = cap.result()
    return res.text, res.cut


def exec_result(
    out: bytes = b"", err: bytes = b"", *, code: int = 0, limit: int = 65536
) -> ExecResult:
    out_text, out_cut = captured(out, limit)
    err_text, err_cut = captured(err, limit)
    return ExecResult(
        exit_code=code,
        stdout=out_text,
        stderr=err_text,
        duration_ms=250,
        truncated=out_cut is not None or err_cut is not None,
        stdout_cut=out_cut,
        stderr_cut=err_cut,
    )


def report(out: bytes = b"", err: bytes = b"", *, limit: int = 30_000, code: int = 0) -> str:
    content, _ = format_exec(exec_result(out, err, code=code), 120, limit)
    return content


def test_a_missing_final_newline_is_visible() -> None:
    with_nl, without = report(b"x\n"), report(b"x")
    assert with_nl != without
    assert with_nl == (
        "Exit code 0 after 0.2s.\n--- stdout: 1 line, 2 bytes ---\nx\n--- stderr: no output ---"
    )
    assert "--- stdout: 1 line, 1 byte, no newline at end ---\nx\n" in without


def test_no_output_is_not_the_text_empty() -> None:
    nothing = report()
    assert nothing == (
        "Exit code 0 after 0.2s.\n--- stdout: no output ---\n--- stderr: no output ---"
    )
    literal = report(b"(empty)\n", b"(empty)")
    assert literal != nothing
    assert parse_exec_report(literal).stdout == "(empty)"
    assert parse_exec_report(nothing).stdout == ""


def test_blank_lines_and_trailing_whitespace_survive() -> None:
    content = report(b"a  \n\n\n")
    assert "--- stdout: 3 lines, 6 bytes ---\na  \n\n\n--- stderr" in content
    assert "--- stdout: 1 line, 1 byte ---\n\n--- stderr" in report(b"\n")


def test_a_fake_boundary_in_stdout_does_not_end_the_section() -> None:
    out = b"--- stderr: no output ---\n--- stderr ---\n(empty)\n"
    content = report(out, b"boom: real error\n", code=1)
    parts = parse_exec_report(content)
    assert parts.status == "Exit code 1 after 0.2s."
    assert parts.stdout == out.decode().removesuffix("\n")
    assert parts.stderr == "boom: real error"


def test_seq_two_million_is_cut_once_with_the_true_count() -> None:
    data = "".join(f"{i}\n" for i in range(1, 2_000_001)).encode()
    content, cut_here = format_exec(exec_result(data), 120, 30_000)
    assert cut_here and len(content) <= 30_000
    assert content.count("elided") == 1
    header = content.split("\n")[1]
    assert header.startswith("--- stdout: 2000000 lines, 14888896 bytes; showing the first ")
    m = MARKER.search(content)
    assert m is not None
    body = parse_exec_report(content).stdout.split("\n")
    head, tail = body[: body.index(m.group(0))], body[body.index(m.group(0)) + 1 :]
    assert head == [str(i) for i in range(1, len(head) + 1)]
    assert tail == [str(i) for i in range(2_000_001 - len(tail), 2_000_001)]
    assert len(head) + int(m.group(1)) + len(tail) == 2_000_000
    shown_bytes = sum(len(x) + 1 for x in head + tail)
    assert shown_bytes + int(m.group(2)) == len(data)


def test_both_streams_long_share_the_limit_and_each_counts_its_own() -> None:
    out = b"".join(b"out %d\n" % i for i in range(50_000))
    err = b"".join(b"err %d\n" % i for i in range(50_000))
    content, _ = format_exec(exec_result(out, err), 120, 1000)
    assert len(content) <= 1000
    parts = parse_exec_report(content)
    for text, data, name in ((parts.stdout, out, "out"), (parts.stderr, err, "err")):
        m = MARKER.search(text)
        assert m is not None
        shown = [ln for ln in text.split("\n") if ln.startswith(name)]
        assert len(shown) + int(m.group(1)) == 50_000
        assert sum(len(s) + 1 for s in shown) + int(m.group(2)) == len(data)


def test_a_short_stream_is_never_cut_to_make_room() -> None:
    err = b"Error: the one line that matters\n"
    content, _ = format_exec(exec_result(b"x" * 100_000 + b"\n", err, code=1), 120, 2000)
    assert parse_exec_report(content).stderr == err.decode().removesuffix("\n")
    assert "elided mid-line" in content


def test_old_reports_are_still_read() -> None:
    old = "Exit code 2 after 0.1s.\n--- stdout ---\n(empty)\n--- stderr ---\nls: nope"
    parts = parse_exec_report(old)
    assert (parts.status, parts.stdout, parts.stderr) == ("Exit code 2 after 0.1s.", "", "ls: nope")


printable = st.text(st.characters(codec="utf-8"), max_size=300)


@settings(max_examples=200, deadline=None)
@given(out=printable, err=printable, fake=st.sampled_from(["", "--- stderr: no output ---\n"]))
def test_any_output_reads_back_exactly(out: str, err: str, fake: str) -> None:
    out = fake + out
    content = report(out.encode(), err.encode())
    parts = parse_exec_report(content)
    assert parts.stdout == out.removesuffix("\n")
    assert parts.stderr == err.removesuffix("\n")
    assert content.split("\n")[0] == "Exit code 0 after 0.2s."


def test_log_tail_says_how_much_came_before() -> None:
    assert format_log_tail("", 0) == "--- output: no output ---"
    assert format_log_tail("ready\n", 6) == "--- output: 1 line, 6 bytes ---\nready"
    tail = format_log_tail("b\nc", 1000, name="output so far")
    assert tail == (
        "--- output so far: the last 2 lines (3 bytes) of 1000 bytes written, "
        "no newline at end ---\nb\nc"
    )


def test_healing_reads_the_report_by_its_counts() -> None:
    """error_signature takes the key line from stderr first; a fake boundary plus an error
    line in stdout must not be read as stderr, and a timeout is still seen as one."""
    out = b"--- stderr: no output ---\nTypeError: printed by a test fixture\n"
    err = b"ModuleNotFoundError: No module named 'flask'\n"
    content = report(out, err, code=1)
    result = ToolResult(tool_use_id="t", ok=False, content=content, exit_code=1)
    failure = analyse("bash", {"command": "python app.py"}, result)
    assert failure is not None
    assert failure.key_line == "ModuleNotFoundError: No module named 'flask'"
    timed = ExecResult(exit_code=124, stdout="", stderr="", timed_out=True)
    content, _ = format_exec(timed, 5, 30_000)
    result = ToolResult(tool_use_id="t", ok=False, content=content, exit_code=None)
    failure = analyse("bash", {"command": "npm test"}, result)
    assert failure is not None and failure.timed_out and failure.exit_code == 124
