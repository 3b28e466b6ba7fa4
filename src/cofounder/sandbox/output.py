"""Head+tail truncation of command and tool output, with one true account of what was cut.

A build log's start (what ran) and end (the error) matter most, so when output is too long we
keep whole lines from both ends and say exactly how much was cut in between. `OutputCapture`
does this on a byte stream without ever holding more than about the limit in memory, and
records where it cut (`Elision`) so a later, smaller cut (`Shown.shrink`, the model's limit)
adds to the same gap instead of stacking a second marker that counts only what it saw.
`truncate_text` does the same for a string already in memory (generic tool output caps).
"""

from __future__ import annotations

from dataclasses import dataclass


def plural(count: int, noun: str) -> str:
    """`1 line`, `2 lines`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def elision_marker(lines: int, amount: int, unit: str) -> str:
    """The line that stands in for the cut middle, e.g. `[... 12 lines (3400 bytes) elided ...]`."""
    return f"[... {plural(lines, 'line')} ({amount} {unit}) elided ...]"


def gap_marker(newlines: int, amount: int, *, mid_line: bool) -> str:
    """The marker for a gap of `amount` bytes holding `newlines` newlines. A gap that starts or
    ends inside a line cannot be counted in whole lines, so it says so and counts newlines."""
    if not mid_line:
        return elision_marker(newlines, amount, "bytes")
    among = f" ({plural(newlines, 'newline')} among them)" if newlines else ""
    return f"[... {plural(amount, 'byte')} elided mid-line{among} ...]"


def _cut_head(head: str, budget: int) -> str:
    """At most `budget` characters from the start of `head`, ending after a newline if possible
    (all of it when it fits)."""
    if budget >= len(head):
        return head
    piece = head[:budget]
    nl = piece.rfind("\n")
    return piece[: nl + 1] if nl >= 0 else piece


def _cut_tail(text: str, budget: int) -> str:
    """At most `budget` characters from the end of `text`, starting after a newline if possible.

    We look at one character more than the budget so a tail that already begins on a line
    boundary is kept whole. A cut that would leave nothing (the window's only newline is its
    last character) keeps the end of that line instead.
    """
    if budget <= 0:
        return ""
    window = text[-(budget + 1) :] if budget + 1 < len(text) else text
    if len(window) <= budget:
        return window
    nl = window.find("\n")
    return window[nl + 1 :] if 0 <= nl < len(window) - 1 else window[1:]


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


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", errors="replace"))


@dataclass(frozen=True)
class Elision:
    """Where a capture cut a stream: `text[:at]` is its start and `text[resume:]` its end (what
    follows may be notes appended later, e.g. the sandbox's); between them the program wrote
    `elided_bytes` bytes holding `elided_newlines` newlines that were not kept (the last of
    those bytes a newline when `ends_line`). The marker line standing between is ours."""

    at: int
    resume: int
    elided_bytes: int
    elided_newlines: int
    ends_line: bool = True


@dataclass(frozen=True)
class Shown:
    """One stream as a reader sees it: its start, its end and the gap between (no gap when
    `elided_bytes` is 0: then the whole stream is `head`). Bytes count the UTF-8 of the decoded
    text; inside the gap the program's raw bytes. They agree unless it wrote invalid UTF-8."""

    head: str
    tail: str = ""
    elided_bytes: int = 0
    elided_newlines: int = 0
    gap_ends_line: bool = True

    @classmethod
    def of(cls, text: str, cut: Elision | None = None) -> Shown:
        """The stream behind `text`, which a capture may have cut as `cut` says."""
        if cut is None:
            return cls(text)
        return cls(
            text[: cut.at],
            text[cut.resume :],
            cut.elided_bytes,
            cut.elided_newlines,
            cut.ends_line,
        )

    @property
    def elided(self) -> bool:
        return self.elided_bytes > 0

    @property
    def chars(self) -> int:
        return len(self.head) + len(self.tail)

    @property
    def total_bytes(self) -> int:
        return _utf8_len(self.head) + self.elided_bytes + _utf8_len(self.tail)

    @property
    def ends_with_newline(self) -> bool:
        return (self.tail if self.elided else self.head).endswith("\n")

    @property
    def total_lines(self) -> int:
        """Every newline ends a line, and a last line without one counts too."""
        newlines = self.head.count("\n") + self.elided_newlines + self.tail.count("\n")
        return newlines + (0 if self.ends_with_newline or not self.total_bytes else 1)

    @property
    def marker(self) -> str:
        """The line that stands for the gap, counting it in whole lines when it holds whole
        lines, else in bytes and newlines."""
        starts_line = not self.head or self.head.endswith("\n")
        mid_line = not (starts_line and self.gap_ends_line)
        return gap_marker(self.elided_newlines, self.elided_bytes, mid_line=mid_line)

    def render(self) -> str:
        """Head, marker line, tail; just the head when nothing was elided."""
        if not self.elided:
            return self.head
        sep = "" if not self.head or self.head.endswith("\n") else "\n"
        return f"{self.head}{sep}{self.marker}\n{self.tail}"

    def shrink(self, budget: int) -> Shown:
        """Keep at most `budget` characters (at least 2), cutting more at the gap's edges (or
        from the middle when there is no gap yet) on line boundaries where possible. What is
        cut joins the gap, so its counts stay true however many layers cut."""
        budget = max(budget, 2)
        if self.chars <= budget:
            return self
        if self.elided:  # a short side lends its spare to the other
            head_budget = min(max(budget // 2, budget - len(self.tail)), len(self.head))
            head = _cut_head(self.head, head_budget)
            tail = _cut_tail(self.tail, budget - len(head))
            before_tail = self.tail[: len(self.tail) - len(tail)]
            removed = self.head[len(head) :] + before_tail
            ends_line = before_tail.endswith("\n") if before_tail else self.gap_ends_line
        else:
            head = _cut_head(self.head, budget // 2)
            tail = _cut_tail(self.head, budget - len(head))
            removed = self.head[len(head) : len(self.head) - len(tail)]
            ends_line = removed.endswith("\n")
        return Shown(
            head,
            tail,
            self.elided_bytes + _utf8_len(removed),
            self.elided_newlines + removed.count("\n"),
            ends_line,
        )


def _whole_chars(data: bytes) -> bytes:
    """`data` less a UTF-8 character cut off at its end."""
    for back in range(1, min(4, len(data)) + 1):
        lead = data[-back]
        if lead & 0xC0 != 0x80:  # ASCII or a lead byte: does its whole character fit?
            need = 4 if lead >= 0xF0 else 3 if lead >= 0xE0 else 2 if lead >= 0xC0 else 1
            return data[:-back] if need > back else data
    return data


def _char_after(data: bytes, start: int) -> int:
    """`start`, moved past UTF-8 continuation bytes (a character cut off at the front); never
    to the very end."""
    end = min(len(data) - 1, start + 3)
    while start < end and data[start] & 0xC0 == 0x80:
        start += 1
    return start


@dataclass(frozen=True)
class Captured:
    text: str
    cut: Elision | None
    total_bytes: int

    @property
    def truncated(self) -> bool:
        return self.cut is not None


class OutputCapture:
    """Accumulates one stream incrementally, keeping a bounded head and a bounded tail.

    Memory stays at about `limit_bytes` no matter how much is fed, and every byte and newline
    dropped is counted. Decoding happens once at the end (UTF-8, undecodable bytes replaced);
    cuts are on newlines, or on a character boundary inside a line longer than half the limit.
    """

    def __init__(self, limit_bytes: int) -> None:
        if limit_bytes < 8:  # room for a whole UTF-8 character at either end
            raise ValueError("limit_bytes must be at least 8")
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
            return Captured(data.decode("utf-8", errors="replace"), None, self._total)
        head = bytes(self._head)
        nl = head.rfind(b"\n")
        head = head[: nl + 1] if nl >= 0 else _whole_chars(head)
        tail = bytes(self._tail)
        nl = tail.find(b"\n")
        ends_line = 0 <= nl < len(tail) - 1
        tail = tail[nl + 1 :] if ends_line else tail[_char_after(tail, 1) :]
        shown = Shown(
            head.decode("utf-8", errors="replace"),
            tail.decode("utf-8", errors="replace"),
            self._total - len(head) - len(tail),
            self._newlines - head.count(b"\n") - tail.count(b"\n"),
            ends_line,
        )
        text = shown.render()
        cut = Elision(
            len(shown.head),
            len(text) - len(shown.tail),
            shown.elided_bytes,
            shown.elided_newlines,
            ends_line,
        )
        return Captured(text, cut, self._total)
