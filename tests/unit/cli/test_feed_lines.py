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
from cofounder.events import (
    EVENT_MODELS,
    AnyEvent,
    AssistantText,
    BaseEvent,
    ContextCompacted,
    Escalated,
    PreviewReady,
    Resolved,
    Retrying,
    SessionPaused,
    Sleeping,
    SnapshotFailed,
    WaitingForInput,
    Waking,
)
from cofounder.questions import Option
from cofounder.storage import Event
from fakes.event_samples import filled, minimal

HOSTILE = "\x1b]0;pwned\x07\x1b[2J[red]x[/red]\u202e:smile:\x9b1A\r\n"
TS = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
SID = "8f3a9c0d1e2f"
MODELS = sorted(EVENT_MODELS, key=lambda m: m.__name__)
SPOKEN = [m for m in MODELS if not issubclass(m, QUIET_EVENTS)]


def _event(body: AnyEvent) -> Event:
    return Event(session_id=SID, seq=7, ts=TS, body=body, payload={})


def _shown(line: Text | None, width: int = 400) -> str:
    assert line is not None
    buffer = io.StringIO()
    Console(file=buffer, width=width, highlight=False, color_system=None).print(line)
    return buffer.getvalue()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_event_type_is_shown_or_deliberately_quiet_and_always_inert(
    model: type[AnyEvent],
) -> None:
    body: Any = filled(model, HOSTILE)  # every text field, nested ones too, is hostile
    line = event_line(_event(body), owner="alice")
    assert (line is None) == issubclass(model, QUIET_EVENTS)
    if line is not None:
        shown = _shown(line)
        assert not any(c in shown for c in "\x1b\x07\x9b\r\u202e"), repr(shown)


@pytest.mark.parametrize("model", SPOKEN, ids=lambda m: m.__name__)
def test_a_line_survives_an_event_with_only_its_required_fields(model: type[BaseEvent]) -> None:
    body: Any = minimal(model)
    assert event_line(_event(body), owner=None) is not None


def test_a_question_names_every_option_and_the_exact_command_with_the_whole_id() -> None:
    escalation_id = f"{SID}-14-0"
    body = filled(Escalated).model_copy(
        update={
            "id": escalation_id,
            "problem": "Should streaks count weekends?",
            "options": [
                Option(key="simpler", label="Every day counts"),
                Option(key="weekdays", label="Only weekdays"),
            ],
            "default": "simpler",
        }
    )
    shown = _shown(event_line(_event(body), owner="alice"), width=60)
    flat = " ".join(shown.split())  # wrapped at 60 columns; the id itself is never split
    assert escalation_id in shown
    assert "Question for you" in flat and "Should streaks count weekends?" in flat
    assert "--choice simpler: Every day counts (default)" in flat
    assert "--choice weekdays: Only weekdays" in flat
    assert f"`cofounder resolve {escalation_id} --choice simpler --as alice`" in flat


def test_sleeping_says_until_when_in_utc_why_and_the_commands() -> None:
    body = Sleeping(
        iteration=3, wake_at=datetime(2025, 6, 1, 14, tzinfo=UTC), reason="allowance spent"
    )
    shown = _shown(event_line(_event(body), owner="alice"))
    assert "Sleeping until 14:00 UTC (allowance spent)" in shown
    assert f"`cofounder budget top-up alice AMOUNT` then `cofounder wake {SID}`" in shown
    other_day = body.model_copy(update={"wake_at": datetime(2025, 6, 3, tzinfo=UTC)})
    assert "until 2025-06-03 00:00 UTC" in _shown(event_line(_event(other_day), owner="alice"))


def _at(hour: int, day: int = 1) -> datetime:
    return datetime(2025, 6, day, hour, 30 if day == 2 else 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            WaitingForInput(escalation_id=f"{SID}-3-0", deadline=_at(9, day=2), blocking=True),
            [f"Waiting for your answer to {SID}-3-0 until 2025-06-02 09:30 UTC", "default"],
        ),
        (
            WaitingForInput(escalation_id="e-1", deadline=_at(10), blocking=False),
            ["e-1 is open until 10:00 UTC", "keeps working"],
        ),
        (Waking(iteration=4, run=2, on_request=True, wake_at=None), ["Waking", "on request"]),
        (
            Retrying(
                iteration=5,
                kind="steer",
                key="k",
                label="bash: pytest",
                error="ModuleNotFoundError: x",
                attempt=1,
                max_attempts=3,
            ),
            ["bash: pytest failed (ModuleNotFoundError: x)", "attempt 1 of 3"],
        ),
        (
            Retrying(
                iteration=5,
                kind="retry",
                key="k",
                label="bash: pip install",
                error="network unreachable",
                attempt=2,
                max_attempts=3,
                retry_after_s=4.0,
            ),
            ["environment error (network unreachable)", "retrying in 4.0s", "attempt 2 of 3"],
        ),
        (
            filled(ContextCompacted).model_copy(
                update={"kind": "summarize", "tokens_before": 150000, "tokens_after": 30000}
            ),
            ["compacted (summarize): 150,000 → 30,000 tokens"],
        ),
        (
            SnapshotFailed(iteration=6, attempt=4, of=4, error="OSError: disk full"),
            ["snapshot failed (attempt 4 of 4): OSError: disk full", "giving up"],
        ),
        (
            Resolved(
                iteration=7,
                escalation_id="e-2",
                choice="simpler",
                guidance=None,
                by="alice",
                defaulted=False,
            ),
            ["e-2 answered by alice: simpler"],
        ),
        (
            Resolved(
                iteration=7,
                escalation_id="e-2",
                choice="simpler",
                guidance=None,
                by=None,
                defaulted=True,
            ),
            ["no answer to e-2 in time: the default simpler applies"],
        ),
        (
            filled(PreviewReady).model_copy(
                update={"url": "http://127.0.0.1:8123/", "http_status": 200}
            ),
            ["preview ready: open http://127.0.0.1:8123/", "HTTP 200"],
        ),
        (SessionPaused(iteration=2, reason="provider down"), [f"`cofounder resume {SID}`"]),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseEvent) else "",
)
def test_each_founder_event_has_a_line_with_its_facts(body: AnyEvent, expected: list[str]) -> None:
    shown = _shown(event_line(_event(body), owner="alice"))
    for fact in expected:
        assert fact in shown


def test_the_closing_summary_is_printed_whole_with_its_lines() -> None:
    summary = "\n".join(
        f"{n}. " + "The app works and here is how to use it. " * 4 for n in range(9)
    )
    shown = _shown(event_line(_event(AssistantText(iteration=9, text=summary))), width=1000)
    assert len(summary) > 1000
    assert [line.strip() for line in shown.splitlines()] == [
        line.strip() for line in summary.splitlines()
    ]
