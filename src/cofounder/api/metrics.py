"""`GET /metrics` in the Prometheus text format, open to any caller like /healthz.

Every figure but one is read from the database at scrape time, so every API process shows
the same numbers whichever worker did the work, and a replayed workflow (which records no row
twice) cannot inflate them: sessions by state, the queue, sleepers, open escalations, workers
and their heartbeats; model calls, tokens by kind and spend from the ledger; tool calls by tool
and outcome and iteration durations from the events table (read incrementally: each scrape
reads only the rows appended since the last). The model-call duration histogram is this
process's own (observed inside the think step, `engine.telemetry`), so with `--no-worker` it
stays empty here.

Labels are bounded: tier, model (a file-backed one as its provider only), purpose, token
kind, tool (`other` for names the toolbox does not know), state, and worker names (the serving
ones). No owner, session or path is a label.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from cofounder.api import problems
from cofounder.engine import Engine
from cofounder.engine.telemetry import MODEL_CALL_SECONDS, model_label
from cofounder.events import IterationCommitted, Thinking, ToolCalled, ToolSteered
from cofounder.storage.events import Event
from cofounder.storage.sessions import SessionState
from cofounder.storage.stats import Stats
from cofounder.tools import TOOL_NAMES

router = APIRouter(tags=["health"])

STATES: tuple[SessionState, ...] = (
    "queued",
    "running",
    "sleeping",
    "waiting",
    "paused",
    "finished",
)
ITERATION_BUCKETS = (1.0, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
_EVENT_TYPES = ("tool_called", "tool_steered", "thinking", "iteration_committed")
_TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")


class _Buckets:
    """A histogram's counts, kept here because its observations come from rows."""

    def __init__(self, bounds: Iterable[float]) -> None:
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        cumulative, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return HistogramMetricFamily(name, documentation, buckets=cumulative, sum_value=self.total)


