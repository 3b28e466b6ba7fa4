"""Untrusted text made inert for a terminal: the one function every human CLI view uses.

Model output, narration, tool labels, project names, file names and error messages that echo
input may carry ESC sequences (retitle or clear the terminal, rewrite earlier lines), other
C0/C1 controls, DEL, or bidi overrides that reorder what the reader sees. They are shown
escaped (`\\x1b`, `\\u202e`) instead.

Views print `rich.text.Text` built from inert values, never markup strings: a markup string
would read `[red]` in a project name as a style and `:smile:` as an emoji. `--json` output
is not touched: JSON already escapes controls.
"""

from __future__ import annotations

import re

# C0 controls (newline and tab handled apart), DEL, C1 controls, and the Unicode bidi
# controls: ALM, LRM/RLM, embeddings and overrides (LRE..RLO), isolates (LRI..PDI).
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE_LINE = re.compile(f"[{_UNSAFE}\t\n]")
_UNSAFE_BLOCK = re.compile(f"[{_UNSAFE}]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: str, *, multiline: bool = False) -> str:
    """`text` with every control and bidi character shown escaped.

    One-line fields (names, labels, ids, reasons) escape newlines and tabs too, so they cannot
    forge extra lines; `multiline` keeps them for prose (the agent's messages, documentation).
    """
    pattern = _UNSAFE_BLOCK if multiline else _UNSAFE_LINE
    return pattern.sub(_escaped, text)
