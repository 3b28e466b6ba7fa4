"""One Model protocol, its plain data types, and the providers behind model spec strings."""

from cofounder.llm.messages import (
    AssistantTurn,
    ContentBlock,
    ImageBlock,
    Message,
    StopReason,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    Usage,
)
from cofounder.llm.protocol import Model, ModelError, ModelRequest, TextSink
from cofounder.llm.registry import (
    PROVIDERS,
    Provider,
    canonical_model_spec,
    load_model,
    parse_model_spec,
)
from cofounder.llm.scripted import ScriptedModel, tool_use_id

__all__ = [
    "PROVIDERS",
    "AssistantTurn",
    "ContentBlock",
    "ImageBlock",
    "Message",
    "Model",
    "ModelError",
    "ModelRequest",
    "Provider",
    "ScriptedModel",
    "StopReason",
    "TextBlock",
    "TextSink",
    "ToolResultBlock",
    "ToolSpec",
    "ToolUseBlock",
    "Usage",
    "canonical_model_spec",
    "load_model",
    "parse_model_spec",
    "tool_use_id",
]
