"""Token estimates are computed once per message object: every request measures the whole
conversation, and a long session must not pay for its length on every iteration."""

from __future__ import annotations

import gc

from cofounder.agent.context import size
from cofounder.llm import Message, TextBlock


def _message(text: str) -> Message:
    return Message(role="user", content=[TextBlock(text=text)])


def test_the_estimate_is_the_blocks_and_is_kept_per_object() -> None:
    message = _message("x" * 400)
    first = size.estimate_tokens(message)
    assert first == size.MESSAGE_OVERHEAD_TOKENS + 100 + size.BLOCK_OVERHEAD_TOKENS
    assert size.estimate_tokens(message) == first
    # An equal message is another object: measured on its own, to the same figure.
    assert size.estimate_tokens(_message("x" * 400)) == first
    assert size.wire_tokens(message) == size.chars_to_tokens(len(message.model_dump_json()))


def test_a_forgotten_message_leaves_nothing_behind_and_its_id_is_never_mistaken() -> None:
    memo = size._PerMessage(lambda m: len(m.content[0].text))  # type: ignore[union-attr]
    for n in range(200):  # freed objects' ids are reused: each must get its own figure
        assert memo(_message("y" * n)) == n
    gc.collect()
    assert memo._known == {}
