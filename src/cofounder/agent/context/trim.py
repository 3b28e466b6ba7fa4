"""Cheap context trimming, no model call: old large tool outputs and old images leave the request.

The raw transcript keeps them; only what is re-sent each turn shrinks.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from cofounder.agent.context.memo import PerMessage
from cofounder.llm.messages import ContentBlock, ImageBlock, Message, TextBlock, ToolResultBlock

DEFAULT_KEEP_TURNS = 4
OMITTED_NOTE = "[{n} chars omitted; rerun the tool to see it again]"
_OMITTED_SUFFIX = " chars omitted; rerun the tool to see it again]"


def _assistant_indices(messages: Sequence[Message]) -> list[int]:
    return [i for i, m in enumerate(messages) if m.role == "assistant"]


def _recent_from(messages: Sequence[Message], keep_turns: int) -> int:
    assistants = _assistant_indices(messages)
    return assistants[-keep_turns] if len(assistants) >= keep_turns else 0


def shrink_tool_results(
    messages: Sequence[Message],
    limit_chars: int,
    *,
    keep_turns: int = DEFAULT_KEEP_TURNS,
    head_chars: int = 400,
    before: int | None = None,
) -> list[Message]:
    """Old tool outputs longer than `limit_chars` become their first `head_chars` and a note.

    Outputs in the most recent `keep_turns` turns are left alone, and so are outputs already
    shrunk (so shrinking twice changes nothing). The full output stays in the raw transcript.
    With `before`, exactly the messages before that index are old (a fixed boundary keeps the
    request's prefix, and so the provider's prompt cache, stable from turn to turn).
    """
    if limit_chars < 1:
        raise ValueError("limit_chars must be at least 1")
    head_chars = max(0, min(head_chars, limit_chars))
    recent = _recent_from(messages, keep_turns) if before is None else before
    shrink = _shrinkers.get((limit_chars, head_chars))
    if shrink is None:
        shrink = _shrinkers[(limit_chars, head_chars)] = PerMessage(
            partial(_shrunk, limit_chars=limit_chars, head_chars=head_chars)
        )
    return [
        _rewritten(message, shrink) if index < recent and message.role == "user" else message
        for index, message in enumerate(messages)
    ]


def _rewritten(message: Message, rewrite: PerMessage[Message | None]) -> Message:
    changed = rewrite(message)
    return message if changed is None else changed


def _shrunk(message: Message, *, limit_chars: int, head_chars: int) -> Message | None:
    """The message with its long outputs cut, or None when none is (a memo holding the
    message itself would keep it alive for ever)."""
    blocks: list[ContentBlock] = []
    for block in message.content:
        if (
            isinstance(block, ToolResultBlock)
            and len(block.content) > limit_chars
            and not block.content.endswith(_OMITTED_SUFFIX)
        ):
            note = OMITTED_NOTE.format(n=len(block.content) - head_chars)
            block = block.model_copy(update={"content": f"{block.content[:head_chars]}\n{note}"})
        blocks.append(block)
    return None if blocks == message.content else Message(role="user", content=blocks)


# One memo per setting: the same old message shrinks to the same object on every request, so
# its token estimate (memoized per object too) is not computed again.
_shrinkers: dict[tuple[int, int], PerMessage[Message | None]] = {}


def elide_old_images(
    messages: Sequence[Message], *, keep_turns: int = DEFAULT_KEEP_TURNS, before: int | None = None
) -> list[Message]:
    """Images older than the last `keep_turns` turns (or before index `before`) become a note
    naming their stored ref."""
    recent = _recent_from(messages, keep_turns) if before is None else before
    return [_rewritten(m, _elided) if i < recent else m for i, m in enumerate(messages)]


def _without_images(message: Message) -> Message | None:
    if not any(isinstance(b, ImageBlock) for b in message.content):
        return None
    blocks: list[ContentBlock] = [
        TextBlock(text=f"[image {b.media_type} {b.ref or ''} omitted from context]".strip())
        if isinstance(b, ImageBlock)
        else b
        for b in message.content
    ]
    return Message(role=message.role, content=blocks)


_elided: PerMessage[Message | None] = PerMessage(_without_images)
