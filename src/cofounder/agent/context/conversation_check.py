"""Is a conversation valid to send? Providers reject (or silently corrupt) broken tool pairing."""

from __future__ import annotations

from collections.abc import Sequence

from cofounder.llm.messages import Message, ToolResultBlock


def conversation_problems(messages: Sequence[Message]) -> list[str]:
    """What makes a conversation invalid to send: two assistant messages in a row, a
    tool_use not answered by exactly one tool_result in the next message, an orphan result."""
    problems = []
    if messages and messages[0].role != "user":
        problems.append("the conversation does not start with a user message")
    for index, message in enumerate(messages):
        # Consecutive user messages are fine (providers join them: a founder's answer can follow
        # tool results); two assistant turns in a row never happen and would be a bug.
        if index and message.role == "assistant" == messages[index - 1].role:
            problems.append(f"messages {index - 1} and {index} are both assistant")
        if not message.content:
            problems.append(f"message {index} is empty")
        results = [b.tool_use_id for b in message.content if isinstance(b, ToolResultBlock)]
        if message.role == "assistant" and results:
            problems.append(f"assistant message {index} holds a tool_result")
        if message.role == "user":
            previous = messages[index - 1] if index else None
            asked = [b.id for b in previous.tool_uses] if previous else []
            for orphan in sorted(set(results) - set(asked)):
                problems.append(f"message {index}: tool_result {orphan} answers no tool_use")
            for dup in sorted({r for r in results if results.count(r) > 1}):
                problems.append(f"message {index}: tool_use {dup} answered more than once")
        if message.role == "assistant" and message.tool_uses and index + 1 < len(messages):
            answered = {
                b.tool_use_id for b in messages[index + 1].content if isinstance(b, ToolResultBlock)
            }
            for missing in [u.id for u in message.tool_uses if u.id not in answered]:
                problems.append(f"message {index}: tool_use {missing} has no tool_result")
    return problems
