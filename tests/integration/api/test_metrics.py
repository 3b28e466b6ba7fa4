"""/metrics and the GenAI spans against what the database says.

A build started over HTTP runs to `completed` on the app's embedded worker (the example's
scripted model, priced so that it costs something); afterwards /metrics shows exactly the
ledger's calls, tokens and spend and the events table's tool calls, and every model call and
tool call left one span with the GenAI attributes. Seeded rows on both backends prove the
figures are read from the database at each scrape (incrementally, never twice)."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from api_support import API, EXAMPLE_SPEC, Api, api_settings, bearer, make_owned
from fastapi.testclient import TestClient
from metrics_support import ledger, scrape, span_exporter, tool_calls, total
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from cofounder.api.app import create_app
from cofounder.engine.budget import current_window
from cofounder.engine.telemetry import MODEL_CALL_SECONDS
from cofounder.events import IterationCommitted, Thinking, ToolCalled, ToolSteered
from cofounder.llm import Usage
from cofounder.storage.ledger import CallKey, record_spend_in

PRICED = {"scripted:*": {"input": 3, "output": 15, "cache_write": 3.75, "cache_read": 0.3}}


@dataclass(frozen=True)
class Built:
    api: Api
    session_id: str
    spans: list[ReadableSpan]
    model_calls_timed: float  # model-call durations this process observed during the build


def _timed() -> float:
    return sum(
        s.value
        for metric in MODEL_CALL_SECONDS.collect()
        for s in metric.samples
        if s.name.endswith("_count")
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    exporter = span_exporter()
    settings = api_settings(tmp_path_factory.mktemp("metrics") / "data", prices=PRICED)
    app = create_app(settings, worker=True)
    before = _timed()
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(app=app, client=client, engine=app.state.engine)
        alice = bearer(api.token("alice"))
        project = client.post(f"{API}/projects", json=EXAMPLE_SPEC, headers=alice).json()
        started = client.post(f"{API}/projects/{project['project_id']}/builds", headers=alice)
        assert started.status_code == 202, started.text
        session_id = started.json()["session_id"]
        deadline = time.monotonic() + 240
        while (state := client.get(f"{API}/sessions/{session_id}", headers=alice).json())[
            "outcome"
        ] is None:
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["state"] == "completed", state
        spans = [
            s
            for s in exporter.get_finished_spans()
            if s.attributes and s.attributes.get("gen_ai.conversation.id") == session_id
        ]
        yield Built(api, session_id, spans, _timed() - before)
    exporter.shutdown()


def test_metrics_equal_the_ledger_after_a_build(built: Built) -> None:
    engine = built.api.engine
    recorded = ledger(engine)
    assert recorded["calls"] >= 10 and recorded["cost"] > 0
    record = engine.session(built.session_id)
    assert record is not None and record.spend_microdollars == recorded["cost"]
    for samples in (scrape(built.api.client), scrape(built.api.client)):  # twice: no drift
        calls = total(samples, "cofounder_model_calls_total", tier="bootstrapper")
        assert calls == recorded["calls"]
        assert total(samples, "cofounder_model_calls_total", purpose="turn") == recorded["calls"]
        for kind in ("input", "output", "cache_read", "cache_write"):
            tokens = total(samples, "cofounder_model_tokens_total", kind=kind, model="scripted")
            assert tokens == recorded[kind], kind
        spend = total(samples, "cofounder_model_spend_microdollars_total")
        assert spend == recorded["cost"]


def test_tool_calls_iterations_and_sessions_after_a_build(built: Built) -> None:
    engine = built.api.engine
    samples = scrape(built.api.client)
    expected = tool_calls(engine, built.session_id)
    assert expected[("take_screenshot", "ok")] + expected[("take_screenshot", "error")] == 1
    scraped = {
        (dict(labels)["tool"], dict(labels)["outcome"]): value
        for labels, value in samples["cofounder_tool_calls_total"].items()
    }
    assert scraped == expected
    events = engine.events_after(built.session_id, 0, limit=10_000)
    thought = {e.body.iteration for e in events if isinstance(e.body, Thinking)}
    committed = [e.body.iteration for e in events if isinstance(e.body, IterationCommitted)]
    timed = sum(1 for iteration in committed if iteration in thought)
    assert timed == len(thought) > 0
    assert total(samples, "cofounder_iteration_duration_seconds_count") == timed
    assert total(samples, "cofounder_iteration_duration_seconds_bucket", le="+Inf") == timed
    assert total(samples, "cofounder_sessions", state="finished") == 1
    assert total(samples, "cofounder_sessions") == 1
    assert total(samples, "cofounder_queue_depth") == total(samples, "cofounder_sleepers") == 0
    assert total(samples, "cofounder_escalations_open") == 0
    assert total(samples, "cofounder_workers", state="alive") == 1
    (age,) = samples["cofounder_worker_heartbeat_age_seconds"].values()
    assert 0 <= age < 30
    # The model-call histogram is this process's: its embedded worker timed every call.
    assert built.model_calls_timed == ledger(engine)["calls"]
    assert total(samples, "cofounder_model_call_duration_seconds_count") >= (
        built.model_calls_timed
    )


def test_labels_name_no_owner_session_or_path(built: Built) -> None:
    samples = scrape(built.api.client)
    values = {v for series in samples.values() for labels in series for _, v in labels}
    assert not [v for v in values if "/" in v or "alice" in v or built.session_id in v]


def _number(span: ReadableSpan, name: str) -> int:
    value = (span.attributes or {}).get(name)
    assert isinstance(value, int), (span.name, name, value)
    return value


def test_one_span_per_model_call_and_tool_call(built: Built) -> None:
    recorded = ledger(built.api.engine)
    chats = [s for s in built.spans if s.name == "chat scripted"]
    assert len(chats) == recorded["calls"]
    iterations = sorted(_number(s, "cofounder.iteration") for s in chats)
    assert iterations == list(range(1, recorded["calls"] + 1))  # each once
    first = chats[0].attributes
    assert first is not None
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.provider.name"] == "scripted"
    assert _number(chats[0], "gen_ai.request.max_tokens") > 0
    assert chats[0].kind == SpanKind.CLIENT

    def used(name: str) -> int:
        return sum(_number(s, name) for s in chats)

    prompt = recorded["input"] + recorded["cache_read"] + recorded["cache_write"]
    assert used("gen_ai.usage.input_tokens") == prompt
    assert used("gen_ai.usage.output_tokens") == recorded["output"]
    assert used("gen_ai.usage.cache_read.input_tokens") == recorded["cache_read"]
    assert used("gen_ai.usage.cache_creation.input_tokens") == recorded["cache_write"]

    tools = Counter(s.name for s in built.spans if s.name.startswith("execute_tool "))
    by_event = Counter(
        f"execute_tool {name}"
        for name, _ in tool_calls(built.api.engine, built.session_id).elements()
    )
    assert tools == by_event
    failed = [s for s in built.spans if s.name.startswith("execute_tool ") and not s.status.is_ok]
    assert len(failed) == sum(
        n
        for (_, outcome), n in tool_calls(built.api.engine, built.session_id).items()
        if outcome == "error"
    )


def test_metrics_read_the_rows_each_scrape(api_on: Api) -> None:
    """Rows written by any process show at the next scrape, each counted once: ledger rows
    of two models (a file-backed one labelled by its provider), tool calls and steered ones,
    an iteration from its first model call to its commit, an open question."""
    engine = api_on.engine
    owned = make_owned(engine, "alice")  # queued, with an open question
    sid = owned.session_id
    before = scrape(api_on.client)
    assert total(before, "cofounder_model_calls_total") == 0
    assert total(before, "cofounder_queue_depth") == 1
    assert total(before, "cofounder_escalations_open") == 1

    def spend(iteration: int, spec: str, usage: Usage, cost: int) -> None:
        with engine.rt.db.transaction() as session:
            key = CallKey(session_id=sid, iteration=iteration, purpose="turn")
            window = current_window(engine.settings)
            record_spend_in(
                session, key, owner="alice", model_spec=spec, usage=usage, cost=cost, window=window
            )

    spend(1, "scripted:/srv/a.yaml", Usage(input_tokens=100, output_tokens=10), 500)
    spend(2, "anthropic:claude-haiku-4-5", Usage(input_tokens=7, cache_read_tokens=30), 40)
    engine.rt.events.append_all(
        sid,
        [
            Thinking(iteration=1, context_tokens=100),
            ToolCalled(iteration=1, name="bash", ok=True),
            ToolCalled(iteration=1, name="bash", ok=False, exit_code=2),
            ToolSteered(iteration=1, tool_use_id="t", name="made_up", action="steered", message=""),
            IterationCommitted(
                iteration=1, tool_calls=2, input_tokens=100, output_tokens=10, cost_microdollars=500
            ),
        ],
    )
    first = scrape(api_on.client)
    assert total(first, "cofounder_model_calls_total", model="scripted") == 1
    assert total(first, "cofounder_model_calls_total", model="anthropic:claude-haiku-4-5") == 1
    assert total(first, "cofounder_model_tokens_total", kind="input") == 107
    assert total(first, "cofounder_model_tokens_total", kind="cache_read") == 30
    assert total(first, "cofounder_model_spend_microdollars_total") == 540
    assert total(first, "cofounder_tool_calls_total", tool="bash", outcome="ok") == 1
    assert total(first, "cofounder_tool_calls_total", tool="bash", outcome="error") == 1
    assert total(first, "cofounder_tool_calls_total", tool="other", outcome="steered") == 1
    assert total(first, "cofounder_iteration_duration_seconds_count") == 1

    engine.rt.events.append_all(sid, [ToolCalled(iteration=2, name="bash", ok=True)])
    again = scrape(api_on.client)
    assert total(again, "cofounder_tool_calls_total", tool="bash", outcome="ok") == 2
    assert total(again, "cofounder_tool_calls_total") == 4
    assert total(again, "cofounder_iteration_duration_seconds_count") == 1
    assert total(again, "cofounder_model_calls_total") == 2


def test_metrics_needs_no_token_and_says_when_the_database_is_gone(tmp_path: Path) -> None:
    app = create_app(api_settings(tmp_path / "data"))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/metrics").status_code == 200
        app.state.engine.rt.db.engine.dispose()
        (tmp_path / "data" / "cofounder.sqlite").unlink()  # a new, empty one has no tables
        gone = client.get("/metrics")
    assert gone.status_code == 503
    assert gone.headers["content-type"] == "application/problem+json"


def test_the_workspaces_disk_is_reported_once_a_session_has_a_folder(api_on: Api) -> None:
    """Free and total space and inodes where builds write, so an operator alerts before a
    build meets `No space left on device`; nothing before the first session makes the folder."""
    engine = api_on.engine
    root = engine.workspaces_root()
    if not root.exists():
        assert "cofounder_workspaces_free_bytes" not in scrape(api_on.client)
    engine.rt.files(make_owned(engine, "alice").session_id)
    shown = scrape(api_on.client)
    disk = shutil.disk_usage(root)
    assert total(shown, "cofounder_workspaces_size_bytes") == disk.total
    assert 0 < total(shown, "cofounder_workspaces_free_bytes") <= disk.total
    inodes = os.statvfs(root).f_files
    assert inodes > 0  # the test's disk counts them (btrfs would not)
    assert total(shown, "cofounder_workspaces_inodes") == inodes
    assert 0 < total(shown, "cofounder_workspaces_free_inodes") <= inodes
