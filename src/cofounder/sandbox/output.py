"""Head+tail truncation of command and tool output.

A build log's start (what ran) and end (the error) matter most, so when output is too long we
keep whole lines from both ends and say exactly how much was cut in between. `OutputCapture`
does this on a byte stream without ever holding more than about the limit in memory;
`truncate_text` does the same for a string already in memory (tool output caps).
"""

from __future__ import annotations

from dataclasses import dataclass


def elision_marker(lines: int, amount: int, unit: str) -> str:
    """The line that stands in for the cut middle, e.g. `[... 12 lines (3400 bytes) elided ...]`."""
    noun = "line" if lines == 1 else "lines"
    return f"[... {lines} {noun} ({amount} {unit}) elided ...]"


def _cut_head(head: str, budget: int) -> str:
    """At most `budget` characters from the start of `head`, ending after a newline if possible."""
    piece = head[:budget]
    nl = piece.rfind("\n")
    return piece[: nl + 1] if nl >= 0 else piece


def _cut_tail(text: str, budget: int) -> str:
    """At most `budget` characters from the end of `text`, starting after a newline if possible.

    We look at one character more than the budget so a tail that already begins on a line
    boundary is kept whole.
    """
    window = text[-(budget + 1) :] if budget + 1 < len(text) else text
    if len(window) <= budget:
        return window
    nl = window.find("\n")
    return window[nl + 1 :] if nl >= 0 else window[1:]


def truncate_text(text: str, limit: int) -> tuple[str, bool]:
    """Return `text` unchanged if it fits `limit` characters, else its head and tail with a marker.

    The result (marker included) is at most about `limit` characters plus the marker line.
    Returns (text, truncated).
    """
    if len(text) <= limit:
        return text, False
    head = _cut_head(text, limit // 2)
    tail = _cut_tail(text, limit - limit // 2)
    middle = text[len(head) : len(text) - len(tail)]
    marker = elision_marker(middle.count("\n"), len(middle), "chars")
    sep = "" if head.endswith("\n") or not head else "\n"
    return f"{head}{sep}{marker}\n{tail}", True


@dataclass(frozen=True)
class Captured:
    text: str
    truncated: bool
    total_bytes: int


class OutputCapture:
    """Accumulates one stream incrementally, keeping a bounded head and a bounded tail.

    Memory stays at about `limit_bytes` no matter how much is fed. Decoding happens once at the
    end (UTF-8, undecodable bytes replaced); cuts are on newlines so multi-byte characters are
    only split when a single line is longer than half the limit.
    """

    def __init__(self, limit_bytes: int) -> None:
        if limit_bytes < 2:
            raise ValueError("limit_bytes must be at least 2")
        self._limit = limit_bytes
        self._head_budget = limit_bytes // 2
        self._tail_budget = limit_bytes - self._head_budget
        self._head = bytearray()
        self._tail = bytearray()
        self._total = 0
        self._newlines = 0

    @property
    def total_bytes(self) -> int:
        return self._total

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._total += len(chunk)
        self._newlines += chunk.count(b"\n")
        room = self._head_budget - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            # Keep one byte beyond the budget so we can tell whether the tail starts a line.
            keep = self._tail_budget + 1
            if len(chunk) >= keep:
                self._tail = bytearray(chunk[-keep:])
            else:
                self._tail += chunk
                excess = len(self._tail) - keep
                if excess > 0:
                    del self._tail[:excess]

    def result(self) -> Captured:
        if self._total <= self._limit:
            data = bytes(self._head + self._tail)
            return Captured(data.decode("utf-8", errors="replace"), False, self._total)
        head = bytes(self._head)
        nl = head.rfind(b"\n")
        if nl >= 0:
            head = head[: nl + 1]
        tail = bytes(self._tail)
        nl = tail.find(b"\n")
        tail = tail[nl + 1 :] if nl >= 0 else tail[1:]
        elided_bytes = self._total - len(head) - len(tail)
        elided_lines = self._newlines - head.count(b"\n") - tail.count(b"\n")
        marker = elision_marker(elided_lines, elided_bytes, "bytes")
        head_text = head.decode("utf-8", errors="replace")
        tail_text = tail.decode("utf-8", errors="replace")
        sep = "" if head_text.endswith("\n") or not head_text else "\n"
        return Captured(f"{head_text}{sep}{marker}\n{tail_text}", True, self._total)
