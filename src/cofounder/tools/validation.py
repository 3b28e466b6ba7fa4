"""Check a tool call's input against its JSON schema and say precisely what is wrong.

The model repairs its call from this message alone, so it names the field, the problem and
what the tool expects.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

_MAX_ERRORS = 5


def make_validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _field(error: ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path)


def _describe(error: ValidationError) -> str:
    """Messages for `required` and `additionalProperties` already name the property."""
    field = _field(error)
    return f"field {field!r}: {error.message}" if field else error.message


def expected_fields(schema: dict[str, Any]) -> str:
    """`path (string, required), offset (integer)` — a compact reminder of the input shape."""
    required = set(schema.get("required", []))
    parts = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type", "any")
        if "enum" in prop:
            kind = "one of " + "|".join(str(v) for v in prop["enum"])
        parts.append(f"{name} ({kind}{', required' if name in required else ''})")
    return ", ".join(parts)


def input_errors(
    tool: str, validator: Draft202012Validator, schema: dict[str, Any], data: Any
) -> str | None:
    """None when `data` is valid, else one message listing every problem found."""
    errors = sorted(
        validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    if not errors:
        return None
    problems = [_describe(e) for e in errors[:_MAX_ERRORS]]
    if len(errors) > _MAX_ERRORS:
        problems.append(f"... and {len(errors) - _MAX_ERRORS} more")
    return (
        f"invalid input for {tool}: "
        + "; ".join(problems)
        + f". Expected fields: {expected_fields(schema)}."
    )
