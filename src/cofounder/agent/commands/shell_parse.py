"""A bash line as a real parser sees it: every simple command and every redirection in it.

Regex splitting on `&&` and `|` cannot see inside `$(…)`, backticks, process substitutions or
quotes, so `ls $(rm -rf build)` looked like `ls`. tree-sitter-bash (MIT) parses the whole
line; this module flattens its tree into typed commands, wherever they are nested, for the
read-only classifier and the spelling normaliser. Pure: no I/O, the parser is built once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import tree_sitter_bash
from tree_sitter import Language, Node, Parser, Tree

# Redirection operators that open a file for writing (`>&` only with a word, see `writes`).
_WRITE_OPERATORS = frozenset({">", ">>", "&>", "&>>", ">|", ">&", "<>"})
_HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})
_ESCAPES_IN_DOUBLE_QUOTES = {'\\"': '"', "\\\\": "\\", "\\$": "$", "\\`": "`"}


@dataclass(frozen=True, slots=True)
class Redirect:
    """One `>`/`<`-style redirection; `target` is None when it is computed (`> "$f"`)."""

    operator: str
    target: str | None
    into_process: bool  # `> >(tee log)`: the commands inside are checked as commands

    @property
    def writes(self) -> bool:
        """Whether it may create or change a file (fd duplication and /dev/null do not)."""
        if self.operator not in _WRITE_OPERATORS or self.into_process:
            return False
        if self.target in _HARMLESS_TARGETS:
            return False
        duplicates_fd = self.target is not None and (self.target.isdigit() or self.target == "-")
        return not (self.operator == ">&" and duplicates_fd)


@dataclass(frozen=True, slots=True)
class ShellCommand:
    """A simple command: its words, each literal or None where the shell computes it."""

    words: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class ShellLine:
    """Every command and redirection of a line, nested ones included, in source order."""

    commands: tuple[ShellCommand, ...]
    redirects: tuple[Redirect, ...]
    parsed: bool  # False when the parser met a syntax error: trust nothing about the line


_local = threading.local()


def _parser() -> Parser:
    """One parser per thread (a Parser is not shareable), built on first use."""
    parser: Parser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = Parser(_language())
        _local.parser = parser
    return parser


@lru_cache(maxsize=1)
def _language() -> Language:
    return Language(tree_sitter_bash.language())


def parse_tree(command: str) -> Tree:
    """The raw tree-sitter tree (for callers that need byte positions)."""
    return _parser().parse(command.encode("utf-8", "surrogatepass"))


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _unescape_word(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        out.append(next(chars, "") if char == "\\" else char)
    return "".join(out)


def literal(node: Node) -> str | None:
    """The word's value when it is fixed text; None when it expands (`$x`, `$(…)`, …)."""
    kind = node.type
    if kind in ("word", "command_name"):
        if kind == "command_name":
            return literal(node.children[0]) if node.child_count == 1 else None
        return _unescape_word(_text(node))
    if kind == "number":
        return _text(node)
    if kind == "raw_string":
        return _text(node)[1:-1]
    if kind == "ansi_c_string":
        text = _text(node)[2:-1]
        return None if "\\" in text else text
    if kind == "string":
        parts: list[str] = []
        for child in node.children:
            if child.type == "string_content":
                value = _text(child)
                for escaped, plain in _ESCAPES_IN_DOUBLE_QUOTES.items():
                    value = value.replace(escaped, plain)
                parts.append(value)
            elif child.type != '"':
                return None
        return "".join(parts)
    if kind == "concatenation":
        pieces = [literal(child) for child in node.children]
        return None if any(p is None for p in pieces) else "".join(p or "" for p in pieces)
    return None


def _command(node: Node) -> ShellCommand:
    words: list[str | None] = []
    for index, child in enumerate(node.children):
        field = node.field_name_for_child(index)
        if field in ("name", "argument"):
            words.append(literal(child))
    return ShellCommand(words=tuple(words))


def _redirect(node: Node) -> Redirect:
    operator = ""
    target: Node | None = node.child_by_field_name("destination")
    for child in node.children:
        if not child.is_named:
            operator = child.type
    if target is None:  # `2>&1`-style forms keep the target as the last child
        target = node.children[-1] if node.children else None
    into_process = target is not None and target.type == "process_substitution"
    return Redirect(
        operator=operator,
        target=literal(target) if target is not None else None,
        into_process=into_process,
    )


@lru_cache(maxsize=512)
def parse_shell(command: str) -> ShellLine:
    """Flatten the line's tree; cached, since several healing questions ask about one call."""
    root = parse_tree(command).root_node
    commands: list[ShellCommand] = []
    redirects: list[Redirect] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "command":
            commands.append(_command(node))
        elif node.type == "file_redirect":
            redirects.append(_redirect(node))
        stack.extend(reversed(node.children))
    return ShellLine(
        commands=tuple(commands), redirects=tuple(redirects), parsed=not root.has_error
    )
