"""The HTTP API on a real server: `cofounder serve` on loopback with its embedded worker and a
scripted tier model. A founder's front end starts a build over HTTP and watches it live through
an SSE stream that survives dropped connections; answers a question; cancels, pauses and
resumes a build; wakes a sleeper."""

from __future__ import annotations

import random
import socket
import time
from datetime import datetime
from typing import Any

from api_live_support import (
    JUST_QUEUED,
    SLEEPY_BUDGET,
    SLEEPY_TURNS,
    Live,
    Message,
    call,
    held,
    serve,
)

from cf_support import Backend

SEED = 1515


def _tool_started(iteration: int) -> Any:
    return lambda m: m.event == "tool_started" and m.data["payload"]["iteration"] == iteration


def _same_ts(event: dict[str, Any]) -> dict[str, Any]:
    """The paged route writes `Z` where the stream (as `events --json`) writes `+00:00`."""
    return event | {"ts": datetime.fromisoformat(event["ts"])}


def _types(live: Live, session_id: str) -> list[str]:
    return [e["type"] for e in live.events(session_id)]


def test_a_build_over_http_completes_and_a_stream_dropped_ten_times_misses_nothing(
    sqlite_backend: Backend,
) -> None:
    turns: list[dict[str, Any]] = [
        {"text": f"Step {n}.", "tool_calls": [call("narrate", message=f"step {n}"),
                                             call("bash", command=f"sleep 0.15; echo {n}")]}
        for n in range(16)
    ] + [{"text": "All done."}]  # fmt: skip
    # The last step waits for the test, so the build cannot end before the tenth drop however
    # slowly the test reads (a reader left behind on a loaded machine saw the end). The drops
    # read some 16,000 bytes (this seed's), under half of what the steps before it write.
    turns[15]["tool_calls"][1] = held("sleep 0.15; echo 15")
    rng = random.Random(SEED)
    with serve(sqlite_backend, turns) as live:
        session_id = live.start_build()
        got: list[Message] = []
        drops_while_running = 0
        for _ in range(10):
            # Hang up after a random number of bytes: between messages or inside one.
            last = got[-1].id if got else None
            reading = live.read_stream(
                session_id, last_event_id=last, hang_up_after=rng.randint(1, 3000)
            )
            assert not reading.ended, "the build ended before the tenth drop"
            got += reading.messages
            drops_while_running += live.session(session_id)["outcome"] is None
            time.sleep(rng.uniform(0, 0.3))
        live.open_gate(session_id)
        rest = live.read_stream(session_id, last_event_id=got[-1].id if got else None)
        assert rest.ended  # the server closes the stream after session_finished
        got += rest.messages

        status = live.wait_for(session_id, lambda s: s["outcome"] is not None)
        assert status["state"] == "completed" and status["iteration"] == len(turns)
        assert drops_while_running >= 1, "no drop happened while the build ran"
        logged = live.events(session_id)
        # Every event exactly once, in seq order, each as the events table holds it.
        assert [m.id for m in got] == list(range(1, len(logged) + 1))
        assert [_same_ts(m.data) for m in got] == [_same_ts(e) for e in logged]
        assert [m.event for m in got] == [e["type"] for e in logged]
        assert got[-1].event == "session_finished"

        # After the end: the whole history, then the stream closes.
        late = live.read_stream(session_id)
        assert late.ended and [m.data for m in late.messages] == [m.data for m in got]
        # Resuming at the last event of a finished session: nothing more, closed at once.
        at_end = live.read_stream(session_id, last_event_id=logged[-1]["seq"])
        assert at_end.ended and at_end.messages == []
        middle = live.api("GET", f"/sessions/{session_id}/events/stream?after=5")
        assert middle.status_code == 200
        # the reconnect advice first (a second), then the events
        assert middle.text.startswith("retry: 1000\n\nevent: ") and "\nid: 6\n\n" in middle.text
        assert middle.text.count("\nid: ") == len(logged) - 5


def test_an_answer_given_over_http_reaches_the_model(sqlite_backend: Backend) -> None:
    ask = call(
        "ask_founder",
        problem="Should streaks count weekends?",
        tried=["read the brief"],
        recommendation="Count every day.",
        options=[
            {"key": "every_day", "label": "Every day counts"},
            {"key": "weekdays", "label": "Only weekdays count"},
        ],
        default="every_day",
    )
    turns: list[dict[str, Any]] = [
        {"text": "One product question first.", "tool_calls": [ask]},
        # The scripted model fails the build unless its request carries these.
        {"text": "Weekdays it is.", "expect": ["Only weekdays count", "Saturdays are rest"]},
    ]
    with serve(sqlite_backend, turns) as live:
        session_id = live.start_build()
        live.read_stream(session_id, until=lambda m: m.event == "waiting_for_input")
        # The event is written before the run ends and the state says so: wait for the state.
        live.wait_for(session_id, lambda s: s["state"] == "waiting")
        [question] = live.ok("GET", f"/sessions/{session_id}/escalations")
        assert question["state"] == "open" and live.model_calls(session_id) == 1
        path = f"/escalations/{question['id']}/resolve"
        refused = live.api("POST", path, json={"choice": "sundays"})
        assert refused.status_code == 422 and "every_day, weekdays" in refused.text

        answer = {"choice": "weekdays", "guidance": "Saturdays are rest days too."}
        resolved = live.ok("POST", path, json=answer)
        assert resolved["state"] == "resolved" and resolved["choice"] == "weekdays"
        assert live.api("POST", path, json=answer).status_code == 409

        status = live.wait_for(session_id, lambda s: s["outcome"] is not None)
        assert status["state"] == "completed", status
        assert live.model_calls(session_id) == 2
        assert "resolved" in _types(live, session_id)


