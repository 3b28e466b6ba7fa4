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
from cofounder.llm.pricing import BUNDLED_PRICES, DEFAULT_PRICE_BOOK, Price, PriceBook
from cofounder.llm.protocol import (
    Model,
    ModelError,
    ModelRequest,
    ModelUnavailableError,
    TextSink,
)
from cofounder.llm.registry import (
    PROVIDERS,
    Provider,
    canonical_model_spec,
    load_model,
    parse_model_spec,
)
from cofounder.llm.retry import RetryNotice, RetryPolicy
from cofounder.llm.scripted import ScriptedModel, tool_use_id

# The real providers live in `cofounder.llm.anthropic_model` (AnthropicModel) and
# `cofounder.llm.openai_model` (OpenAIModel); they are not imported here because their SDKs are
# slow to import. `load_model("anthropic:...")` / `load_model("openai:...")` reaches them.

__all__ = [
    "BUNDLED_PRICES",
    "DEFAULT_PRICE_BOOK",
    "PROVIDERS",
    "AssistantTurn",
    "ContentBlock",
    "ImageBlock",
    "Message",
    "Model",
    "ModelError",
    "ModelRequest",
    "ModelUnavailableError",
    "Price",
    "PriceBook",
    "Provider",
    "RetryNotice",
    "RetryPolicy",
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
