"""`ask_founder`: the model's input (its schema unchanged) becomes the one `Question` type,
carried as the effect the engine records; a malformed question is a failed result."""

from __future__ import annotations

from collections.abc import Callable

from cofounder.questions import Option
from cofounder.tools import EscalationEffect, ToolBox, ToolRun
from fakes.question_samples import WEEKENDS, question

Call = Callable[..., ToolRun]

ARGS = {
    "problem": WEEKENDS.problem,
    "tried": list(WEEKENDS.tried),
    "recommendation": WEEKENDS.recommendation,
    "options": [{"key": o.key, "label": o.label} for o in WEEKENDS.options],
    "default": WEEKENDS.default_option,
}


def test_the_model_facing_schema_is_unchanged(toolbox: ToolBox) -> None:
    schema = next(s for s in toolbox.specs() if s.name == "ask_founder").input_schema
    assert set(schema["properties"]) == {
        "problem", "tried", "recommendation", "options", "default", "can_continue",
    }  # fmt: skip
    assert schema["required"] == ["problem", "tried", "recommendation", "options", "default"]
    option = schema["properties"]["options"]["items"]
    assert set(option["properties"]) == {"key", "label"} and not option["additionalProperties"]


def test_a_question_is_carried_as_the_one_question_type(call: Call) -> None:
    run = call("ask_founder", **ARGS, can_continue=True)
    assert run.result.ok and "keep working on other" in run.result.content.lower()
    (effect,) = run.effects
    plain = tuple(Option(key=o.key, label=o.label) for o in WEEKENDS.options)  # no descriptions
    assert effect == EscalationEffect(question=question(options=plain))


def test_a_default_that_is_not_offered_is_refused(call: Call) -> None:
    run = call("ask_founder", **{**ARGS, "default": "sometimes"})
    assert not run.result.ok and "is not one of the options" in run.result.content
    assert run.effects == []
