"""The feed speaks: every event type a founder cares about has a line, with the next action and
whole ids; every value in it is inert, whatever the payload holds."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

from cofounder.cli.render import QUIET_EVENTS, event_line
from cofounder.engine.feed import EventType
from cofounder.storage import Event

HOSTILE = "\x1b]0;pwned\x07\x1b[2J[red]x[/red]\u202e:smile:\x9b1A\r\n"
TS = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
SID = "8f3a9c0d1e2f"


def _event(type_: str, payload: dict[str, Any]) -> Event:
    return Event(session_id=SID, seq=7, type=type_, ts=TS, payload=payload)


def _shown(line: Text | None, width: int = 400) -> str:
    assert line is not None
    buffer = io.StringIO()
    Console(file=buffer, width=width, highlight=False, color_system=None).print(line)
    return buffer.getvalue()


def _hostile_payload() -> dict[str, Any]:
    keys = [
        "name",
        "model",
        "text",
        "label",
        "summary",
        "action",
        "message",
        "phase",
        "section",
        "error",
        "kind",
        "id",
        "problem",
        "default",
        "escalation_id",
        "choice",
        "by",
        "guidance",
        "reason",
        "url",
        "hint",
        "path",
        "outcome",
        "wake_at",
        "deadline",
        "iteration",
        "to_iteration",
        "attempt",
        "of",
        "max_attempts",
        "retry_after_s",
        "tokens_before",
        "tokens_after",
        "http_status",
        "iterations",
        "tool_calls",
        "elapsed_seconds",
    ]
    payload: dict[str, Any] = dict.fromkeys(keys, HOSTILE)
    item = {"key": HOSTILE, "label": HOSTILE, "id": HOSTILE, "viewport": HOSTILE}
    payload |= {"options": [item], "processes": [item], "screenshots": [item]}
    return payload


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_event_type_is_shown_or_deliberately_quiet_and_always_inert(
    event_type: EventType,
) -> None:
    line = event_line(_event(event_type, _hostile_payload()), owner="alice")
    assert (line is None) == (event_type in QUIET_EVENTS)
    if line is not None:
        shown = _shown(line)
        assert not any(c in shown for c in "\x1b\x07\x9b\r\u202e"), repr(shown)


@pytest.mark.parametrize("event_type", sorted(set(EventType) - QUIET_EVENTS))
def test_a_line_survives_a_payload_missing_its_fields(event_type: EventType) -> None:
    assert event_line(_event(event_type, {}), owner=None) is not None


def test_a_question_names_every_option_and_the_exact_command_with_the_whole_id() -> None:
    escalation_id = f"{SID}-14-0"
    payload = {
        "id": escalation_id,
        "problem": "Should streaks count weekends?",
        "options": [
            {"key": "simpler", "label": "Every day counts"},
            {"key": "weekdays", "label": "Only weekdays"},
        ],
        "default": "simpler",
        "deadline": "2025-06-02T09:30:00+00:00",
    }
    shown = _shown(event_line(_event(EventType.ESCALATED, payload), owner="alice"), width=60)
    flat = " ".join(shown.split())  # wrapped at 60 columns; the id itself is never split
    assert escalation_id in shown
    assert "Question for you" in flat and "Should streaks count weekends?" in flat
    assert "--choice simpler: Every day counts (default)" in flat
    assert "--choice weekdays: Only weekdays" in flat
    assert f"`cofounder resolve {escalation_id} --choice simpler --as alice`" in flat


def test_sleeping_says_until_when_in_utc_why_and_the_commands() -> None:
    payload = {"wake_at": "2025-06-01T14:00:00+00:00", "reason": "allowance spent"}
    shown = _shown(event_line(_event(EventType.SLEEPING, payload), owner="alice"))
    assert "Sleeping until 14:00 UTC (allowance spent)" in shown
    assert f"`cofounder budget top-up alice AMOUNT` then `cofounder wake {SID}`" in shown
    other_day = {**payload, "wake_at": "2025-06-03T00:00:00+00:00"}
    assert "until 2025-06-03 00:00 UTC" in _shown(
        event_line(_event(EventType.SLEEPING, other_day), owner="alice")
    )


@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        (
            EventType.WAITING_FOR_INPUT,
            {"escalation_id": f"{SID}-3-0", "deadline": "2025-06-02T09:30:00+00:00"},
            [f"Waiting for your answer to {SID}-3-0 until 2025-06-02 09:30 UTC", "default"],
        ),
        (
            EventType.WAITING_FOR_INPUT,
            {"escalation_id": "e-1", "deadline": "2025-06-01T10:00:00+00:00", "blocking": False},
            ["e-1 is open until 10:00 UTC", "keeps working"],
        ),
        (EventType.WAKING, {"on_request": True}, ["Waking", "on request"]),
        (
            EventType.RETRYING,
            {
                "kind": "steer",
                "label": "bash: pytest",
                "error": "ModuleNotFoundError: x",
                "attempt": 1,
                "max_attempts": 3,
            },
            ["bash: pytest failed (ModuleNotFoundError: x)", "attempt 1 of 3"],
        ),
        (
            EventType.RETRYING,
            {
                "kind": "retry",
                "label": "bash: pip install",
                "error": "network unreachable",
                "attempt": 2,
                "max_attempts": 3,
                "retry_after_s": 4.0,
            },
            ["environment error (network unreachable)", "retrying in 4.0s", "attempt 2 of 3"],
        ),
        (
            EventType.CONTEXT_COMPACTED,
            {"kind": "summarize", "tokens_before": 150000, "tokens_after": 30000},
            ["compacted (summarize): 150,000 → 30,000 tokens"],
        ),
        (
            EventType.SNAPSHOT_FAILED,
            {"attempt": 4, "of": 4, "error": "OSError: disk full"},
            ["snapshot failed (attempt 4 of 4): OSError: disk full", "giving up"],
        ),
        (
            EventType.RESOLVED,
            {"escalation_id": "e-2", "choice": "simpler", "by": "alice", "defaulted": False},
            ["e-2 answered by alice: simpler"],
        ),
        (
            EventType.RESOLVED,
            {"escalation_id": "e-2", "choice": "simpler", "defaulted": True},
            ["no answer to e-2 in time: the default simpler applies"],
        ),
        (
            EventType.PREVIEW_READY,
            {"url": "http://127.0.0.1:8123/", "http_status": 200},
            ["preview ready: open http://127.0.0.1:8123/", "HTTP 200"],
        ),
        (EventType.SESSION_PAUSED, {"reason": "provider down"}, [f"`cofounder resume {SID}`"]),
    ],
)
def test_each_founder_event_has_a_line_with_its_facts(
    event_type: EventType, payload: dict[str, Any], expected: list[str]
) -> None:
    shown = _shown(event_line(_event(event_type, payload), owner="alice"))
    for fact in expected:
        assert fact in shown


def test_the_closing_summary_is_printed_whole_with_its_lines() -> None:
    summary = "\n".join(
        f"{n}. " + "The app works and here is how to use it. " * 4 for n in range(9)
    )
    shown = _shown(event_line(_event(EventType.ASSISTANT_TEXT, {"text": summary})), width=1000)
    assert len(summary) > 1000
    assert [line.strip() for line in shown.splitlines()] == [
        line.strip() for line in summary.splitlines()
    ]
