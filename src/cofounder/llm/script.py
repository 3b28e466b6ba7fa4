"""The scripted-model trajectory file: its schema, and loading it with field-level errors.

A trajectory is a recorded or hand-written list of assistant turns. It is validated completely
when loaded, so a typo fails at construction time, not twenty turns into a demo.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from cofounder.llm.messages import Usage
from cofounder.llm.protocol import ModelError
from cofounder.textfile import FileRefused, read_limited

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# pydantic tags nested JsonValue branches in error locations; they are not user keys.
_JSON_VALUE_TAGS = frozenset({"dict", "list", "str", "int", "float", "bool", "none"})

# A recorded run of a long session is a few MiB; far more is a wrong path, not a trajectory.
MAX_SCRIPT_BYTES = 32 * 1024 * 1024

NonEmpty = Annotated[str, Field(min_length=1)]
Count = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class ScriptToolCall(_Strict):
    name: NonEmpty
    input: dict[str, JsonValue] = Field(default_factory=dict)


class ScriptUsage(_Strict):
    input_tokens: Count = 0
    output_tokens: Count = 0
    cache_read_tokens: Count = 0
    cache_write_tokens: Count = 0

    def to_usage(self) -> Usage:
        return Usage(**self.model_dump())


class ScriptTurn(_Strict):
    text: str | None = None
    tool_calls: list[ScriptToolCall] = Field(default_factory=list)
    usage: ScriptUsage = ScriptUsage()
    expect: list[NonEmpty] = Field(default_factory=list)
    require_ok: bool = False
    # Only to replay a reply the provider cut off; otherwise implied by tool_calls.
    cut_off: bool = False
    # Simulate a provider outage: the first N requests for this turn fail as unavailable.
    unavailable_times: Count = 0

    @model_validator(mode="after")
    def _says_something(self) -> ScriptTurn:
        if not self.text and not self.tool_calls:
            raise ValueError("a turn needs text, tool_calls or both")
        if self.cut_off and self.tool_calls:
            raise ValueError("cut_off marks a text-only reply stopped by max_tokens")
        return self


class Script(_Strict):
    model: NonEmpty = "scripted"
    turns: Annotated[list[ScriptTurn], Field(min_length=1)]

    @model_validator(mode="after")
    def _first_turn_checks_nothing(self) -> Script:
        first = self.turns[0]
        if first.expect or first.require_ok:
            raise ValueError(
                "turns[0] cannot use expect or require_ok: there are no earlier tool results"
            )
        return self


# Parsed trajectories by content: `build` checks the model at start and then loads it again
# (and a worker loads it per session); a frozen Script is safe to share.
_PARSED: dict[bytes, Script] = {}
_PARSED_MAX = 16
# libyaml's parser when installed (about ten times faster); the pure-Python one otherwise.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_script(path: Path) -> Script:
    """Read and validate a trajectory file; every problem is reported in one ModelError."""
    where = f"scripted model: {path}"
    try:
        raw = read_limited(path, MAX_SCRIPT_BYTES, what="trajectory file")
        text = raw.decode("utf-8")
    except FileRefused as exc:
        reason = "trajectory file not found" if str(exc) == "no such file" else str(exc)
        raise ModelError(f"{where}: {reason}") from None
    except UnicodeDecodeError as exc:
        raise ModelError(f"{where}: cannot read the trajectory file: {exc}") from None
    digest = hashlib.sha256(raw).digest()
    cached = _PARSED.get(digest)
    if cached is not None:
        return cached
    script = _parse(text, where)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.pop(next(iter(_PARSED)))
    _PARSED[digest] = script
    return script


def _parse(text: str, where: str) -> Script:
    try:
        data: Any = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem):  # libyaml's own limit
            raise ModelError(f"{where}: invalid YAML: nested too deeply") from None
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ModelError(f"{where}: invalid YAML{at}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ModelError(f"{where}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ModelError(f"{where}: invalid YAML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal past Python's 4300-digit limit
        raise ModelError(f"{where}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{where}: the top level must be a mapping with keys model and turns")
    try:
        return Script.model_validate(data)
    except ValidationError as exc:
        lines = [f"{where}: {_problem(e)}" for e in exc.errors()]
        raise ModelError("\n".join(lines)) from None


def _problem(error: Any) -> str:
    loc = tuple(error["loc"])
    if loc and loc[-1] == "[key]":
        return f"{_field_path(loc[:-2])}: key {error['input']!r} must be text"
    return f"{_field_path(loc)}: {_message(error)}"


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "invalid-json-value":
        return f"is not plain JSON data (got {type(error['input']).__name__})"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return str(error["msg"])


def _field_path(loc: tuple[int | str, ...]) -> str:
    """('turns', 3, 'tool_calls', 0, 'name') -> 'turns[3].tool_calls[0].name'."""
    path = ""
    for part in _drop_json_value_tags(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}" if path else part
        else:
            path += f"[{part!r}]"
    return path or "(top level)"


def _drop_json_value_tags(loc: tuple[int | str, ...]) -> list[int | str]:
    # Under turns[i].tool_calls[j].input, pydantic inserts a JsonValue branch tag after each
    # key or index: (..., 'input', key, 'dict', key, 'list', 0). Keep the keys, drop the tags.
    if len(loc) < 6 or loc[2] != "tool_calls" or loc[4] != "input":
        return list(loc)
    kept = list(loc[:6])
    for position, part in enumerate(loc[6:], start=6):
        if position % 2 == 0 and part in _JSON_VALUE_TAGS:
            continue
        kept.append(part)
    return kept
