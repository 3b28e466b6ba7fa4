"""Input validation messages name the field and the expected shape."""

from __future__ import annotations

from typing import Any

import pytest

from cofounder.tools.edit_tool import match_lines
from cofounder.tools.toolbox import ALL_TOOLS
from cofounder.tools.validation import input_errors, make_validator

TOOLS = {t.name: t for t in ALL_TOOLS}


def errors_for(tool: str, data: Any) -> str | None:
    schema = TOOLS[tool].schema
    return input_errors(tool, make_validator(schema), schema, data)


def test_tool_names_are_exactly_the_contract() -> None:
    assert set(TOOLS) == {
        "read_file", "write_file", "edit_file", "bash", "grep", "glob", "narrate", "document",
        "ask_founder", "processes", "preview", "take_screenshot",
    }  # fmt: skip


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_every_schema_is_closed_and_valid(tool: str) -> None:
    schema = TOOLS[tool].schema
    make_validator(schema)  # raises if the schema itself is invalid
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) <= set(schema["properties"])


def test_valid_input_has_no_errors() -> None:
    assert errors_for("read_file", {"path": "a.py", "offset": 3, "limit": 10}) is None


def test_missing_required_field_is_named() -> None:
    msg = errors_for("edit_file", {"path": "a.py", "old_string": "x"})
    assert msg is not None
    assert "'new_string' is a required property" in msg
    assert msg.startswith("invalid input for edit_file:")


def test_unexpected_field_is_named() -> None:
    msg = errors_for("write_file", {"path": "a", "content": "", "mode": "w"})
    assert msg is not None and "'mode' was unexpected" in msg


def test_wrong_type_names_field_and_type() -> None:
    msg = errors_for("read_file", {"path": "a", "limit": "ten"})
    assert msg is not None and "field 'limit'" in msg and "integer" in msg
    assert "Expected fields: path (string, required), offset (integer), limit (integer)" in msg


def test_bash_timeout_is_limited_by_schema() -> None:
    msg = errors_for("bash", {"command": "true", "timeout": 601})
    assert msg is not None and "field 'timeout'" in msg and "600" in msg


def test_document_section_enum() -> None:
    msg = errors_for("document", {"section": "pricing", "content": "x"})
    assert msg is not None and "field 'section'" in msg and "getting_started" in msg


def test_non_object_input_is_refused() -> None:
    assert errors_for("glob", ["**/*.py"]) is not None


def test_match_lines_reports_each_occurrence_line() -> None:
    text = "a = 1\nb = 1\n\nc = 1 + 1\n"
    assert match_lines(text, "1") == [1, 2, 4, 4]
    assert match_lines(text, "= 1\n") == [1, 2]
    assert match_lines(text, "zzz") == []
