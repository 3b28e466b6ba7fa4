"""Token estimates for conversations, without a tokenizer (one per provider would be I/O).

About four characters per token, a flat cost per image and a little framing: it errs high, so
a request planned to fit does fit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

from cofounder.agent.context.memo import PerMessage
from cofounder.llm.messages import (
    ContentBlock,
    ImageBlock,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)

TokenEstimator = Callable[[Message], int]

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4  # role and framing, per message
BLOCK_OVERHEAD_TOKENS = 3
IMAGE_TOKENS = 1_600  # Anthropic's ceiling for one image (~1.15 megapixels)


def chars_to_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def _block_tokens(block: ContentBlock) -> int:
    match block:
        case TextBlock():
            size = chars_to_tokens(len(block.text))
        case ToolUseBlock():
            size = chars_to_tokens(len(block.name) + len(json.dumps(block.input)))
        case ToolResultBlock():
            size = chars_to_tokens(len(block.content))
        case ImageBlock():
            size = IMAGE_TOKENS
    return size + BLOCK_OVERHEAD_TOKENS


def _estimate(message: Message) -> int:
    return MESSAGE_OVERHEAD_TOKENS + sum(_block_tokens(b) for b in message.content)


estimate_tokens: TokenEstimator = PerMessage(_estimate)
"""About chars/4 per text, a flat cost per image, a little framing; errs high, not low."""

wire_tokens: TokenEstimator = PerMessage(lambda m: chars_to_tokens(len(m.model_dump_json())))
"""chars/4 of the message's JSON: what the request's size is reported as."""


def estimate_conversation(
    messages: Sequence[Message], estimator: TokenEstimator = estimate_tokens
) -> int:
    return sum(estimator(m) for m in messages)
