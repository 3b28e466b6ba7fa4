"""Untrusted text reaches a terminal inert: controls and bidi overrides shown escaped, Rich
markup and emoji codes left literal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from cofounder.cli.inert import inert


def _rendered(*objects: object) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200, highlight=False).print(*objects)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # retitle the terminal
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # clear it
        ("ok\rFAKE", "ok\\x0dFAKE"),  # overwrite the line
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("a\x7fb\x00c", "a\\x7fb\\x00c"),
        ("abc\u202edcb", "abc\\u202edcb"),  # right-to-left override
        ("\u2066x\u2069\u200f", "\\u2066x\\u2069\\u200f"),
        ("line\nnext\tcol", "line\\x0anext\\x09col"),  # one-line fields cannot forge lines
        ("Café ünïcode 🚀 [red]", "Café ünïcode 🚀 [red]"),
    ],
)
def test_controls_and_bidi_are_shown_escaped(raw: str, shown: str) -> None:
    assert inert(raw) == shown


def test_prose_keeps_its_lines_and_tabs_but_not_escapes() -> None:
    assert inert("one\n\ttwo\x1b[1A", multiline=True) == "one\n\ttwo\\x1b[1A"


def test_every_control_character_is_escaped() -> None:
    hostile = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)])
    shown = inert(hostile)
    assert all(ord(ch) < 0x7F and ch.isprintable() for ch in shown)


def test_markup_and_emoji_codes_in_untrusted_text_stay_literal() -> None:
    name = "[red]Evil[/red] :smile: [link=http://x]y[/link]\x1b[31m"
    out = _rendered(Text.assemble(("name", "bold"), "  ", inert(name)))
    assert "[red]Evil[/red] :smile: [link=http://x]y[/link]\\x1b[31m" in out
    assert "\x1b" not in out
