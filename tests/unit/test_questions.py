"""The founder's question is one type: frozen, closed to unknown keys, and declared once — no
other class in the package re-declares an option (a `key` with a `label`) or a question."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

import cofounder
from cofounder.questions import Option, Question
from fakes.question_samples import question

SRC = Path(cofounder.__file__).parent

QUESTION = question(key="sig:pytest", reason="attempts_exhausted", can_continue=False)


def test_a_question_round_trips_through_json_and_finds_its_options() -> None:
    assert Question.model_validate_json(QUESTION.model_dump_json()) == QUESTION
    assert QUESTION.option("weekdays") == Option(key="weekdays", label="Only weekdays")
    assert QUESTION.option("missing") is None
    assert not QUESTION.can_continue


def test_a_question_is_frozen_and_closed() -> None:
    with pytest.raises(ValidationError):
        QUESTION.problem = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Option.model_validate({"key": "a", "label": "A", "colour": "red"})
    with pytest.raises(ValidationError):
        Question.model_validate({**QUESTION.model_dump(), "deadline_s": 60})
    with pytest.raises(ValidationError):
        Question.model_validate({**QUESTION.model_dump(), "reason": "bored"})


def _declared(node: ast.ClassDef) -> set[str]:
    return {
        s.target.id
        for s in node.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
    }


def test_options_and_questions_are_declared_once() -> None:
    """An option is a class named `…Option` or `…Choice` with a `key` and a `label`, a
    question one declaring `options`.
    Only `questions.py` declares them, and the `escalated` event (whose flat, published shape
    predates the question; it reuses `Option`)."""
    found = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            fields = _declared(node)
            option = node.name.endswith(("Option", "Choice")) and {"key", "label"} <= fields
            if option or "options" in fields:
                found.add(f"{path.relative_to(SRC).as_posix()}:{node.name}")
    assert found == {"questions.py:Option", "questions.py:Question", "events_founder.py:Escalated"}
