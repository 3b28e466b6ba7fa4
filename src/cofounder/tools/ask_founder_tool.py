"""ask_founder: the agent's structured question to the founder when it is truly stuck.

The tool only validates and carries the question; the engine records it as an escalation,
announces it, and delivers the founder's answer (or the default at the deadline) as a founder
message. Options always include the default, and keys are short identifiers the founder types.
"""

from __future__ import annotations

import re

from cofounder.questions import ASKED_KEY, Option, Question
from cofounder.tools.base import Args, ToolContext, ToolDef, ToolFailure, ToolOutput, clip
from cofounder.tools.types import EscalationEffect

_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

ASK_FOUNDER_SCHEMA = {
    "type": "object",
    "properties": {
        "problem": {
            "type": "string",
            "minLength": 10,
            "description": "The problem in plain English a non-technical founder understands.",
        },
        "tried": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "minItems": 1,
            "description": "What you already tried, one short line each.",
        },
        "recommendation": {"type": "string", "minLength": 1, "description": "What you advise."},
        "options": {
            "type": "array",
            "minItems": 2,
            "maxItems": 6,
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string", "description": "Short id, e.g. 'simpler'."},
                    "label": {"type": "string", "minLength": 1},
                },
                "required": ["key", "label"],
                "additionalProperties": False,
            },
            "description": "Choices, e.g. skip the feature, a simpler version, provide "
            "credentials, specific guidance.",
        },
        "default": {"type": "string", "description": "The option key used at the deadline."},
        "can_continue": {
            "type": "boolean",
            "description": "True when you can keep working on other, unblocked tasks meanwhile.",
        },
    },
    "required": ["problem", "tried", "recommendation", "options", "default"],
    "additionalProperties": False,
}


def _ask(ctx: ToolContext, args: Args) -> ToolOutput:
    options = tuple(Option(key=o["key"], label=o["label"]) for o in args["options"])
    keys = [o.key for o in options]
    bad = [k for k in keys if not _KEY.match(k)]
    if bad:
        raise ToolFailure(
            f"option keys must be short lowercase identifiers (a-z, 0-9, _ or -): {bad}"
        )
    if len(set(keys)) != len(keys):
        raise ToolFailure(f"option keys must be unique: {keys}")
    if args["default"] not in keys:
        raise ToolFailure(f"default {args['default']!r} is not one of the options {keys}")
    question = Question(
        key=ASKED_KEY,
        reason="asked",
        problem=args["problem"],
        tried=tuple(args["tried"]),
        recommendation=args["recommendation"],
        options=options,
        default_option=args["default"],
        can_continue=bool(args.get("can_continue", False)),
    )
    then = (
        "Keep working on other, unblocked tasks; the answer will arrive as a founder message."
        if question.can_continue
        else "Stop here: the build waits for the answer, which arrives as a founder message."
    )
    return ToolOutput(
        content=f"Your question was sent to the founder. {then}",
        summary=clip(question.problem, 100),
        effects=(EscalationEffect(question=question),),
    )


ASK_FOUNDER = ToolDef(
    name="ask_founder",
    description=(
        "Ask the founder for a decision when you are truly stuck: after different approaches "
        "have failed, or when you need something only they can give (credentials, a product "
        "choice). Explain plainly, list what you tried, recommend an option and give a default."
    ),
    schema=ASK_FOUNDER_SCHEMA,
    label=lambda a: "Question for the founder",
    run=_ask,
    read_only=True,
)
