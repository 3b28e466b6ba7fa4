"""narrate and document: tools that touch nothing and hand the engine an effect to apply.

The founder follows the build through narration and phases, and gets a user guide from the
documented sections; these tools only carry the model's words to the engine.
"""

from __future__ import annotations

from typing import get_args

from cofounder.tools.base import Args, ToolContext, ToolDef, ToolOutput, clip, plural
from cofounder.tools.types import DocumentEffect, NarrationEffect, PhaseEffect, ToolEffect

SECTIONS: tuple[str, ...] = get_args(DocumentEffect.model_fields["section"].annotation)

NARRATE_SCHEMA = {
    "type": "object",
    "properties": {
        "message": {
            "type": "string",
            "minLength": 1,
            "description": "One or two plain-language sentences for the founder.",
        },
        "phase_name": {
            "type": "string",
            "minLength": 1,
            "description": "Set when starting a new phase of work, e.g. 'Building the API'.",
        },
    },
    "required": ["message"],
    "additionalProperties": False,
}

DOCUMENT_SCHEMA = {
    "type": "object",
    "properties": {
        "section": {"type": "string", "enum": list(SECTIONS), "description": "Which section."},
        "content": {
            "type": "string",
            "minLength": 1,
            "description": "The section's full text in Markdown; replaces any earlier version.",
        },
    },
    "required": ["section", "content"],
    "additionalProperties": False,
}


def _narrate(ctx: ToolContext, args: Args) -> ToolOutput:
    message: str = args["message"]
    effects: list[ToolEffect] = []
    phase = args.get("phase_name")
    if phase:
        effects.append(PhaseEffect(phase_name=phase))
    effects.append(NarrationEffect(message=message))
    note = f" Started phase {phase!r}." if phase else ""
    return ToolOutput(
        content=f"Shared with the founder.{note}",
        summary=clip(message, 100),
        effects=tuple(effects),
    )


def _document(ctx: ToolContext, args: Args) -> ToolOutput:
    section = args["section"]
    content: str = args["content"]
    return ToolOutput(
        content=f"Saved the {section} section ({plural(len(content), 'character')}).",
        summary=f"saved {section}",
        effects=(DocumentEffect(section=section, content=content),),
    )


def _narrate_label(args: Args) -> str:
    phase = args.get("phase_name")
    return f"Phase: {clip(phase, 60)}" if phase else "Update for the founder"


NARRATE = ToolDef(
    name="narrate",
    description=(
        "Tell the founder, in plain non-technical language, what you are doing or have just "
        "achieved. Give phase_name when you start a new phase of the build."
    ),
    schema=NARRATE_SCHEMA,
    label=_narrate_label,
    run=_narrate,
    read_only=True,
)

DOCUMENT = ToolDef(
    name="document",
    description=(
        "Write one section of the founder-facing guide to the app: "
        + ", ".join(SECTIONS)
        + ". Calling it again for a section replaces that section."
    ),
    schema=DOCUMENT_SCHEMA,
    label=lambda a: f"Documenting: {a['section'].replace('_', ' ')}",
    run=_document,
    read_only=True,
)
