"""ScriptedModel: a Model that replays assistant turns from a trajectory file.

It makes demos and tests deterministic and free. The turn it plays is derived from the request
alone (the number of assistant messages already in the conversation), so a process that
crashed and resumed asks for, and gets, exactly the same turn again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from cofounder.llm.messages import (
    AssistantTurn,
    ContentBlock,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
    summarized_turns,
)
from cofounder.llm.protocol import ModelError, ModelRequest, ModelUnavailableError, TextSink
from cofounder.llm.script import Script, ScriptTurn, load_script

TEXT_CHUNKS = 3
QUOTE_CHARS = 200


def tool_use_id(turn: int, call_index: int) -> str:
    """Deterministic ids, so a replayed turn is byte-identical to the first play."""
    return f"toolu_{turn:03d}_{call_index}"


class ScriptedModel:
    """Plays `turns[i]` where i = number of assistant messages in the request (0-based).

    `requests_served` counts turns returned by this instance; with `request_log`, each served
    request is also appended (and fsynced) as one JSON line, so counts survive SIGKILL.
    """

    def __init__(self, path: Path, *, request_log: Path | None = None) -> None:
        self.path = path.expanduser().resolve()
        self.script: Script = load_script(self.path)
        self.request_log = request_log
        self.requests_served = 0
        self._failed_in_process: dict[int, int] = {}
        self._lock = threading.Lock()

    @property
    def spec(self) -> str:
        return f"scripted:{self.path}"

    @property
    def turn_count(self) -> int:
        return len(self.script.turns)

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> AssistantTurn:
        if request.purpose == "summary":
            return self._summary(request)
        # After a compaction the summary stands for turns no longer in the request.
        index = summarized_turns(request.messages) + sum(
            1 for m in request.messages if m.role == "assistant"
        )
        if index >= self.turn_count:
            raise ModelError(
                f"scripted model {self.path}: requested turn {index} but the script has"
                f" {self.turn_count} turns (turns count from 0: the number of assistant"
                " messages already in the conversation)"
            )
        turn = self.script.turns[index]
        _check_previous_results(index, turn, request.messages)
        if turn.unavailable_times and self._failures(index) < turn.unavailable_times:
            self._record(index, failed=True)
            raise ModelUnavailableError(
                f"scripted model: turn {index} is scripted to be unavailable "
                f"{turn.unavailable_times} time(s)"
            )
        self._record(index)
        if turn.text and on_text is not None:
            for chunk in _chunks(turn.text, TEXT_CHUNKS):
                on_text(chunk)
        return _assistant_turn(index, turn, self.script.model)

    def _summary(self, request: ModelRequest) -> AssistantTurn:
        """A compaction summary: a deterministic digest, so replays see the same bytes."""
        chars = len(request.system) + sum(
            len(b.text) for m in request.messages for b in m.content if isinstance(b, TextBlock)
        )
        digest = hashlib.sha256(
            "".join(m.model_dump_json() for m in request.messages).encode()
        ).hexdigest()[:12]
        text = (
            "## Goal and brief\n- as pinned\n"
            f"## Plan and progress\n- scripted summary {digest} of {chars} chars of history\n"
            "## Files\n- none\n## Decisions\n- none\n## Open problems\n- none\n"
            "## Preview and how to run\n- none\n## Next step\n- continue the script"
        )
        with self._lock:
            if self.request_log is not None:
                _append_line(
                    self.request_log,
                    {"summary": True, "pid": os.getpid(), "ts": datetime.now(UTC).isoformat()},
                )
        return AssistantTurn(
            blocks=[TextBlock(text=text)],
            stop_reason="end_turn",
            usage=Usage(input_tokens=-(-chars // 4), output_tokens=-(-len(text) // 4)),
            model=self.script.model,
        )

    def _failures(self, index: int) -> int:
        """Scripted outages already served for this turn, across processes (from the log)."""
        if self.request_log is None or not self.request_log.exists():
            return self._failed_in_process.get(index, 0)
        lines = self.request_log.read_text().splitlines()
        return sum(
            1
            for e in map(json.loads, filter(None, lines))
            if e.get("turn") == index and e.get("failed")
        )

    def _record(self, index: int, *, failed: bool = False) -> None:
        with self._lock:
            if failed:
                self._failed_in_process[index] = self._failed_in_process.get(index, 0) + 1
            if self.request_log is not None:
                record: dict[str, object] = {
                    "turn": index,
                    "pid": os.getpid(),
                    "ts": datetime.now(UTC).isoformat(),
                }
                if failed:
                    record["failed"] = True
                try:
                    _append_line(self.request_log, record)
                except OSError as exc:
                    raise ModelError(
                        f"scripted model: cannot append to request log {self.request_log}: {exc}"
                    ) from None
            if not failed:
                self.requests_served += 1


def _assistant_turn(index: int, turn: ScriptTurn, model: str) -> AssistantTurn:
    blocks: list[ContentBlock] = []
    if turn.text:
        blocks.append(TextBlock(text=turn.text))
    for call_index, call in enumerate(turn.tool_calls):
        blocks.append(
            ToolUseBlock(id=tool_use_id(index, call_index), name=call.name, input=call.input)
        )
    return AssistantTurn(
        blocks=blocks,
        stop_reason="tool_use"
        if turn.tool_calls
        else ("max_tokens" if turn.cut_off else "end_turn"),
        usage=turn.usage.to_usage(),
        model=model,
    )


def _check_previous_results(index: int, turn: ScriptTurn, messages: list[Message]) -> None:
    """Enforce `expect` / `require_ok` against the tool results sent after the last turn."""
    if not turn.expect and not turn.require_ok:
        return
    results = _results_since_last_assistant(messages)
    # `expect` also sees what else reached the model since its last turn (a founder's answer).
    joined = "\n".join([*(r.content for r in results), *_texts_since_last_assistant(messages)])
    label = f"scripted turn {index}"
    if not results:
        raise ModelError(
            f"{label} checks the tool results of turn {index - 1}, but the request has none"
        )
    for needle in turn.expect:
        if needle not in joined:
            raise ModelError(
                f"{label} expected {needle!r} in the tool results of turn {index - 1},"
                f" but it is missing; the results begin: {_quote(joined)}"
            )
    if turn.require_ok:
        failed = [r for r in results if r.is_error]
        if failed:
            ids = ", ".join(r.tool_use_id for r in failed)
            raise ModelError(
                f"{label} requires every tool result of turn {index - 1} to succeed, but"
                f" {ids} failed; the first failure begins: {_quote(failed[0].content)}"
            )


def _results_since_last_assistant(messages: list[Message]) -> list[ToolResultBlock]:
    results: list[ToolResultBlock] = []
    for message in reversed(messages):
        if message.role == "assistant":
            break
        blocks = [b for b in message.content if isinstance(b, ToolResultBlock)]
        results[:0] = blocks
    return results


def _texts_since_last_assistant(messages: list[Message]) -> list[str]:
    texts: list[str] = []
    for message in reversed(messages):
        if message.role == "assistant":
            break
        texts[:0] = [b.text for b in message.content if isinstance(b, TextBlock)]
    return texts


def _chunks(text: str, count: int) -> list[str]:
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _quote(text: str) -> str:
    clipped = text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…"
    return json.dumps(clipped, ensure_ascii=False)


def _append_line(path: Path, record: dict[str, object]) -> None:
    # One write() of a whole line with O_APPEND, then fsync: the line is either there or not.
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(record) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
