"""The founder's conversation over HTTP on a real server (`cofounder serve` with its embedded
worker): a message posted while the build works reaches the model at the next step, once, and
is in the feed as the founder's; a fork posted after the build ended is queued as the project's
next build version, runs from the fork point with the conversation up to it (message included)
and completes, and the original's events are unchanged."""

from __future__ import annotations

from typing import Any

from api_live_support import OWNER, Live, call, held, serve

from cf_support import Backend, texts_in, transcript_of

SAID = "Please make the buttons green"
TURNS: list[dict[str, Any]] = [
    # Held until the message is in: a tool that slept 3 s could be over first on a loaded
    # machine, and the message was then read a step later than the next turn expects.
    {"tool_calls": [held("echo slow")]},
    # Iteration 2 is the message's own; this turn is iteration 3's. The scripted model fails
    # the build (and a fork from iteration 2) unless its request carries the message.
    {"text": "Green it is.", "expect": [SAID], "tool_calls": [
        call("narrate", message="Making the buttons green, as you asked.")]},
    {"tool_calls": [call("write_file", path="app.txt", content="green\n")]},
    {"text": "done"},
]  # fmt: skip


def _said(live: Live, session_id: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in live.events(session_id) if e["type"] == "founder_message"]


def test_a_message_over_http_reaches_the_build_and_a_fork_over_http_completes(
    sqlite_backend: Backend,
) -> None:
    with serve(sqlite_backend, TURNS) as live:
        parent = live.start_build()
        live.read_stream(
            parent,
            until=lambda m: m.event == "tool_started" and m.data["payload"]["iteration"] == 1,
        )
        kept = live.ok("POST", f"/sessions/{parent}/messages", json={"text": SAID})
        assert kept["read_when"] == "before its next step"
        assert kept["delivered_iteration"] is None
        live.open_gate(parent)

        status = live.wait_for(parent, lambda s: s["outcome"] is not None)
        assert status["state"] == "completed", status
        assert live.model_calls(parent) == len(TURNS)  # no turn asked twice
        (read,) = live.ok("GET", f"/sessions/{parent}/messages")
        assert read["delivered_iteration"] == 2 and read["read_when"] == "read"
        (said,) = _said(live, parent)
        assert said["text"] == SAID and said["by"] == OWNER and said["iteration"] == 2
        before = live.events(parent)

        forked = live.ok("POST", f"/sessions/{parent}/fork", json={"iteration": 2})
        assert forked["build_version"] == "build_v0_2"
        assert forked["parent_session_id"] == parent and forked["forked_from_iteration"] == 2
        fork = forked["session_id"]
        done = live.wait_for(fork, lambda s: s["outcome"] is not None)
        assert done["state"] == "completed", done
        assert done["parent_session_id"] == parent and done["forked_from_iteration"] == 2
        assert live.model_calls(fork) == 3  # turns 2 to 4: the first came with the fork
        assert _said(live, fork) == [] and live.ok("GET", f"/sessions/{fork}/messages") == []
        assert (
            texts_in(transcript_of(sqlite_backend, fork), SAID) == 1
        )  # with the conversation, once
        assert texts_in(transcript_of(sqlite_backend, parent), SAID) == 1
        assert live.events(fork)[0]["payload"]["parent_session_id"] == parent
        assert live.events(parent) == before
