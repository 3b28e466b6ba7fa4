"""The event vocabulary: every type has a frozen, closed model that round-trips through the
stored payload; a golden file of every type, as `cofounder events --json` printed it, still
reads back (and writes out) the same; the JSON lines are safe to show raw."""

from __future__ import annotations

import ast
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

import cofounder.event_base
import cofounder.events
import cofounder.events_founder
import cofounder.questions
from cofounder.events import (
    EVENT_MODELS,
    EVENT_TYPES,
    AnyEvent,
    BaseEvent,
    Narration,
    event_payload,
    parse_event,
)
from cofounder.storage.events import Event
from fakes.event_samples import filled, minimal

GOLDEN = Path(__file__).parents[1] / "golden" / "events.jsonl"
MODELS = sorted(EVENT_MODELS, key=lambda m: m.__name__)
BY_NAME = pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)

# The names the CLI contract and every stored row use: never renamed.
NAMES = {
    "session_started", "session_resumed", "session_finished", "session_paused", "thinking",
    "assistant_text", "tool_started", "tool_called", "tool_steered", "narration",
    "phase_started", "phase_completed", "documentation_updated", "iteration_committed",
    "workspace_restored", "snapshot_failed", "model_failed", "model_unavailable",
    "cancel_requested", "context_compacted", "budget_updated", "budget_exhausted", "sleeping",
    "waking", "retrying", "escalated", "waiting_for_input", "resolved", "preview_ready",
    "preview_failed", "preview_stopped", "screenshot_taken", "processes_stopped", "requeued",
    "founder_message",
}  # fmt: skip


def _golden_lines() -> list[dict[str, Any]]:
    return [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines()]


def test_every_event_name_has_exactly_one_model() -> None:
    assert len(EVENT_MODELS) == len(EVENT_TYPES) == len(NAMES)
    assert EVENT_TYPES == NAMES


@BY_NAME
@pytest.mark.parametrize("fill", [filled, minimal], ids=["every-field", "required-only"])
def test_an_event_round_trips_through_its_stored_payload(model: type[BaseEvent], fill: Any) -> None:
    event = fill(model)
    payload = json.loads(json.dumps(event_payload(event)))  # as stored: through JSON
    assert "type" not in payload
    assert parse_event(event.type, payload) == event
    assert TypeAdapter(AnyEvent).validate_json(event.model_dump_json()) == event


@BY_NAME
def test_an_event_rejects_unknown_keys(model: type[BaseEvent]) -> None:
    payload = event_payload(filled(model))
    with pytest.raises(ValidationError, match="surprise"):
        parse_event(model.model_fields["type"].default, {**payload, "surprise": 1})
    with pytest.raises(ValidationError, match="surprise"):
        model(**{**payload, "surprise": 1})


@BY_NAME
def test_an_event_is_frozen(model: type[BaseEvent]) -> None:
    event = filled(model)
    with pytest.raises(ValidationError):
        event.type = "narration"  # type: ignore[misc]


def test_an_unknown_type_or_a_wrong_value_is_refused() -> None:
    with pytest.raises(ValidationError):
        parse_event("tick", {"n": 1})
    with pytest.raises(ValidationError):
        parse_event("narration", {"iteration": "first", "message": "m"})
    with pytest.raises(ValidationError):
        parse_event("sleeping", {"iteration": 1, "reason": "r", "wake_at": "2025-06-01T14:00"})


def test_the_golden_file_covers_every_event_type_once() -> None:
    types = [line["type"] for line in _golden_lines()]
    assert sorted(types) == sorted(EVENT_TYPES), "add a line for each new event type"


@pytest.mark.parametrize("line", _golden_lines(), ids=lambda line: str(line["type"]))
def test_the_golden_file_reads_back_and_writes_out_unchanged(line: dict[str, Any]) -> None:
    """`cofounder events --json` as printed before: today's models read every line, and an
    event built today is stored and printed exactly as it was (field names, formats)."""
    body = parse_event(line["type"], line["payload"])
    assert event_payload(body) == line["payload"]
    event = Event(
        session_id=line["session_id"],
        seq=line["seq"],
        ts=datetime.fromisoformat(line["ts"]),
        body=body,
        payload=event_payload(body),
    )
    assert json.loads(event.to_json_line()) == line


def test_a_json_line_escapes_what_a_terminal_would_obey_and_keeps_the_text() -> None:
    hostile = "ok\x9b2J\x85 \u202eevil\u2066 \u2028line\u200f \x1b[31m é ✓"
    body = Narration(iteration=1, message=hostile)
    event = Event(
        session_id="s",
        seq=1,
        ts=datetime(2025, 6, 1, tzinfo=UTC),
        body=body,
        payload=event_payload(body),
    )
    line = event.to_json_line()
    for raw in ("\x9b", "\x85", "\u202e", "\u2066", "\u2028", "\u200f", "\x1b"):
        assert raw not in line
    assert "\\u009b" in line and "\\u202e" in line
    assert "é ✓" in line  # readable text stays readable
    assert json.loads(line)["payload"]["message"] == hostile


def _third_party_imports(module: ModuleType) -> set[str]:
    """The modules a source file imports, less the standard library."""
    tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }  # fmt: skip
    stdlib = sys.stdlib_module_names | {"__future__"}
    return {name for name in imported if name.split(".")[0] not in stdlib}


def test_the_event_module_imports_only_pydantic_and_the_question() -> None:
    """Any part (the engine, the CLI, an API) may import it without pulling in another: its
    imports from the package are its two halves and the founder's question, which import
    only pydantic."""
    halves = {"cofounder.event_base", "cofounder.events_founder"}
    assert _third_party_imports(cofounder.events) == {"pydantic", *halves}
    assert _third_party_imports(cofounder.events_founder) == {
        "cofounder.event_base",
        "cofounder.questions",
    }
    assert _third_party_imports(cofounder.event_base) == {"pydantic"}
    assert _third_party_imports(cofounder.questions) == {"pydantic"}
