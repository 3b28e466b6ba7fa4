"""ScriptedModel: replays a trajectory deterministically and explains precisely when it can't."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cofounder.llm import (
    AssistantTurn,
    Message,
    Model,
    ModelError,
    ModelRequest,
    ScriptedModel,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)

SCRIPT = """\
model: scripted-habit-tracker
turns:
  - text: "I'll start by planning."
    tool_calls:
      - name: narrate
        input: {message: "Planning the app", phase_name: "Plan"}
      - name: bash
        input: {command: "python -m pytest -q"}
    usage: {input_tokens: 1200, output_tokens: 150, cache_read_tokens: 7}
  - tool_calls:
      - name: bash
        input: {command: "ls"}
    expect: ["tests passed", "app.py"]
    require_ok: true
  - text: "All done: your habit tracker runs and its tests pass."
"""


def write_script(tmp_path: Path, text: str = SCRIPT) -> Path:
    path = tmp_path / "trajectory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def user(text: str = "Build it.") -> Message:
    return Message(role="user", content=[TextBlock(text=text)])


def results(*items: tuple[str, str, bool]) -> Message:
    blocks = [ToolResultBlock(tool_use_id=i, content=c, is_error=e) for i, c, e in items]
    return Message(role="user", content=list(blocks))


def request(*messages: Message) -> ModelRequest:
    return ModelRequest(system="sys", messages=list(messages), tools=[])


def conversation_after_first_turn(
    model: ScriptedModel, *result_items: tuple[str, str, bool]
) -> list[Message]:
    first = model.complete(request(user()))
    return [user(), first.as_message(), results(*result_items)]


OK_RESULTS = (
    ("toolu_000_0", "Phase: Plan", False),
    ("toolu_000_1", "3 tests passed\napp.py", False),
)


def test_first_turn(tmp_path: Path) -> None:
    model = ScriptedModel(write_script(tmp_path))
    streamed: list[str] = []
    turn = model.complete(request(user()), on_text=streamed.append)
    assert turn.model == "scripted-habit-tracker"
    assert turn.stop_reason == "tool_use"
    assert turn.text == "I'll start by planning."
    assert len(streamed) > 1 and "".join(streamed) == turn.text
    assert [(b.id, b.name, b.input) for b in turn.tool_uses] == [
        ("toolu_000_0", "narrate", {"message": "Planning the app", "phase_name": "Plan"}),
        ("toolu_000_1", "bash", {"command": "python -m pytest -q"}),
    ]
    assert isinstance(turn.blocks[0], TextBlock)  # text comes before the tool calls
    assert turn.usage == Usage(input_tokens=1200, output_tokens=150, cache_read_tokens=7)


def test_turn_is_chosen_by_assistant_message_count(tmp_path: Path) -> None:
    model = ScriptedModel(write_script(tmp_path))
    messages = conversation_after_first_turn(model, *OK_RESULTS)
    second = model.complete(request(*messages))
    assert [b.id for b in second.tool_uses] == ["toolu_001_0"]
    assert second.text == ""
    assert second.usage == Usage()  # omitted usage is all zeros
    third = model.complete(
        request(*messages, second.as_message(), results(("toolu_001_0", "x", True)))
    )
    assert third.stop_reason == "end_turn"
    assert third.tool_uses == []
    assert third.text.startswith("All done")


def test_replay_is_deterministic_across_instances(tmp_path: Path) -> None:
    path = write_script(tmp_path)
    messages = conversation_after_first_turn(ScriptedModel(path), *OK_RESULTS)
    # a "restarted process": a fresh instance given the same request returns the same turn
    a = ScriptedModel(path).complete(request(*messages))
    b = ScriptedModel(path).complete(request(*messages))
    assert a == b
    assert a.model_dump_json() == b.model_dump_json()


def test_default_model_name_and_no_on_text(tmp_path: Path) -> None:
    model = ScriptedModel(write_script(tmp_path, "turns:\n  - text: hi\n"))
    turn = model.complete(request(user()))
    assert turn.model == "scripted"
    assert turn.stop_reason == "end_turn"
    assert turn.blocks == [TextBlock(text="hi")]


def test_is_a_model_with_an_absolute_spec(tmp_path: Path) -> None:
    path = write_script(tmp_path)
    model: Model = ScriptedModel(path)
    assert model.spec == f"scripted:{path.resolve()}"


def test_exhausted_script(tmp_path: Path) -> None:
    model = ScriptedModel(write_script(tmp_path, "turns:\n  - text: hi\n"))
    turn = model.complete(request(user()))
    with pytest.raises(ModelError, match="requested turn 1 but the script has 1 turns"):
        model.complete(request(user(), turn.as_message(), user("more")))


def test_expect_missing_substring_names_turn_and_quotes_results(tmp_path: Path) -> None:
    model = ScriptedModel(write_script(tmp_path))
    messages = conversation_after_first_turn(
        model, ("toolu_000_0", "Phase: Plan", False), ("toolu_000_1", "1 failed", False)
    )
    with pytest.raises(ModelError) as info:
        model.complete(request(*messages))
    message = str(info.value)
    assert "scripted turn 1 expected 'tests passed' in the tool results of turn 0" in message
    assert 'the results begin: "Phase: Plan\\n1 failed"' in message


def test_expect_quotes_only_the_start_of_long_results(tmp_path: Path) -> None:
    model = ScriptedModel(write_script(tmp_path))
    messages = conversation_after_first_turn(model, ("toolu_000_0", "y" * 5000, False))
    with pytest.raises(ModelError) as info:
        model.complete(request(*messages))
    assert len(str(info.value)) < 500
    assert "yyyy…" in str(info.value)


def test_require_ok(tmp_path: Path) -> None:
    model = ScriptedModel(write_script(tmp_path))
    messages = conversation_after_first_turn(
        model, ("toolu_000_0", "ok", False), ("toolu_000_1", "tests passed app.py BOOM", True)
    )
    with pytest.raises(ModelError) as info:
        model.complete(request(*messages))
    assert str(info.value) == (
        "scripted turn 1 requires every tool result of turn 0 to succeed, but toolu_000_1"
        ' failed; the first failure begins: "tests passed app.py BOOM"'
    )


def test_checks_need_tool_results(tmp_path: Path) -> None:
    model = ScriptedModel(write_script(tmp_path))
    first = model.complete(request(user()))
    with pytest.raises(
        ModelError, match="checks the tool results of turn 0, but the request has none"
    ):
        model.complete(request(user(), first.as_message(), user("no results here")))


def test_requests_served_counts_only_served_turns(tmp_path: Path) -> None:
    model = ScriptedModel(write_script(tmp_path))
    assert model.requests_served == 0
    model.complete(request(user()))
    model.complete(request(user()))
    assert model.requests_served == 2
    bad = conversation_after_first_turn(model, ("toolu_000_0", "nope", False))
    with pytest.raises(ModelError):
        model.complete(request(*bad))
    assert model.requests_served == 3


def test_request_log_lines(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "requests.jsonl"
    model = ScriptedModel(write_script(tmp_path), request_log=log)
    messages = conversation_after_first_turn(model, *OK_RESULTS)
    model.complete(request(*messages))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["turn"] for line in lines] == [0, 1]
    assert {line["pid"] for line in lines} == {os.getpid()}
    assert all(line["ts"].endswith("+00:00") for line in lines)


def test_request_log_survives_sigkill(tmp_path: Path) -> None:
    script = write_script(tmp_path)
    log = tmp_path / "requests.jsonl"
    child = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from cofounder.llm import Message, ModelRequest, ScriptedModel, TextBlock
        model = ScriptedModel(Path({str(script)!r}), request_log=Path({str(log)!r}))
        msg = Message(role="user", content=[TextBlock(text="go")])
        for _ in range(3):
            model.complete(ModelRequest(system="s", messages=[msg], tools=[]))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["turn"] for line in lines] == [0, 0, 0]
    assert len({line["pid"] for line in lines}) == 1
    assert lines[0]["pid"] != os.getpid()
    # a restarted process appends to the same log
    ScriptedModel(script, request_log=log).complete(request(user()))
    assert len(log.read_text().splitlines()) == 4


def test_unwritable_request_log_is_a_model_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    model = ScriptedModel(write_script(tmp_path), request_log=blocker / "log.jsonl")
    with pytest.raises(ModelError, match="cannot append to request log"):
        model.complete(request(user()))
    assert model.requests_served == 0


# --- the trajectory file is validated on construction ---------------------------------------


def construction_error(tmp_path: Path, text: str) -> str:
    path = write_script(tmp_path, text)
    with pytest.raises(ModelError) as info:
        ScriptedModel(path)
    return str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ModelError) as info:
        ScriptedModel(path)
    assert str(info.value) == f"scripted model: {path}: trajectory file not found"


def test_yaml_syntax_error(tmp_path: Path) -> None:
    message = construction_error(tmp_path, "turns:\n  - text: [oops\n")
    assert "invalid YAML at line 3, column 1" in message


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    message = construction_error(tmp_path, "- text: hi\n")
    assert message.endswith("the top level must be a mapping with keys model and turns")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model: x\n", "turns: is required"),
        ("turns: []\n", "turns: List should have at least 1 item"),
        ("turns:\n  - text: hi\n    colour: red\n", "turns[0].colour: unknown key"),
        ("turns:\n  - {}\n", "turns[0]: a turn needs text, tool_calls or both"),
        ("turns:\n  - tool_calls: [{input: {}}]\n", "turns[0].tool_calls[0].name: is required"),
        (
            "turns:\n  - text: a\n  - text: b\n    usage: {input_tokens: -1}\n",
            "turns[1].usage.input_tokens: Input should be greater than or equal to 0",
        ),
        (
            "turns:\n  - text: a\n    usage: {input_tokens: '12'}\n",
            "turns[0].usage.input_tokens: Input should be a valid integer",
        ),
        (
            "turns:\n  - text: a\n    expect: [x]\n",
            "turns[0] cannot use expect or require_ok: there are no earlier tool results",
        ),
        (
            "turns:\n  - tool_calls: [{name: a, input: {when: 2024-01-01}}]\n",
            "turns[0].tool_calls[0].input.when: is not plain JSON data (got date)",
        ),
        (
            "turns:\n  - tool_calls: [{name: a, input: {x: [{1: 2}]}}]\n",
            "turns[0].tool_calls[0].input.x[0]: key 1 must be text",
        ),
    ],
)
def test_field_level_problems(tmp_path: Path, text: str, expected: str) -> None:
    message = construction_error(tmp_path, text)
    assert message.startswith(f"scripted model: {tmp_path / 'trajectory.yaml'}: ")
    assert expected in message


def test_all_problems_are_reported_one_per_line(tmp_path: Path) -> None:
    message = construction_error(tmp_path, "turns:\n  - {}\n  - text: x\n    bogus: 1\n")
    assert len(message.splitlines()) == 2


def test_assistant_turn_round_trips_as_json(tmp_path: Path) -> None:
    turn = ScriptedModel(write_script(tmp_path)).complete(request(user()))
    assert AssistantTurn.model_validate_json(turn.model_dump_json()) == turn
    assert isinstance(turn.blocks[1], ToolUseBlock)
