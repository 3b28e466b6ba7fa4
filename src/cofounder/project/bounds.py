"""Size limits on parsed project data, checked before validation and before anything downstream.

A 300-byte YAML file of aliases expands to millions of values; 250 levels of nesting or a
5000-digit integer break pydantic, JSON encoding or the database long after the file was
accepted. These checks refuse such data at the edge, each problem with its field path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cofounder.project.errors import FieldProblem
from cofounder.project.problems import data_path

MAX_DEPTH = 20  # nested mappings/lists, the top-level mapping being level 1
MAX_VALUES = 100_000  # every mapping, list and scalar, each alias use counted again
MAX_TEXT_CHARS = 2 * 1024 * 1024  # all text (keys and values), each alias use counted again
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # what a database integer column or JSON reader holds
# Longer integer literals are not converted at all (Python refuses past 4300 digits anyway).
MAX_INT_LITERAL_CHARS = 40
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class OversizeNumber:
    """An integer literal too long to convert; kept as its text so its field can be named."""

    text: str


def nested_too_deep() -> str:
    return f"nested deeper than {MAX_DEPTH} levels"


def too_much_data() -> str:
    return (
        f"too much data: more than {MAX_VALUES} values or {MAX_TEXT_CHARS} characters of text"
        " (a YAML alias counts each time it is used)"
    )


def check_bounds(data: Any) -> list[FieldProblem]:
    """Every size problem in `data` (at most MAX_PROBLEMS), each with its field path.

    Walks iteratively and stops at the caps, so it is safe on shared (aliased) or even
    self-referencing data: a cycle is reported as nesting that is too deep.
    """
    found: list[FieldProblem] = []
    values = chars = 0
    deep_fields: set[str] = set()
    stack: list[tuple[Any, tuple[Any, ...], int]] = [(data, (), 0)]
    while stack and len(found) < MAX_PROBLEMS:
        value, path, depth = stack.pop()
        values += 1
        if isinstance(value, str):
            chars += len(value)
        if values > MAX_VALUES or chars > MAX_TEXT_CHARS:
            found.append(FieldProblem(data_path(path[:1]), too_much_data()))
            break
        if isinstance(value, dict | list):
            if depth + 1 > MAX_DEPTH:
                top = data_path(path[:1])
                if top not in deep_fields:  # one report per top-level field
                    deep_fields.add(top)
                    found.append(FieldProblem(top, nested_too_deep()))
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children: list[tuple[Any, tuple[Any, ...], int]] = []
            for key, item in items:
                if isinstance(value, dict):
                    problem = _scalar_problem(key, is_key=True)
                    if problem:
                        found.append(FieldProblem(data_path((*path, key)), problem))
                    if isinstance(key, str):
                        chars += len(key)
                children.append((item, (*path, key), depth + 1))
            stack.extend(reversed(children))  # document order, for stable messages
            continue
        problem = _scalar_problem(value, is_key=False)
        if problem:
            found.append(FieldProblem(data_path(path), problem))
    return found[:MAX_PROBLEMS]


def _scalar_problem(value: Any, *, is_key: bool) -> str | None:
    what = "key" if is_key else "value"
    if isinstance(value, OversizeNumber):
        digits = value.text if len(value.text) <= 24 else f"{value.text[:20]}…"
        return (
            f"the number {digits} ({len(value.text)} characters) is too large; numbers must lie"
            f" between {INT_MIN} and {INT_MAX} (put it in quotes to keep it as text)"
        )
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
        return (
            f"the number is too large; numbers must lie between {INT_MIN} and {INT_MAX}"
            " (put it in quotes to keep it as text)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value!r} (put it in quotes to keep it as text)"
    if isinstance(value, str):
        if "\x00" in value:
            return f"the {what} contains a NUL character (\\0), which cannot be stored"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = ord(value[exc.start])
            return f"the {what} contains an invalid character (U+{bad:04X}, a lone surrogate)"
    return None
