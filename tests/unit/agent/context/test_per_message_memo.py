"""Token estimates and trimmed copies are computed once per message object: every request
measures and trims the whole conversation, and a long session must not pay for its length on
every iteration."""

from __future__ import annotations

import gc

from cofounder.agent.context import size, trim
from cofounder.agent.context.memo import PerMessage
from cofounder.llm import ImageBlock, Message, TextBlock, ToolResultBlock


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
    memo = PerMessage(lambda m: len(m.content[0].text))  # type: ignore[union-attr]
    for n in range(200):  # freed objects' ids are reused: each must get its own figure
        assert memo(_message("y" * n)) == n
    gc.collect()
    assert memo._known == {}


def _output(text: str) -> Message:
    return Message(role="user", content=[ToolResultBlock(tool_use_id="t1", content=text)])


def _turn(reply: str) -> Message:
    return Message(role="assistant", content=[TextBlock(text=reply)])


def test_an_old_long_output_shrinks_to_the_same_object_on_every_request() -> None:
    """So its estimate is the memo's too; an output short enough stays the very message."""
    long, short = _output("z" * 5_000), _output("fine")
    conversation = [long, _turn("a"), short, _turn("b"), _output("new"), _turn("c")]
    first = trim.shrink_tool_results(conversation, 1_000, before=4)
    again = trim.shrink_tool_results(conversation, 1_000, before=4)
    assert first[0] is again[0] and first[0] is not long
    assert first[0].content[0].content.startswith("z" * 400)  # type: ignore[union-attr]
    assert first[0].content[0].content.endswith(trim._OMITTED_SUFFIX)  # type: ignore[union-attr]
    assert [m is o for m, o in zip(first[1:], conversation[1:], strict=True)] == [True] * 5
    # Another limit is another rewrite, not the first one's.
    other = trim.shrink_tool_results(conversation, 2_000, head_chars=100, before=4)
    assert other[0] is not first[0] and len(other[0].content[0].content) < 200  # type: ignore[union-attr]


def test_old_images_elide_once_and_nothing_outlives_its_message() -> None:
    shot = Message(
        role="user",
        content=[ImageBlock(media_type="image/png", data="aGk=", ref="img/1.png")],
    )
    conversation = [shot, _turn("a"), _output("x" * 50), _turn("b")]
    first = trim.elide_old_images(conversation, before=3)
    assert first[0] is trim.elide_old_images(conversation, before=3)[0]
    assert first[0].content == [TextBlock(text="[image image/png img/1.png omitted from context]")]
    assert first[2] is conversation[2]
    held = len(trim._elided._known)
    del conversation, first, shot
    gc.collect()
    assert len(trim._elided._known) < held  # a message nobody holds is forgotten
