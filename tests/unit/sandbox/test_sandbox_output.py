"""Head+tail truncation: whole lines from both ends and an exact account of what was cut."""

from __future__ import annotations

import re

import pytest

from cofounder.sandbox import OutputCapture, truncate_text

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
