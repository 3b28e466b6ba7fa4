"""The tools the model calls, implemented over a Sandbox, and the ToolBox that runs them."""

from cofounder.tools.paths import PathRefused, WorkspacePath, resolve
from cofounder.tools.toolbox import ALL_TOOLS, TOOL_NAMES, ToolBox, changes_workspace, tool_specs
from cofounder.tools.types import (
    DocumentEffect,
    EscalationEffect,
    ImageRef,
    NarrationEffect,
    PhaseEffect,
    PreviewEffect,
    ToolEffect,
    ToolImage,
    ToolResult,
    ToolRun,
)

__all__ = [
    "ALL_TOOLS",
    "TOOL_NAMES",
    "DocumentEffect",
    "EscalationEffect",
    "ImageRef",
    "NarrationEffect",
    "PathRefused",
    "PhaseEffect",
    "PreviewEffect",
    "ToolBox",
    "ToolEffect",
    "ToolImage",
    "ToolResult",
    "ToolRun",
    "WorkspacePath",
    "changes_workspace",
    "resolve",
    "tool_specs",
]
