"""Replay a scripted trajectory through the fake wire server, with usage as a provider bills it.

`TrajectoryReplayer` answers each request with the trajectory turn the conversation has reached
(counting assistant messages plus the turns a compaction summary replaced, like the scripted
model), in Anthropic's or OpenAI's wire format, and answers a request without tools (a
compaction summary) with a short summary. Usage comes from `CacheSimulator`, which applies
Anthropic's prompt-caching rules to the request body that actually arrived: a prefix ending at
a `cache_control` breakpoint is written to the cache, a later request whose prefix matches a
written one reads it, everything after the last breakpoint is plain input. Tokens are counted
as 4 characters of canonical JSON each — close enough to compare two runs of the same build.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cofounder.llm.script import Script
from fakes.llm_wire import Stream, ToolCall, anthropic_turn, openai_turn

CHARS_PER_TOKEN = 4
MIN_CACHEABLE_TOKENS = 1024  # Anthropic will not cache a shorter prefix (Sonnet, Opus)
_SUMMARIZED = re.compile(r"\[CONVERSATION SUMMARY\] \((\d+) earlier turns?\)")


def _tokens(unit: Any) -> int:
    return -(-len(json.dumps(unit, sort_keys=True)) // CHARS_PER_TOKEN)


def _units(body: dict[str, Any]) -> list[tuple[Any, bool]]:
    """The request's prefix order (tools, system, messages' blocks), each with its breakpoint."""
    units: list[tuple[Any, bool]] = []

    def add(block: Any) -> None:
        if isinstance(block, dict):
            marked = "cache_control" in block
            units.append(({k: v for k, v in block.items() if k != "cache_control"}, marked))
        else:
            units.append((block, False))

    for tool in body.get("tools", []):
        add(tool)
    system = body.get("system", [])
    for block in [system] if isinstance(system, str) else system:
        add(block)
    for message in body.get("messages", []):
        content = message["content"]
        units.append((message["role"], False))
        for block in [content] if isinstance(content, str) else content:
            add(block)
    return units


@dataclass
class CacheSimulator:
    """Anthropic-style prompt caching over the bodies of successive requests."""

    written: set[str] = field(default_factory=set)

    def usage(self, body: dict[str, Any]) -> dict[str, int]:
        units = _units(body)
        digest = hashlib.sha256()
        prefix_tokens = 0
        read = 0
        last_mark_tokens = 0
        marks: list[str] = []
        for unit, marked in units:
            digest.update(json.dumps(unit, sort_keys=True).encode())
            prefix_tokens += _tokens(unit)
            key = digest.hexdigest()
            if key in self.written:
                read = prefix_tokens
            if marked:
                last_mark_tokens = prefix_tokens
                if prefix_tokens >= MIN_CACHEABLE_TOKENS:
                    marks.append(key)
        self.written.update(marks)
        cached_end = last_mark_tokens if marks else 0
        write = max(0, cached_end - read)
        return {
            "input_tokens": prefix_tokens - max(read, cached_end),
            "cache_read": read,
            "cache_write": write,
        }


def _summarized_turns(messages: list[dict[str, Any]]) -> int:
    if not messages:
        return 0
    content = messages[0]["content"]
    texts = [content] if isinstance(content, str) else [b.get("text", "") for b in content]
    for text in texts:
        match = _SUMMARIZED.match(text or "")
        if match:
            return int(match.group(1))
    return 0


@dataclass
class TrajectoryReplayer:
    """A `FakeLLMServer.responder` that plays `script` over either provider's protocol."""

    script: Script
    cache: CacheSimulator = field(default_factory=CacheSimulator)
    summaries: int = 0
    served: list[int] = field(default_factory=list)

    def __call__(self, path: str, body: Any) -> Stream:
        anthropic = path.endswith("/messages")
        messages = body["messages"]
        if not body.get("tools"):
            self.summaries += 1
            return self._reply(anthropic, body, "## Plan and progress\n- replayed summary", [], 80)
        if not anthropic:  # OpenAI's list starts with the system message
            messages = [m for m in messages if m["role"] != "system"]
        index = _summarized_turns(messages) + sum(1 for m in messages if m["role"] == "assistant")
        turn = self.script.turns[index]
        self.served.append(index)
        calls = [
            ToolCall(c.name, dict(c.input), id=f"toolu_{index:03d}_{n}")
            for n, c in enumerate(turn.tool_calls)
        ]
        return self._reply(anthropic, body, turn.text, calls, turn.usage.output_tokens or 50)

    def _reply(
        self, anthropic: bool, body: Any, text: str | None, calls: list[ToolCall], output: int
    ) -> Stream:
        if anthropic:
            usage = self.cache.usage(body)
            return Stream(
                anthropic_turn(
                    text=text,
                    tool_calls=calls,
                    output_tokens=output,
                    input_tokens=usage["input_tokens"],
                    cache_read=usage["cache_read"],
                    cache_write=usage["cache_write"],
                )
            )
        prompt = _tokens(body["messages"]) + _tokens(body.get("tools", []))
        return Stream(
            openai_turn(text=text, tool_calls=calls, prompt_tokens=prompt, completion_tokens=output)
        )
