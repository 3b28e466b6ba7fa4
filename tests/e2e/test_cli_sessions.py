"""The CLI contract end to end: exit codes, first line, status/events output, guards' outcomes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from cf_support import EXAMPLE, Backend, app_db_url, session_id_from
from cofounder.events import event_payload, parse_event
from cofounder.storage import Database, EventLog, Transcript
from cofounder.storage import db as db_module


def project(tmp_path: Path, turns: str, **overrides: str) -> Path:
    (tmp_path / "trajectory.yaml").write_text(
        "turns:\n" + textwrap.indent(textwrap.dedent(turns), "  ")
    )
    fields = {
        "name": "Tiny",
        "goal": "Prove a guard works.",
        "model": "scripted:trajectory.yaml",
        **overrides,
    }
    body = "\n".join(f"{k}: {json.dumps(v)}" for k, v in fields.items())
    path = tmp_path / "cofounder.yaml"
    path.write_text(body + "\nidea_brief: {problem: testing}\nunderstanding_qna: []\n")
    return path


def wait_for_event(backend: Backend, session_id: str, event_type: str) -> None:
    db = Database(app_db_url(backend))
    try:
        deadline = time.monotonic() + 30
        while event_type not in [e.type for e in EventLog(db).read(session_id)]:
            assert time.monotonic() < deadline, f"no {event_type} event within 30 s"
            time.sleep(0.05)
    finally:
        db.close()


def events_of(backend: Backend, session_id: str) -> list[dict[str, Any]]:
    lines = backend.cli("events", session_id, "--json").stdout.splitlines()
    return [json.loads(line) for line in lines if line]


def messages_of(backend: Backend, session_id: str) -> list[dict[str, Any]]:
    from cf_support import app_db_url
    from cofounder.storage import Database

    db = Database(app_db_url(backend))
    try:
        return [m.model_dump(mode="json") for m in Transcript(db).messages(session_id)]
    finally:
        db.close()


def assert_one_result_per_tool_use(messages: list[dict[str, Any]]) -> None:
    for i, message in enumerate(messages):
        uses = [b["id"] for b in message["content"] if b["type"] == "tool_use"]
        if uses:
            nxt = messages[i + 1]["content"]
            results = [b for b in nxt if b["type"] == "tool_result"]
            assert [b["tool_use_id"] for b in results] == uses
            # After the results: screenshots (captions and images by reference), the budget note.
            after = nxt[len(results) :]
            assert all(b["type"] in ("text", "image") for b in after)
            assert all(b.get("data") is None for b in after if b["type"] == "image")


def test_example_build_completes_with_status_events_and_docs(backend: Backend) -> None:
    result = backend.cli("build", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)

    status = json.loads(backend.cli("status", session_id, "--json").stdout)
    assert status["state"] == "completed" and status["outcome"] == "completed"
    assert status["tool_calls"] == 29 and status["iteration"] == 14
    assert status["phase"] == "Document"

    lines = backend.cli("events", session_id, "--json").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types[0] == "session_started" and types[-1] == "session_finished"
    for expected in (
        "thinking",
        "assistant_text",
        "tool_called",
        "phase_started",
        "phase_completed",
        "documentation_updated",
        "iteration_committed",
    ):
        assert expected in types
    phases = [e["payload"]["phase"] for e in events if e["type"] == "phase_started"]
    assert phases == ["Plan", "Build", "Verify", "Document"]
    tool_event = next(e for e in events if e["type"] == "tool_called")
    assert {"name", "label", "summary", "ok", "duration_ms"} <= set(tool_event["payload"])
    # Every printed line is one of the typed events, field for field (a client can parse it).
    for event in events:
        assert event_payload(parse_event(event["type"], event["payload"])) == event["payload"]

    workspace = Path(backend.cli("workspace", session_id).stdout.strip())
    assert (workspace / "habits" / "server.py").is_file()
    docs = backend.cli("docs", session_id).stdout
    assert "getting started" in docs and "faq" in docs

    listed = backend.cli("sessions", "--json").stdout.splitlines()
    assert [json.loads(line)["session_id"] for line in listed] == [session_id]


def test_bad_project_file_is_refused_with_field_errors_and_exit_2(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: ''\ngoal: 3\nidea_brief: {}\nunderstanding_qna: [{question: q}]\n"
        "tier: emperor\nsurprise: 1\n"
    )
    result = sqlite_backend.cli("build", str(bad))
    assert result.returncode == 2
    for field in ("name", "goal", "understanding_qna[0].answer", "tier", "surprise"):
        assert field in result.stderr, field
    assert not (sqlite_backend.home / "sessions").exists() or not any(
        (sqlite_backend.home / "sessions").iterdir()
    )


def test_missing_project_file_and_bad_model_spec_exit_2(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    missing = sqlite_backend.cli("build", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr
    path = project(tmp_path, "- text: done\n")
    bad_model = sqlite_backend.cli("build", str(path), "--model", "telepathy:gpt")
    assert bad_model.returncode == 2 and "telepathy" in bad_model.stderr
    no_script = sqlite_backend.cli("build", str(path), "--model", "scripted:/nonexistent.yaml")
    assert no_script.returncode == 2 and "nonexistent" in no_script.stderr


def test_unknown_session_is_bad_input(sqlite_backend: Backend) -> None:
    for command in (["status", "zzz"], ["events", "zzz"], ["resume", "zzz"], ["workspace", "zzz"]):
        result = sqlite_backend.cli(*command)
        assert result.returncode == 2 and "no session" in result.stderr, command


def test_repetition_is_steered_once_then_stops_as_stuck(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    same = "{name: bash, input: {command: 'false'}}"
    path = project(
        tmp_path,
        f"""\
        - tool_calls: [{same}, {same}]
        - tool_calls: [{same}, {{name: bash, input: {{command: 'echo different'}}}}]
        - tool_calls: [{same}]
        - tool_calls: [{same}]
        - text: never reached
        """,
    )
    result = sqlite_backend.cli("build", str(path))
    assert result.returncode == 1
    session_id = session_id_from(result.stdout)
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["outcome"] == "stuck"
    messages = messages_of(sqlite_backend, session_id)
    assert_one_result_per_tool_use(messages)
    results = [b for m in messages for b in m["content"] if b["type"] == "tool_result"]
    steered = [r for r in results if "try a different approach" in r["content"]]
    assert len(steered) == 1 and steered[0]["tool_use_id"] == "toolu_001_0"
    assert results[-1]["content"].startswith("Not run:")
    events = [
        json.loads(x)
        for x in sqlite_backend.cli("events", session_id, "--json").stdout.splitlines()
    ]
    assert [e["payload"]["action"] for e in events if e["type"] == "tool_steered"] == [
        "steer",
        "skip",
    ]


def test_tool_call_cap_ends_with_iteration_limit(sqlite_backend: Backend, tmp_path: Path) -> None:
    turns = "".join(
        f"- tool_calls: [{{name: bash, input: {{command: 'echo {i}'}}}}, "
        f"{{name: bash, input: {{command: 'echo {i}b'}}}}]\n"
        for i in range(4)
    )
    path = project(tmp_path, turns + "- text: never reached\n")
    result = sqlite_backend.cli("build", str(path), "--max-tool-calls", "5")
    assert result.returncode == 1
    session_id = session_id_from(result.stdout)
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["outcome"] == "iteration_limit" and status["tool_calls"] == 5
    assert "cap of 5" in status["outcome_reason"]
    assert_one_result_per_tool_use(messages_of(sqlite_backend, session_id))


def test_model_failure_ends_failed_with_exit_1(sqlite_backend: Backend, tmp_path: Path) -> None:
    path = project(tmp_path, "- tool_calls: [{name: bash, input: {command: 'echo hi'}}]\n")
    result = sqlite_backend.cli("build", str(path))
    assert result.returncode == 1
    session_id = session_id_from(result.stdout)
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["outcome"] == "failed" and "script" in status["outcome_reason"]
    resumed = sqlite_backend.cli("resume", session_id)  # its end again: failed, so exit 1
    assert resumed.returncode == 1 and "already finished (failed)" in resumed.stdout


def test_tool_failures_are_results_not_crashes(sqlite_backend: Backend, tmp_path: Path) -> None:
    path = project(
        tmp_path,
        """\
        - tool_calls:
            - {name: read_file, input: {path: ../../etc/passwd}}
            - {name: write_file, input: {path: a.txt}}
            - {name: teleport, input: {}}
            - {name: bash, input: {command: 'exit 3'}}
        - text: all done
        """,
    )
    result = sqlite_backend.cli("build", str(path))
    assert result.returncode == 0, result.stderr
    session_id = session_id_from(result.stdout)
    messages = messages_of(sqlite_backend, session_id)
    assert_one_result_per_tool_use(messages)
    results = [b for b in messages[2]["content"] if b["type"] == "tool_result"]
    assert len(results) == 4
    assert all(r["is_error"] for r in results)
    assert "workspace" in results[0]["content"]
    assert "content" in results[1]["content"]
    assert "teleport" in results[2]["content"]
    assert "3" in results[3]["content"]


def test_cancel_stops_a_running_session(backend: Backend, tmp_path: Path) -> None:
    turns = "".join(
        f"- tool_calls: [{{name: bash, input: {{command: 'sleep 0.3; echo {i}'}}}}]\n"
        for i in range(40)
    )
    path = project(tmp_path, turns + "- text: done\n")
    proc = backend.popen("build", str(path))
    assert proc.stdout is not None
    session_id = proc.stdout.readline().removeprefix("session: ").strip()
    cancel = backend.cli("cancel", session_id)
    assert cancel.returncode == 0, cancel.stderr
    proc.communicate(timeout=120)
    assert proc.returncode == 1
    status = json.loads(backend.cli("status", session_id, "--json").stdout)
    assert status["outcome"] == "cancelled" and status["tool_calls"] < 40


def test_init_writes_a_project_that_loads_and_refuses_to_overwrite(
    tmp_path: Path, sqlite_backend: Backend
) -> None:
    first = sqlite_backend.cli("init", str(tmp_path / "idea"))
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "idea" / "cofounder.yaml").is_file()
    again = sqlite_backend.cli("init", str(tmp_path / "idea"))
    assert again.returncode == 2 and "exists" in again.stderr
    from cofounder.project import load_project

    load_project(tmp_path / "idea" / "cofounder.yaml")


@pytest.mark.parametrize("command", [["sessions"], ["resume"]])
def test_empty_data_dir_is_friendly(sqlite_backend: Backend, command: list[str]) -> None:
    result = sqlite_backend.cli(*command)
    assert result.returncode == 0
    assert "no " in result.stdout


def test_secrets_never_reach_storage_or_output(sqlite_backend: Backend, tmp_path: Path) -> None:
    """This process's secrets are removed everywhere; a secret-shaped token that a command
    prints (the command itself does not contain it) is removed from results and events."""
    secret = "hunter2-correct-horse-battery"
    token = "sk-ant-" + "x1y2z3" * 5
    path = project(
        tmp_path,
        f"""\
        - text: "I will use {secret} and {token}"
          tool_calls:
            - {{name: bash, input: {{command: "echo sk-ant-$(printf 'x1y2z3%.0s' 1 2 3 4 5)"}}}}
            - {{name: bash, input: {{command: 'echo {secret}'}}}}
            - {{name: narrate, input: {{message: 'key is {secret}'}}}}
        - text: done
        """,
    )
    result = sqlite_backend.cli("build", str(path), MY_SERVICE_API_KEY=secret)
    assert result.returncode == 0, result.stderr
    for text in (result.stdout, result.stderr):
        assert secret not in text and token not in text
    session_id = session_id_from(result.stdout)
    events = sqlite_backend.cli("events", session_id, "--json").stdout
    assert "[REDACTED]" in events and secret not in events
    for db_file in sqlite_backend.home.glob("*.sqlite*"):
        data = db_file.read_bytes()
        assert secret.encode() not in data, db_file.name
        assert token.encode() not in data, db_file.name


def test_an_unexpected_step_failure_ends_the_session_failed_not_stuck_running(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    """The session's own state file is made unwritable mid-batch: the session must end
    `failed`, with the cause, instead of staying "running" forever."""
    path = project(
        tmp_path,
        """\
        - tool_calls: [{name: bash, input: {command: 'sleep 3; echo slept > out.txt'}}]
        - text: never reached
        """,
    )
    proc = sqlite_backend.popen("build", str(path))
    assert proc.stdout is not None
    session_id = proc.stdout.readline().removeprefix("session: ").strip()
    wait_for_event(sqlite_backend, session_id, "tool_started")
    state_file = sqlite_backend.home / "sessions" / session_id / "workspace-state.json"
    state_file.unlink()
    state_file.mkdir()
    (state_file / "blocker").write_text("x")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["state"] == "failed"
    assert "internal error" in status["outcome_reason"]
    assert "session_internal_error" in err  # logged, not swallowed
    again = sqlite_backend.cli("resume", session_id)
    assert again.returncode == 1 and "already finished (failed)" in again.stdout


def test_a_cut_off_reply_is_continued_not_taken_as_finished(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    path = project(
        tmp_path,
        """\
        - text: "Here is the first half of my long answ"
          cut_off: true
        - text: "...er. Done."
        """,
    )
    result = sqlite_backend.cli("build", str(path))
    assert result.returncode == 0, result.stderr
    messages = messages_of(sqlite_backend, session_id_from(result.stdout))
    roles = [m["role"] for m in messages]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert "cut off" in messages[2]["content"][0]["text"]


def test_odd_file_names_do_not_break_the_session(sqlite_backend: Backend, tmp_path: Path) -> None:
    path = project(
        tmp_path,
        """\
        - tool_calls:
            - {name: bash, input: {command: "touch $'bad\\\\xffname' && mkdir -p d && touch d/ok"}}
            - {name: glob, input: {pattern: "**/*"}}
        - text: done
        """,
    )
    result = sqlite_backend.cli("build", str(path), COFOUNDER_CRASH_AT="commit.before#1")
    assert result.returncode == -9
    session_id = session_id_from(result.stdout)
    resumed = sqlite_backend.cli("resume", session_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    workspace = Path(sqlite_backend.cli("workspace", session_id).stdout.strip())
    assert os.fsencode("bad\udcffname") in os.listdir(os.fsencode(workspace))
    glob_result = messages_of(sqlite_backend, session_id)[2]["content"][1]["content"]
    assert "d/ok" in glob_result and "bad" in glob_result


def test_cancelling_an_interrupted_session_ends_it_without_another_model_call(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    path = project(
        tmp_path,
        """\
        - tool_calls: [{name: bash, input: {command: 'echo one'}}]
        - tool_calls: [{name: bash, input: {command: 'echo two'}}]
        - text: done
        """,
    )
    crashed = sqlite_backend.cli("build", str(path), COFOUNDER_CRASH_AT="commit.after#1")
    assert crashed.returncode == -9
    session_id = session_id_from(crashed.stdout)
    cancel = sqlite_backend.cli("cancel", session_id)
    assert cancel.returncode == 0 and "cancelled" in cancel.stdout
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["state"] == "cancelled" and status["iteration"] == 1
    log = sqlite_backend.home / "sessions" / session_id / "model-requests.jsonl"
    assert len(log.read_text().splitlines()) == 1
    resumed = sqlite_backend.cli("resume", session_id)
    assert resumed.returncode == 1 and "already finished (cancelled)" in resumed.stdout
    assert len(log.read_text().splitlines()) == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COFOUNDER_DATABASE_URL": "foo://bar"}, "COFOUNDER_DATABASE_URL: unsupported database"),
        ({"COFOUNDER_MAX_TOOL_CALLS": "lots"}, "COFOUNDER_MAX_TOOL_CALLS"),
        ({"COFOUNDER_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"}, "u:***@"),
    ],
)
def test_bad_configuration_is_exit_2_with_the_setting_named(
    sqlite_backend: Backend, env: dict[str, str], message: str
) -> None:
    result = sqlite_backend.cli("sessions", **env)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "pw@" not in result.stderr


def test_a_database_that_accepts_and_never_answers_fails_the_start_in_its_timeout(
    sqlite_backend: Backend,
) -> None:
    """A wrong port that another service holds: libpq would wait for ever; the default
    timeout ends it with the setting named (once: not once per connection attempt)."""
    with socket.socket() as silent:  # the kernel accepts; nobody ever reads or writes
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql://u:pw@127.0.0.1:{silent.getsockname()[1]}/x"
        started = time.monotonic()
        result = sqlite_backend.cli_within(60, "sessions", COFOUNDER_DATABASE_URL=url)
        took = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert "cannot open the database" in result.stderr and "u:***@" in result.stderr
    assert "timeout" in result.stderr and "pw@" not in result.stderr
    assert db_module.PG_CONNECT_TIMEOUT_S <= took < 2 * db_module.PG_CONNECT_TIMEOUT_S


def test_a_provider_outage_pauses_and_resume_continues_in_a_new_run(
    backend: Backend, tmp_path: Path
) -> None:
    path = project(
        tmp_path,
        """\
        - tool_calls: [{name: write_file, input: {path: a.txt, content: one}}]
        - text: done
          unavailable_times: 1
        """,
    )
    first = backend.cli("build", str(path))
    assert first.returncode == 1
    assert "cofounder resume" in first.stderr
    session_id = session_id_from(first.stdout)
    status = json.loads(backend.cli("status", session_id, "--json").stdout)
    assert status["state"] == "paused" and status["outcome"] is None
    assert "unavailable" in status["outcome_reason"]

    resumed = backend.cli("resume")  # resume-all picks up paused sessions too
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    status = json.loads(backend.cli("status", session_id, "--json").stdout)
    assert status["state"] == "completed" and status["iteration"] == 2
    messages = messages_of(backend, session_id)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    types = [
        json.loads(x)["type"]
        for x in backend.cli("events", session_id, "--json").stdout.split("\n")
        if x
    ]
    assert types.count("model_unavailable") == 1 and types.count("session_paused") == 1
    assert types.count("session_finished") == 1


def _break_store_when_tools_start(backend: Backend, session_id: str) -> None:
    wait_for_event(backend, session_id, "tool_started")
    shutil.rmtree(backend.home / "objects")
    (backend.home / "objects").write_text("the object store is down")


SLOW_TWO_BATCHES = """\
- tool_calls: [{name: bash, input: {command: 'sleep 1.5; echo one > one.txt'}}]
- tool_calls: [{name: write_file, input: {path: two.txt, content: two}}]
- text: done
"""


def test_a_failing_snapshot_store_is_retried_reported_and_recorded_as_missing(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    proc = sqlite_backend.popen("build", str(project(tmp_path, SLOW_TWO_BATCHES)))
    assert proc.stdout is not None
    session_id = proc.stdout.readline().removeprefix("session: ").strip()
    _break_store_when_tools_start(sqlite_backend, session_id)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err  # the work itself is fine on this disk
    events = [
        json.loads(x)
        for x in sqlite_backend.cli("events", session_id, "--json").stdout.split("\n")
        if x
    ]
    failures = [e["payload"] for e in events if e["type"] == "snapshot_failed"]
    assert [(f["iteration"], f["attempt"]) for f in failures] == [
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 1),
        (2, 2),
        (2, 3),
    ]
    db = Database(app_db_url(sqlite_backend))
    checkpoints = [Transcript(db).checkpoint(session_id, i) for i in (1, 2, 3)]
    db.close()
    assert [c.snapshot_id if c else None for c in checkpoints] == ["", "", ""]
    workspace = Path(sqlite_backend.cli("workspace", session_id).stdout.strip())
    assert (workspace / "one.txt").exists() and (workspace / "two.txt").exists()


def test_an_interrupted_batch_after_a_missing_snapshot_fails_explicitly(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    proc = sqlite_backend.popen(
        "build", str(project(tmp_path, SLOW_TWO_BATCHES)), COFOUNDER_CRASH_AT="act.after_tool#2"
    )
    assert proc.stdout is not None
    session_id = proc.stdout.readline().removeprefix("session: ").strip()
    _break_store_when_tools_start(sqlite_backend, session_id)
    proc.communicate(timeout=60)
    assert proc.returncode == -9
    resumed = sqlite_backend.cli("resume", session_id)
    assert resumed.returncode == 1
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["state"] == "failed"
    assert "no stored snapshot" in status["outcome_reason"]
