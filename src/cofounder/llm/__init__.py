"""One Model protocol, its plain data types, and the providers behind model spec strings.

The names load on first use (`cofounder.lazy`): reading a price or a model spec does not
load the scripted model's YAML reader or the retry machinery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofounder.lazy import lazy_exports

if TYPE_CHECKING:
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

__getattr__ = lazy_exports(
    __name__,
    {
        "AssistantTurn": "messages",
        "ContentBlock": "messages",
        "ImageBlock": "messages",
        "Message": "messages",
        "StopReason": "messages",
        "TextBlock": "messages",
        "ToolResultBlock": "messages",
        "ToolSpec": "messages",
        "ToolUseBlock": "messages",
        "Usage": "messages",
        "BUNDLED_PRICES": "pricing",
        "DEFAULT_PRICE_BOOK": "pricing",
        "Price": "pricing",
        "PriceBook": "pricing",
        "Model": "protocol",
        "ModelError": "protocol",
        "ModelRequest": "protocol",
        "ModelUnavailableError": "protocol",
        "TextSink": "protocol",
        "PROVIDERS": "registry",
        "Provider": "registry",
        "canonical_model_spec": "registry",
        "load_model": "registry",
        "parse_model_spec": "registry",
        "RetryNotice": "retry",
        "RetryPolicy": "retry",
        "ScriptedModel": "scripted",
        "tool_use_id": "scripted",
    },
)

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