def _held_second(turns: int) -> list[dict[str, Any]]:
    """`turns` turns of one quick tool call each, then a closing reply; the second turn's call
    runs only once the test opens its gate."""
    calls = [call("bash", command=f"echo {n}") for n in range(turns)]
    calls[1] = held("echo 1")
    return [*({"tool_calls": [c]} for c in calls), {"text": "done"}]


def _in_second_turn(live: Live, verb: str) -> str:
    """Start a build and `verb` it while its second turn's tool runs: the running build is
    asked to stop before its next model call. The tool waits until the answer has come (a
    tool that slept a second could be over before the request landed on a loaded machine,
    and the build stopped a turn later)."""
    session_id = live.start_build()
    live.read_stream(session_id, until=_tool_started(2))
    done = live.ok("POST", f"/sessions/{session_id}/{verb}")
    assert done["state"] == "running" and "before its next model call" in done["detail"]
    live.open_gate(session_id)
    return session_id


def test_cancel_over_http_stops_the_build_before_its_next_model_call(
    sqlite_backend: Backend,
) -> None:
    with serve(sqlite_backend, _held_second(30)) as live:
        session_id = _in_second_turn(live, "cancel")
        status = live.wait_for(session_id, lambda s: s["outcome"] is not None)
        assert status["state"] == "cancelled" and status["iteration"] == 2
        assert live.model_calls(session_id) == 2
        events = live.events(session_id)
        assert not [e for e in events if e["type"] == "thinking" and e["payload"]["iteration"] > 2]
        assert "cancel_requested" in [e["type"] for e in events]
        assert live.api("POST", f"/sessions/{session_id}/cancel").status_code == 409


def test_pause_then_resume_over_http(sqlite_backend: Backend) -> None:
    turns = _held_second(5)
    with serve(sqlite_backend, turns) as live:
        session_id = _in_second_turn(live, "pause")
        status = live.wait_for(session_id, lambda s: s["state"] == "paused")
        assert status["iteration"] == 2 and live.model_calls(session_id) == 2
        assert "session_paused" in _types(live, session_id)
        time.sleep(1)  # paused means paused: no worker picks it up meanwhile
        assert live.model_calls(session_id) == 2

        resumed = live.ok("POST", f"/sessions/{session_id}/resume")
        assert resumed["state"] in JUST_QUEUED
        status = live.wait_for(session_id, lambda s: s["outcome"] is not None)
        assert status["state"] == "completed" and status["iteration"] == len(turns)
        assert live.model_calls(session_id) == len(turns)  # no turn asked twice
        assert live.api("POST", f"/sessions/{session_id}/resume").status_code == 409


def test_wake_over_http_wakes_a_sleeper(sqlite_backend: Backend) -> None:
    with serve(sqlite_backend, SLEEPY_TURNS, **SLEEPY_BUDGET) as live:
        session_id = live.start_build()
        asleep = live.wait_for(session_id, lambda s: s["state"] == "sleeping")
        assert asleep["wake_at"] is not None
        calls = live.model_calls(session_id)

        woken = live.ok("POST", f"/sessions/{session_id}/wake")
        assert woken["state"] == "sleeping" and "woken" in woken["detail"]
        deadline = time.monotonic() + 90
        while not (wakes := _wakes(live, session_id)):
            assert time.monotonic() < deadline, "the sleeper never woke"
            time.sleep(0.1)
        assert wakes[0]["on_request"] is True
        # Its allowance is still spent, so it goes back to sleep without another model call.
        # (The view is read before the events the predicate checks: ask for the state itself.)
        live.wait_for(
            session_id,
            lambda s: s["state"] == "sleeping" and _types(live, session_id).count("sleeping") == 2,
        )
        assert live.model_calls(session_id) == calls

        ended = live.ok("POST", f"/sessions/{session_id}/cancel")
        assert ended["state"] == "cancelled"  # no run holds a sleeper: it ends at once
        assert live.api("POST", f"/sessions/{session_id}/wake").status_code == 409


def _wakes(live: Live, session_id: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in live.events(session_id) if e["type"] == "waking"]


def test_serve_on_a_taken_port_is_bad_input_and_starts_nothing(sqlite_backend: Backend) -> None:
    """Exit 2 naming the address, before a worker or the database is touched (uvicorn alone
    started the worker, then exited 3 with a bare errno line)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = sqlite_backend.cli("serve", "--port", str(port))
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"error: cannot listen on 127.0.0.1:{port}: the port is in use (choose another --port)\n"
    )
    assert not (sqlite_backend.home / "cofounder.sqlite").exists()  # nothing was opened