class EventTally:
    """Tool calls and iteration durations from the events table. Each session's events are
    read once, in seq order, up to the seq seen at the scrape's start, so nothing is counted
    twice or skipped however the scrapes and the writers interleave."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: dict[str, int] = {}
        self._thinking: dict[str, tuple[int, datetime]] = {}  # session: (iteration, since)
        self.tools: Counter[tuple[str, str]] = Counter()
        self.iterations = _Buckets(ITERATION_BUCKETS)

    def update(self, stats: Stats) -> None:
        with self._lock:
            heads = stats.event_heads()
            behind = {sid: seq for sid, seq in heads.items() if seq > self._marks.get(sid, 0)}
            if not behind:
                return
            for event in stats.events_since(self._marks, _EVENT_TYPES, upto=behind):
                self._count(event)
            self._marks.update(behind)

    def _count(self, event: Event) -> None:
        body = event.body
        if isinstance(body, ToolCalled | ToolSteered):
            tool = body.name if body.name in TOOL_NAMES else "other"
            if isinstance(body, ToolSteered):  # a guard answered instead of the tool
                outcome = "skipped" if body.action == "skipped" else "steered"
            else:
                outcome = "ok" if body.ok else "error"
            self.tools[(tool, outcome)] += 1
        elif isinstance(body, Thinking):
            started = self._thinking.get(event.session_id)
            if started is None or started[0] != body.iteration:  # the first try's start
                self._thinking[event.session_id] = (body.iteration, event.ts)
        elif isinstance(body, IterationCommitted):
            started = self._thinking.pop(event.session_id, None)
            if started is not None and started[0] == body.iteration:
                self.iterations.observe(max(0.0, (event.ts - started[1]).total_seconds()))


class DatabaseCollector(Collector):
    """The figures the database holds, read at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.events = EventTally()

    def collect(self) -> Iterator[Metric]:
        stats = self.engine.stats
        yield from self._sessions(stats)
        yield from self._ledger(stats)
        yield from self._workers()
        yield from self._workspaces_disk()
        self.events.update(stats)
        tools = CounterMetricFamily(
            "cofounder_tool_calls",
            "Tool calls by tool and outcome: ok, error, or steered/skipped by a guard.",
            labels=["tool", "outcome"],
        )
        for (tool, outcome), count in sorted(self.events.tools.items()):
            tools.add_metric([tool, outcome], count)
        yield tools
        yield self.events.iterations.family(
            "cofounder_iteration_duration_seconds",
            "From an iteration's model call being prepared to its commit.",
        )

    def _sessions(self, stats: Stats) -> Iterator[Metric]:
        counts = stats.sessions_by_state()
        sessions = GaugeMetricFamily("cofounder_sessions", "Sessions by state.", labels=["state"])
        for state in STATES:
            sessions.add_metric([state], counts.get(state, 0))
        yield sessions
        yield GaugeMetricFamily(
            "cofounder_queue_depth", "Sessions waiting for a worker.", counts.get("queued", 0)
        )
        yield GaugeMetricFamily(
            "cofounder_sleepers", "Sessions asleep for their budget.", counts.get("sleeping", 0)
        )
        yield GaugeMetricFamily(
            "cofounder_escalations_open", "Questions awaiting an answer.", stats.open_escalations()
        )

    def _ledger(self, stats: Stats) -> Iterator[Metric]:
        calls: Counter[tuple[str, ...]] = Counter()
        tokens: Counter[tuple[str, ...]] = Counter()
        spend: Counter[tuple[str, ...]] = Counter()
        for row in stats.ledger_totals():
            model = model_label(row.model_spec)
            calls[(row.tier, model, row.purpose)] += row.calls
            used = (
                row.input_tokens,
                row.output_tokens,
                row.cache_read_tokens,
                row.cache_write_tokens,
            )
            for kind, count in zip(_TOKEN_KINDS, used, strict=True):
                tokens[(row.tier, model, kind)] += count
            spend[(row.tier, model)] += row.cost_microdollars
        yield _counter(
            "cofounder_model_calls",
            "Model calls recorded in the ledger (each once, however often a run replayed).",
            ["tier", "model", "purpose"],
            calls,
        )
        yield _counter(
            "cofounder_model_tokens",
            "Tokens of recorded calls, by kind.",
            ["tier", "model", "kind"],
            tokens,
        )
        yield _counter(
            "cofounder_model_spend_microdollars",
            "What recorded calls cost, in microdollars.",
            ["tier", "model"],
            spend,
        )

    def _workers(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        live = {w.name for w in self.engine.live_workers()}
        workers = self.engine.workers()
        states = GaugeMetricFamily("cofounder_workers", "Workers by state.", labels=["state"])
        counted = Counter(
            "alive" if w.name in live else ("dead" if w.state in ("alive", "draining") else w.state)
            for w in workers
        )
        for state in ("alive", "draining", "stopped", "dead"):
            states.add_metric([state], counted.get(state, 0))
        yield states
        ages = GaugeMetricFamily(
            "cofounder_worker_heartbeat_age_seconds",
            "Seconds since each serving worker's last heartbeat.",
            labels=["worker"],
        )
        for worker in workers:
            if worker.state in ("alive", "draining"):
                ages.add_metric([worker.name], worker.heartbeat_age(now))
        yield ages

    def _workspaces_disk(self) -> Iterator[Metric]:
        """Where builds write: the workspace volume, or the disk under the sessions folder. An
        operator alerts on this before a build meets `No space left on device`, which running
        out of inodes (many small files, say node_modules) gives as well as running out of
        bytes. A filesystem that counts no inodes (btrfs says 0) reports none."""
        try:
            disk = os.statvfs(self.engine.workspaces_root())
        except OSError:
            return  # not made yet (no session so far): nothing to report
        gauges = [
            ("free_bytes", "Free space", disk.f_bavail * disk.f_frsize),
            ("size_bytes", "Size", disk.f_blocks * disk.f_frsize),
        ]
        if disk.f_files:
            gauges += [
                ("free_inodes", "Free inodes", disk.f_favail),
                ("inodes", "Inodes", disk.f_files),
            ]
        for suffix, what, value in gauges:
            yield GaugeMetricFamily(
                f"cofounder_workspaces_{suffix}",
                f"{what} of the filesystem that holds the workspaces.",
                value,
            )


def _counter(
    name: str, documentation: str, labels: list[str], values: Counter[tuple[str, ...]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _registry(app: FastAPI, engine: Engine) -> CollectorRegistry:
    """The app's registry, made on the first scrape (the engine opens with the lifespan)."""
    current: tuple[Engine, CollectorRegistry] | None = getattr(app.state, "metrics", None)
    if current is None or current[0] is not engine:
        registry = CollectorRegistry()
        registry.register(DatabaseCollector(engine))
        registry.register(MODEL_CALL_SECONDS)
        current = app.state.metrics = (engine, registry)
    return current[1]


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format; 503 when the database does not answer."""
    engine: Engine = request.app.state.engine
    try:
        body = generate_latest(_registry(request.app, engine))
    except Exception as exc:  # the database is down: say so, as /readyz would
        return problems.problem(503, f"metrics unavailable: {type(exc).__name__}")
    return Response(body, media_type=CONTENT_TYPE_LATEST)
