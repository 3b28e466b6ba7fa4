"""Test support for /metrics and the GenAI spans: the scrape parsed into plain numbers, what
the ledger and the events table say directly, and an in-memory span exporter."""

from __future__ import annotations

from collections import Counter
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from cofounder.engine import Engine
from cofounder.events import ToolCalled
from cofounder.storage.tables import LedgerRow

Labels = tuple[tuple[str, str], ...]


def scrape(client: Any) -> dict[str, dict[Labels, float]]:
    """Every sample of an unauthenticated GET /metrics: name -> {sorted labels: value}."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def total(samples: dict[str, dict[Labels, float]], name: str, **where: str) -> float:
    """The sum of `name`'s samples whose labels include `where`."""
    return sum(
        value
        for labels, value in samples.get(name, {}).items()
        if all((k, v) in labels for k, v in where.items())
    )


def ledger(engine: Engine, session_id: str | None = None) -> dict[str, int]:
    """What the ledger says, read straight from its rows."""
    query = select(LedgerRow)
    if session_id is not None:
        query = query.where(LedgerRow.session_id == session_id)
    with engine.rt.db.transaction() as session:
        rows = session.scalars(query).all()
        return {
            "calls": len(rows),
            "input": sum(r.input_tokens for r in rows),
            "output": sum(r.output_tokens for r in rows),
            "cache_read": sum(r.cache_read_tokens for r in rows),
            "cache_write": sum(r.cache_write_tokens for r in rows),
            "cost": sum(r.cost_microdollars for r in rows),
        }


def tool_calls(engine: Engine, session_id: str) -> Counter[tuple[str, str]]:
    found: Counter[tuple[str, str]] = Counter()
    for event in engine.events_of_types(session_id, ["tool_called"]):
        assert isinstance(event.body, ToolCalled)
        found[(event.body.name, "ok" if event.body.ok else "error")] += 1
    return found


def span_exporter() -> InMemorySpanExporter:
    """Finished spans of this process, from now on. The process's tracer provider is set
    once: a test that comes later adds its exporter to the one there is."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter
