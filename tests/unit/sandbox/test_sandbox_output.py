"""Head+tail truncation: whole lines from both ends and an exact account of what was cut."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cofounder.sandbox import OutputCapture, truncate_text
from cofounder.sandbox.output import Shown

MARKER = re.compile(r"\[\.\.\. (\d+) lines? \((\d+) (bytes|chars)\) elided \.\.\.\]")


def numbered(n: int) -> bytes:
    return "".join(f"line {i}\n" for i in range(1, n + 1)).encode()


def feed_in_chunks(cap: OutputCapture, data: bytes, size: int) -> None:
    for i in range(0, len(data), size):
        cap.feed(data[i : i + size])


def test_small_output_is_kept_verbatim() -> None:
    cap = OutputCapture(1024)
    cap.feed(b"hello\n")
    cap.feed(b"world")
    res = cap.result()
    assert (res.text, res.truncated, res.total_bytes) == ("hello\nworld", False, 11)


def test_output_exactly_at_limit_is_not_truncated() -> None:
    data = b"x" * 99 + b"\n"
    cap = OutputCapture(100)
    feed_in_chunks(cap, data, 7)
    assert cap.result().text == data.decode()
    assert not cap.result().truncated


@pytest.mark.parametrize("chunk", [1, 13, 4096, 10**7])
def test_long_output_keeps_whole_head_and_tail_lines_and_counts_the_rest(chunk: int) -> None:
    data = numbered(20000)
    cap = OutputCapture(2048)
    feed_in_chunks(cap, data, chunk)
    res = cap.result()
    assert res.truncated
    head, _marker, tail = res.text.partition("\n[...")
    assert head.startswith("line 1\nline 2\n")
    assert tail.endswith("line 19999\nline 20000\n")
    m = MARKER.search(res.text)
    assert m is not None and m.group(3) == "bytes"
    head_lines = head.split("\n")
    tail_lines = tail.split("\n", 1)[1].splitlines()
    assert all(re.fullmatch(r"line \d+", ln) for ln in head_lines + tail_lines)
    # Every line is either shown or counted as elided, and the byte count adds up.
    assert len(head_lines) + int(m.group(1)) + len(tail_lines) == 20000
    kept = len(head.encode()) + 1 + len("\n".join(tail_lines).encode()) + 1
    assert kept + int(m.group(2)) == len(data)
    assert len(res.text) < 2048 + 100


def test_tail_that_starts_on_a_line_boundary_keeps_that_line() -> None:
    # 10-byte lines and a 20-byte tail budget: the last two lines fit exactly.
    data = b"".join(f"{i:09d}\n".encode() for i in range(100))
    cap = OutputCapture(40)
    cap.feed(data)
    tail = cap.result().text.rsplit("]\n", 1)[1]
    assert tail == "000000098\n000000099\n"


def test_memory_stays_bounded_for_huge_output() -> None:
    cap = OutputCapture(4096)
    block = b"y" * 1023 + b"\n"
    for _ in range(50_000):  # 50 MiB
        cap.feed(block)
    assert len(cap._head) + len(cap._tail) <= 4096 + 1
    assert cap.result().total_bytes == 50_000 * 1024


def test_invalid_utf8_is_replaced_not_raised() -> None:
    cap = OutputCapture(1024)
    cap.feed(b"ok \xff\xfe end\n")
    assert cap.result().text == "ok \ufffd\ufffd end\n"


def test_truncate_text_marks_chars_and_keeps_lines() -> None:
    text = "".join(f"row {i}\n" for i in range(1000))
    out, cut = truncate_text(text, 500)
    assert cut
    m = MARKER.search(out)
    assert m is not None and m.group(3) == "chars"
    assert out.startswith("row 0\n") and out.endswith("row 999\n")
    shown = [ln for ln in out.splitlines() if ln.startswith("row ")]
    assert len(shown) + int(m.group(1)) == 1000


def test_truncate_text_leaves_short_text_alone() -> None:
    assert truncate_text("short", 10) == ("short", False)


def test_truncate_text_single_giant_line_is_still_bounded() -> None:
    out, cut = truncate_text("z" * 100_000, 1000)
    assert cut and len(out) < 1100 and out.startswith("zzz") and out.endswith("zzz")


# --- one true count across layers (issue 13) -----------------------------------------------


def lines_of(data: bytes) -> int:
    """Lines as a reader counts them: a last line without a newline counts too."""
    return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


def assert_accounts_for(shown: Shown, data: bytes) -> None:
    """`shown` is a true prefix and suffix of `data`, and its counts add up to the whole."""
    assert data.startswith(shown.head.encode())
    assert data.endswith(shown.tail.encode())
    kept = len(shown.head.encode()) + len(shown.tail.encode())
    assert kept + shown.elided_bytes == len(data) == shown.total_bytes
    newlines = shown.head.count("\n") + shown.tail.count("\n") + shown.elided_newlines
    assert newlines == data.count(b"\n")
    assert shown.total_lines == lines_of(data)
    assert shown.ends_with_newline == data.endswith(b"\n")


def test_capture_says_where_it_cut_and_what_it_dropped() -> None:
    data = numbered(20000)
    cap = OutputCapture(2048)
    feed_in_chunks(cap, data, 4096)
    res = cap.result()
    assert res.cut is not None and res.truncated
    shown = Shown.of(res.text, res.cut)
    assert_accounts_for(shown, data)
    # The marker between head and tail is ours and is not part of either.
    assert res.text[res.cut.at : res.cut.resume].startswith("[... ")
    assert shown.render() == res.text


def test_a_second_cut_adds_to_the_same_gap_instead_of_counting_only_what_it_saw() -> None:
    data = "".join(f"{i}\n" for i in range(1, 2_000_001)).encode()  # `seq 1 2000000`
    cap = OutputCapture(64 * 1024)
    feed_in_chunks(cap, data, 65536)
    res = cap.result()
    shown = Shown.of(res.text, res.cut).shrink(15_000)
    assert shown.chars <= 15_000
    assert_accounts_for(shown, data)
    rendered = shown.render()
    assert len(MARKER.findall(rendered)) == 1
    m = MARKER.search(rendered)
    assert m is not None
    head_lines, tail_lines = shown.head.splitlines(), shown.tail.splitlines()
    assert head_lines == [str(i) for i in range(1, len(head_lines) + 1)]
    assert tail_lines == [str(i) for i in range(2_000_001 - len(tail_lines), 2_000_001)]
    assert len(head_lines) + int(m.group(1)) + len(tail_lines) == 2_000_000
    assert int(m.group(2)) == shown.elided_bytes and m.group(3) == "bytes"


def test_shrinking_text_that_was_never_cut_keeps_both_ends() -> None:
    data = numbered(500)
    shown = Shown(data.decode()).shrink(300)
    assert shown.elided and shown.chars <= 300
    assert shown.head.startswith("line 1\n") and shown.tail.endswith("line 500\n")
    assert_accounts_for(shown, data)
    assert Shown("short\n").shrink(300) == Shown("short\n")


def test_a_giant_line_is_cut_mid_line_on_a_character_boundary_and_says_so() -> None:
    data = ("é" * 5000).encode()  # one line, two bytes a character, no newline at all
    cap = OutputCapture(101)
    feed_in_chunks(cap, data, 7)
    res = cap.result()
    assert "\ufffd" not in res.text
    shown = Shown.of(res.text, res.cut)
    assert_accounts_for(shown, data)
    assert "elided mid-line" in shown.marker and "lines" not in shown.marker
    smaller = shown.shrink(20)
    assert_accounts_for(smaller, data)
    assert smaller.total_lines == 1 and not smaller.ends_with_newline


def test_a_side_that_fits_is_not_cut_to_a_line_boundary() -> None:
    shown = Shown("first\nsecond-part", "t" * 99 + "\n", 10, 1, gap_ends_line=True)
    smaller = shown.shrink(40)
    assert smaller.head == "first\nsecond-part" and len(smaller.tail) == 40 - 17
    assert smaller.elided_bytes == 10 + 100 - 23


def test_a_gap_of_whole_lines_is_counted_in_lines() -> None:
    data = numbered(100)
    shown = Shown(data.decode()).shrink(100)
    assert shown.head.endswith("\n") and shown.gap_ends_line
    assert MARKER.fullmatch(shown.marker)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.text(st.characters(codec="utf-8"), max_size=40), max_size=60),
    final_newline=st.booleans(),
    limit=st.integers(8, 400),
    chunk=st.integers(1, 64),
    budgets=st.lists(st.integers(0, 400), max_size=3),
)
def test_every_byte_and_line_is_shown_or_counted_however_many_layers_cut(
    lines: list[str], final_newline: bool, limit: int, chunk: int, budgets: list[int]
) -> None:
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    data = text.encode()
    cap = OutputCapture(limit)
    feed_in_chunks(cap, data, chunk)
    res = cap.result()
    shown = Shown.of(res.text, res.cut)
    assert_accounts_for(shown, data)
    assert res.truncated == (len(data) > limit)
    for budget in budgets:
        shown = shown.shrink(budget)
        assert shown.chars <= max(budget, 2)
        assert_accounts_for(shown, data)
        assert shown.render().count("[... ") <= text.count("[... ") + 1
