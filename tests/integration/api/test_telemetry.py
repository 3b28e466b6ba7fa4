"""GenAI spans over real OTLP: `cofounder build` with OTEL_EXPORTER_OTLP_ENDPOINT set sends
`chat` and `execute_tool` spans to a collector on loopback; a build SIGKILLed after its third
commit and resumed sends spans only for the calls the resumed run really made, so no model
call is ever traced twice (the replayed workflow re-runs no recorded step). Without the
variable, nothing is exported and nothing is installed."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy import func, select

from cf_support import EXAMPLE, Backend, app_db_url, session_id_from
from cofounder.storage import Database
from cofounder.storage.tables import LedgerRow

NO_SCREENSHOTS = {"COFOUNDER_CHROMIUM": "/nonexistent/chromium"}


@dataclass(frozen=True)
class Span:
    run: str  # the process that sent it (its OTEL_RESOURCE_ATTRIBUTES)
    name: str
    attributes: dict[str, Any]


class Collector:
    """An OTLP/HTTP traces endpoint on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.receive(self.path, body)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._lock = threading.Lock()

    def receive(self, path: str, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self._lock:
            self.paths.append(path)
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        run = str(resource.get("cofounder.test.run", ""))
                        self.spans.append(Span(run, span.name, _attributes(span.attributes)))

    def env(self, run: str) -> dict[str, str]:
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.url,
            "OTEL_RESOURCE_ATTRIBUTES": f"cofounder.test.run={run}",
            **NO_SCREENSHOTS,
        }


def _attributes(pairs: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        value = getattr(pair.value, kind) if kind else None
        if kind == "array_value":
            value = [getattr(v, str(v.WhichOneof("value"))) for v in pair.value.array_value.values]
        found[pair.key] = value
    return found


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def _turns_recorded(backend: Backend, session_id: str) -> int:
    db = Database(app_db_url(backend))
    try:
        with db.transaction() as session:
            query = select(func.count()).where(LedgerRow.session_id == session_id)
            return int(session.execute(query).scalar_one())
    finally:
        db.close()


def _chats(spans: list[Span], session_id: str, run: str) -> list[int]:
    """The iterations of one run's `chat` spans for the session, in the order sent."""
    return [
        int(s.attributes["cofounder.iteration"])
        for s in spans
        if s.run == run
        and s.name.startswith("chat ")
        and s.attributes.get("gen_ai.conversation.id") == session_id
    ]


def test_a_build_exports_its_spans_over_otlp(sqlite_backend: Backend, collector: Collector) -> None:
    done = sqlite_backend.cli("build", str(EXAMPLE), **collector.env("whole"))
    assert done.returncode == 0, done.stdout + done.stderr
    session_id = session_id_from(done.stdout)
    turns = _turns_recorded(sqlite_backend, session_id)
    assert set(collector.paths) == {"/v1/traces"}
    assert _chats(collector.spans, session_id, "whole") == list(range(1, turns + 1))
    chat = next(s for s in collector.spans if s.name == "chat scripted")
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.provider.name"] == "scripted"
    assert chat.attributes["gen_ai.request.model"] == "scripted"
    assert chat.attributes["gen_ai.usage.input_tokens"] > 0
    assert chat.attributes["gen_ai.response.finish_reasons"] in (["tool_use"], ["end_turn"])
    tools = [s for s in collector.spans if s.name.startswith("execute_tool ")]
    assert {s.name for s in tools} >= {"execute_tool write_file", "execute_tool bash"}
    assert all(s.attributes["gen_ai.tool.name"] == s.name.split(" ", 1)[1] for s in tools)


def test_a_resumed_build_traces_no_model_call_twice(
    sqlite_backend: Backend, collector: Collector
) -> None:
    crashed = sqlite_backend.cli(
        "build", str(EXAMPLE), COFOUNDER_CRASH_AT="commit.after#3", **collector.env("crashed")
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    session_id = session_id_from(crashed.stdout)
    resumed = sqlite_backend.cli("resume", session_id, **collector.env("resumed"))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    turns = _turns_recorded(sqlite_backend, session_id)
    # Iterations 1-3 were recorded before the kill: the resumed run replays them without a
    # call, and traces exactly the calls it made.
    assert _chats(collector.spans, session_id, "resumed") == list(range(4, turns + 1))
    # What the killed run managed to send (its batch may die with it) is for 1-3 only.
    assert set(_chats(collector.spans, session_id, "crashed")) <= {1, 2, 3}


def test_no_endpoint_no_export(sqlite_backend: Backend, collector: Collector) -> None:
    env = {**collector.env("quiet"), "OTEL_EXPORTER_OTLP_ENDPOINT": ""}
    done = sqlite_backend.cli("build", str(EXAMPLE), **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert collector.spans == [] and collector.paths == []
