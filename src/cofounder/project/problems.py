"""Turn pydantic validation errors into founder-readable FieldProblems.

pydantic's own messages ("Input should be a valid string") and locations (tuples with union
tags) are fine for developers, not for someone editing a YAML file; this translates both.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from cofounder.project.errors import FieldProblem
from cofounder.project.spec import (
    NAME_MAX_CHARS,
    TIERS,
    ProjectSpec,
    QnA,
)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# pydantic tags each nested JsonValue with the branch it tried; these are not user keys.
_JSON_VALUE_TAGS = frozenset({"dict", "list", "str", "int", "float", "bool", "none"})


def allowed_keys(model: type[ProjectSpec] | type[QnA]) -> list[str]:
    return list(model.model_fields)


def problems_from_validation_error(error: ValidationError) -> list[FieldProblem]:
    return [_problem(detail) for detail in error.errors()]


def field_path(loc: tuple[int | str, ...]) -> str:
    """('understanding_qna', 2, 'answer') -> 'understanding_qna[2].answer'."""
    return data_path(tuple(_drop_json_value_tags(loc)))


def data_path(loc: tuple[Any, ...]) -> str:
    """A path of plain-data keys and list indices; keys that are not text show as [repr]."""
    path = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            path += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.match(part):
            path += f".{part}" if path else part
        elif isinstance(part, str):
            path += "[" + _quote(part) + "]"
        else:
            path += f"[{_clip(repr(part))}]"
    return path


def describe(value: Any) -> str:
    """A short, plain description of what was found, for 'got ...' messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"text ({_quote(_clip(value))})"
    if isinstance(value, dict):
        return "a mapping (key: value pairs)"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__} value"


def _problem(detail: ErrorDetails) -> FieldProblem:
    loc = tuple(detail["loc"])
    kind = detail["type"]
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    if loc and loc[-1] == "[key]":
        return FieldProblem(
            field_path(loc[:-2]),
            f"key {value!r} must be text; put it in quotes",
        )
    if kind == "invalid_key":  # a non-text key where only known keys are allowed
        parent = ProjectSpec if len(loc) == 1 else QnA
        return FieldProblem(
            field_path(loc[:-1]),
            f"unknown key {value!r}; allowed keys are: {', '.join(allowed_keys(parent))}",
        )
    field = field_path(loc)
    return FieldProblem(field, _message(kind, loc, value, ctx, detail["msg"]))


def _message(
    kind: str, loc: tuple[int | str, ...], value: Any, ctx: dict[str, Any], fallback: str
) -> str:
    last = loc[-1] if loc else ""
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        parent = ProjectSpec if len(loc) == 1 else QnA
        return f"unknown key; allowed keys are: {', '.join(allowed_keys(parent))}"
    if kind == "string_type":
        return f"must be text, got {describe(value)}"
    if kind == "string_too_short" or (kind == "too_short" and ctx.get("min_length") == 1):
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long ({len(value)} characters; the limit is {ctx['max_length']})"
    if kind == "string_pattern_mismatch":
        return _pattern_message(last, value)
    if kind == "literal_error" and last == "tier":
        return f"must be one of {', '.join(TIERS)}; got {describe(value)}"
    if kind == "model_type":
        keys = " and ".join(allowed_keys(QnA))
        return f"must be a mapping with keys {keys}, got {describe(value)}"
    if kind == "dict_type":
        return f"must be a mapping (key: value pairs), got {describe(value)}"
    if kind == "list_type":
        return f"must be a list, got {describe(value)}"
    if kind == "invalid-json-value":
        plain = "text, a number, true/false, a list or a mapping"
        return f"must be plain data ({plain}), got {describe(value)}"
    return fallback


def _pattern_message(field: int | str, value: Any) -> str:
    if field == "name":
        return f"must be a single line of at most {NAME_MAX_CHARS} characters"
    if field == "owner":
        return (
            "may only contain letters, digits, '_', '.' and '-', must start with a letter or"
            f" digit and be at most 64 characters; got {describe(value)}"
        )
    if field == "model":
        return (
            "must look like PROVIDER:NAME, e.g. 'anthropic:claude-sonnet-4-5', 'openai:gpt-4o'"
            f" or 'scripted:trajectory.yaml'; got {describe(value)}"
        )
    return f"has an invalid format; got {describe(value)}"


def _drop_json_value_tags(loc: tuple[int | str, ...]) -> list[int | str]:
    # Inside idea_brief, loc alternates key/tag after the first key:
    # ('idea_brief', key, 'dict', key, 'list', 0, ...). Drop the tags, keep the keys.
    if not loc or loc[0] != "idea_brief":
        return list(loc)
    kept: list[int | str] = list(loc[:2])
    for position, part in enumerate(loc[2:], start=2):
        if position % 2 == 0 and part in _JSON_VALUE_TAGS:
            continue
        kept.append(part)
    return kept


def _quote(text: str) -> str:
    """Text in double quotes, with anything unprintable (newlines, NUL, lone surrogates)
    escaped: a message must print as one line on any terminal, whatever the file held."""
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else _escape(c) for c in body) + '"'


def _escape(char: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
