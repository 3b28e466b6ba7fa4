"""The build agent's system prompt: how-to-work rules plus the project, deterministically."""

from __future__ import annotations

import json

from pydantic import JsonValue

from cofounder.agent.prompt import build_system_prompt
from cofounder.project import ProjectSpec, QnA
from cofounder.storage import DEFAULT_EXCLUDES

BRIEF: dict[str, JsonValue] = {
    "problem": "People drop habits — fast.",
    "features": ["add habit", {"streaks": True, "max": 30}],
}


def make_spec(qna: list[QnA] | None = None) -> ProjectSpec:
    return ProjectSpec(
        name="Habit Tracker",
        idea_brief=BRIEF,
        understanding_qna=qna or [],
        goal="A web app that shows streaks.",
    )


def test_contains_the_project() -> None:
    spec = make_spec([QnA(question="Who is it for?", answer="Busy adults.")])
    prompt = build_system_prompt(spec, not_saved=DEFAULT_EXCLUDES)
    assert "Habit Tracker" in prompt
    assert "A web app that shows streaks." in prompt
    assert json.dumps(BRIEF, indent=2, ensure_ascii=False) in prompt  # verbatim, in order
    assert "Q1: Who is it for?\nA1: Busy adults." in prompt
    assert "No interview answers" not in prompt


def test_empty_qna_has_a_placeholder() -> None:
    prompt = build_system_prompt(make_spec(), not_saved=DEFAULT_EXCLUDES)
    assert "(No interview answers were given." in prompt
    assert "Q1:" not in prompt


def test_working_rules() -> None:
    prompt = build_system_prompt(make_spec(), not_saved=DEFAULT_EXCLUDES)
    for needle in (
        "co-founder",
        "non-technical founder",
        "`narrate`",
        "`phase_name`",
        "first-person",
        "`bash`",
        "tests",
        "`document`",
        "`overview`",
        "`features`",
        "`getting_started`",
        "`faq`",
        "no network access",
        "standard library",
        "stopped when that command returns",
        "Do not repeat an identical action",
        "with no tool calls",
    ):
        assert needle in prompt, needle


def test_deterministic() -> None:
    spec = make_spec([QnA(question="q", answer="a")])
    a = build_system_prompt(spec, workspace_note="Py 3.11", not_saved=DEFAULT_EXCLUDES)
    b = build_system_prompt(spec, workspace_note="Py 3.11", not_saved=DEFAULT_EXCLUDES)
    assert a == b


def test_workspace_note_is_included_only_when_given() -> None:
    assert "# Workspace" not in build_system_prompt(make_spec(), not_saved=DEFAULT_EXCLUDES)
    prompt = build_system_prompt(
        make_spec(),
        workspace_note="Python 3.11 and Flask are installed.",
        not_saved=DEFAULT_EXCLUDES,
    )
    assert "# Workspace\n\nPython 3.11 and Flask are installed." in prompt
    # the project comes last, after the rules and the workspace
    assert prompt.index("# Workspace") < prompt.index("# The project")
