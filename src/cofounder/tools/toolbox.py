"""ToolBox: the tools the model may call, and a `run` that turns any call into a ToolRun.

`run` never raises: an unknown tool, bad input, a refused path or a crash inside a tool all
come back as ok=False results, because every tool_use must get exactly one tool_result and
failures are data the healing policy reads.
"""

from __future__ import annotations

import time
from typing import Any

from jsonschema import Draft202012Validator

from cofounder.llm.messages import ToolSpec, ToolUseBlock
from cofounder.sandbox.output import truncate_text
from cofounder.sandbox.preview_types import PreviewHost
from cofounder.sandbox.protocol import Sandbox, SandboxError
from cofounder.tools import (
    ask_founder_tool,
    bash_tool,
    edit_tool,
    glob_tool,
    grep_tool,
    note_tools,
    preview_tools,
    process_tool,
    read_tool,
    write_tool,
)
from cofounder.tools.base import ToolContext, ToolDef, ToolFailure, ToolOutput, clip
from cofounder.tools.paths import PathRefused
from cofounder.tools.types import ToolResult, ToolRun
from cofounder.tools.validation import input_errors, make_validator

ALL_TOOLS: tuple[ToolDef, ...] = (
    read_tool.TOOL,
    write_tool.TOOL,
    edit_tool.TOOL,
    bash_tool.TOOL,
    grep_tool.TOOL,
    glob_tool.TOOL,
    note_tools.NARRATE,
    note_tools.DOCUMENT,
    ask_founder_tool.ASK_FOUNDER,
    process_tool.TOOL,
    preview_tools.PREVIEW,
    preview_tools.SCREENSHOT,
)
TOOL_NAMES: tuple[str, ...] = tuple(t.name for t in ALL_TOOLS)
_TOOLS_BY_NAME: dict[str, ToolDef] = {t.name: t for t in ALL_TOOLS}
# Checking and compiling the schemas costs ~30 ms; validators are stateless, so do it once.
_VALIDATORS: dict[str, Draft202012Validator] = {t.name: make_validator(t.schema) for t in ALL_TOOLS}
_SPECS: tuple[ToolSpec, ...] = tuple(
    ToolSpec(name=t.name, description=t.description, input_schema=t.schema) for t in ALL_TOOLS
)


def changes_workspace(name: str) -> bool:
    """Whether a call of tool `name` may change the workspace (an unknown tool runs nothing)."""
    tool = _TOOLS_BY_NAME.get(name)
    return tool is not None and not tool.read_only


def tool_specs() -> list[ToolSpec]:
    """What the model is told about the tools; needs no sandbox (nor an existing workspace)."""
    return list(_SPECS)


class ToolBox:
    """Dispatches tool calls to their implementations over one sandbox."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        output_limit_chars: int = 30000,
        preview: PreviewHost | None = None,
    ) -> None:
        if output_limit_chars < 1000:
            raise ValueError("output_limit_chars must be at least 1000")
        self._ctx = ToolContext(
            sandbox=sandbox, output_limit_chars=output_limit_chars, preview=preview
        )
        self._tools = _TOOLS_BY_NAME
        self._validators = _VALIDATORS

    def specs(self) -> list[ToolSpec]:
        return tool_specs()

    def run(self, call: ToolUseBlock) -> ToolRun:
        started = time.monotonic()
        tool = self._tools.get(call.name)
        if tool is None:
            return self._failed(
                call,
                started,
                f"unknown tool {call.name!r}; available tools: {', '.join(TOOL_NAMES)}",
                label=f"Unknown tool {clip(call.name, 40)}",
                summary="unknown tool",
            )
        problem = input_errors(tool.name, self._validators[tool.name], tool.schema, call.input)
        if problem is not None:
            return self._failed(
                call, started, problem, label=f"Calling {tool.name}", summary="invalid input"
            )
        label = _safe_label(tool, call.input)
        try:
            output = tool.run(self._ctx, dict(call.input))
        except ToolFailure as exc:
            return self._failed(call, started, exc.message, label=label, summary=exc.summary)
        except PathRefused as exc:
            return self._failed(call, started, str(exc), label=label, summary="path refused")
        except SandboxError as exc:
            return self._failed(
                call, started, f"sandbox error: {exc}", label=label, summary="sandbox error"
            )
        except Exception as exc:  # a bug or an OS error must still become a result
            return self._failed(
                call,
                started,
                f"{tool.name} failed: {type(exc).__name__}: {exc}",
                label=label,
                summary=clip(f"failed: {type(exc).__name__}", 100),
            )
        return self._finish(call, started, output, label)

    def _finish(
        self, call: ToolUseBlock, started: float, output: ToolOutput, label: str
    ) -> ToolRun:
        content, cut = truncate_text(valid_text(output.content), self._ctx.output_limit_chars)
        result = ToolResult(
            tool_use_id=call.id,
            ok=output.ok,
            content=content,
            exit_code=output.exit_code,
            truncated=output.truncated or cut,
            duration_ms=_elapsed_ms(started),
        )
        return ToolRun(
            result=result,
            label=valid_text(label),
            summary=valid_text(output.summary),
            effects=list(output.effects),
            images=list(output.images),
        )

    def _failed(
        self, call: ToolUseBlock, started: float, message: str, *, label: str, summary: str
    ) -> ToolRun:
        content, cut = truncate_text(valid_text(message), self._ctx.output_limit_chars)
        result = ToolResult(
            tool_use_id=call.id,
            ok=False,
            content=content,
            truncated=cut,
            duration_ms=_elapsed_ms(started),
        )
        return ToolRun(result=result, label=valid_text(label), summary=valid_text(summary))


def valid_text(text: str) -> str:
    """File names from the OS may carry undecodable bytes (as surrogates); what leaves the
    toolbox is stored as JSON and sent to models, so it must be valid UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _safe_label(tool: ToolDef, args: dict[str, Any]) -> str:
    try:
        return tool.label(args)
    except Exception:
        return f"Calling {tool.name}"


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
