"""One spelling per command, so healing sees `python3 ./x.py` and `cd . && python x.py` as one.

Healing counts attempts per failure signature and spots "the same action again" by a digest
of the call. Trivially different spellings of one command made three identical failures look
like three different problems, so they never escalated. The canonical form drops what does
not change what runs: a leading `cd .`/`cd /workspace`, a leading `./` on an argument, the
version suffix of `python3`/`pip3`, repeated whitespace outside quotes, comments and a
trailing `;`. Quoted text is kept verbatim. Pure; a line that does not parse is only trimmed.
"""

from __future__ import annotations

import re
from functools import lru_cache

from tree_sitter import Node

from cofounder.agent.commands.shell_parse import literal, parse_tree

# Directories a leading `cd` may name without changing where the rest runs.
_HOME_DIRS = frozenset({".", "./", "/workspace", "/workspace/"})
_VERSIONED = re.compile(r"^(python|pip)3(?:\.\d+)?$")
_ATOMIC = frozenset({"word", "string", "raw_string", "ansi_c_string", "heredoc_body", "comment"})
_SEPARATORS = frozenset({"&&", ";"})
_MAX_LEADING_CDS = 4


def _first_command(node: Node) -> Node | None:
    """The line's first simple command, when it sits at the top (not inside `( … )` etc.)."""
    while node.type in ("program", "list"):
        named = [c for c in node.children if c.is_named and c.type != "comment"]
        if not named:
            return None
        node = named[0]
    return node if node.type == "command" else None


def _without_leading_cd(command: str) -> tuple[str, Node]:
    """Drop `cd . &&` / `cd /workspace;` at the start of the line (repeatedly); also returns
    the parsed root of what is left, so it is parsed only once more per dropped `cd`."""
    root = parse_tree(command).root_node
    for _ in range(_MAX_LEADING_CDS):
        first = _first_command(root)
        if first is None or root.has_error:
            break
        words = [literal(c) for c in first.children if c.type in ("command_name", "word")]
        following = first.next_sibling
        if len(words) != 2 or words[0] != "cd" or words[1] not in _HOME_DIRS or following is None:
            break
        if following.type in _SEPARATORS:
            following = following.next_sibling
        elif not (first.parent is not None and first.parent.type == "program"):
            break  # `cd . || exit` and the like: keep it
        if following is None:
            break  # `cd .` alone is the whole command
        raw = command.encode("utf-8", "surrogatepass")
        command = raw[following.start_byte :].decode("utf-8", "surrogatepass")
        root = parse_tree(command).root_node
    return command, root


def _spelling(node: Node) -> str:
    """How one leaf is written in the canonical form."""
    text = (node.text or b"").decode("utf-8", "replace")
    parent = node.parent
    if node.type == "word" and parent is not None:
        if parent.type == "command_name":
            match = _VERSIONED.match(text)
            return match.group(1) if match else text
        if parent.type == "command":
            while text.startswith("./") and len(text) > 2 and text[2] not in "-/":
                text = text[2:]
    return text


def _leaves(node: Node) -> list[Node]:
    leaves: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in _ATOMIC or current.child_count == 0:
            leaves.append(current)
        else:
            stack.extend(reversed(current.children))
    return leaves


def _gap(text: str) -> str:
    text = text.replace("\\\n", " ")
    return "\n" if "\n" in text else (" " if text else "")


@lru_cache(maxsize=512)
def canonical_command(command: str) -> str:
    """The canonical spelling of a bash line (see the module docstring)."""
    command, root = _without_leading_cd(command.strip())
    if root.has_error:
        return command
    raw = command.encode("utf-8", "surrogatepass")
    kept = [leaf for leaf in _leaves(root) if leaf.type != "comment"]
    if kept and kept[-1].type == ";" and kept[-1].parent == root:
        kept.pop()
    out: list[str] = []
    end = 0
    for leaf in kept:
        if out:
            out.append(_gap(raw[end : leaf.start_byte].decode("utf-8", "replace")))
        out.append(_spelling(leaf))
        end = leaf.end_byte
    return "".join(out)
