"""GenAI traces and the model-call timer, recorded inside the engine's steps.

The think step wraps its model call in `model_call` (an OpenTelemetry span `chat {model}` with
the GenAI semantic conventions' attributes, usage included) and the batch wraps each tool in
`tool_call` (`execute_tool {tool}`). Steps, not the workflow body: DBOS replays the body after
a crash but never re-runs a step it recorded, so a replay adds no span and no observation;
a step that did run again (it crashed before being recorded) really called the model again.

Spans are exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces-only variable)
is set; the exporter reads the standard OTEL_* variables itself. Otherwise, unless the process
installed a tracer provider of its own (a test's in-memory one), spans cost nothing: the API's
default tracer records none.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import Histogram

from cofounder.llm import AssistantTurn
from cofounder.tools import TOOL_NAMES

log = structlog.get_logger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Providers whose spec names a file on the serving machine: a label says only the provider.
_FILE_BACKED = frozenset({"scripted"})

# Observed where the think step runs (a worker, or `cofounder serve`'s embedded one); the
# API's /metrics registers it beside the database's figures. Not in the default registry.
MODEL_CALL_SECONDS = Histogram(
    "cofounder_model_call_duration_seconds",
    "How long one model call took, from request to the whole turn (steps run here).",
    ["model"],
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300),
    registry=None,
)

_configured = False
_configure_lock = threading.Lock()


def model_label(spec: str) -> str:
    """A bounded, path-free name for a model spec: the spec itself (a priced model), or only
    the provider for a file-backed one (`scripted:/srv/x.yaml` is `scripted`)."""
    provider, _, _name = spec.partition(":")
    return provider if provider in _FILE_BACKED else spec


def _tracer() -> trace.Tracer:
    global _configured
    if not _configured:
        with _configure_lock:
            if not _configured:
                configure_from_env()
                _configured = True
    return trace.get_tracer("cofounder.engine")


def configure_from_env() -> bool:
    """Install an OTLP span exporter when an endpoint is configured and the process has no
    tracer provider yet; whether this call installed one."""
    if not any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES):
        return False
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return False  # the process chose its own provider: spans go there
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "cofounder"}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info("otel_traces_exported", endpoint_variables=ENDPOINT_VARIABLES)
    return True


@dataclass(frozen=True)
class ModelCall:
    """The open `chat` span: `finished` adds what the model answered."""

    span: Span

    def finished(self, turn: AssistantTurn) -> None:
        usage = turn.usage
        # input_tokens counts every prompt token (the conventions ask for cached ones too);
        # the cache attributes say how many of them were read from or written to the cache.
        prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
        self.span.set_attributes(
            {
                "gen_ai.response.model": turn.model,
                "gen_ai.response.finish_reasons": [turn.stop_reason],
                "gen_ai.usage.input_tokens": prompt,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens,
                "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens,
            }
        )


@contextmanager
def model_call(
    session_id: str, iteration: int, spec: str, *, max_tokens: int | None = None
) -> Iterator[ModelCall]:
    """Time one model call and trace it as `chat {model}` (kind CLIENT); an error that
    escapes marks the span failed with its type."""
    provider, _, name = spec.partition(":")
    model = model_label(spec) if provider in _FILE_BACKED else name
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.conversation.id": session_id,
        "cofounder.iteration": iteration,
    }
    if max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = max_tokens
    started = time.perf_counter()
    with _tracer().start_as_current_span(
        f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        try:
            yield ModelCall(span)
        except BaseException as exc:
            _failed(span, exc)
            raise
        finally:
            MODEL_CALL_SECONDS.labels(model_label(spec)).observe(time.perf_counter() - started)


@dataclass(frozen=True)
class ToolCall:
    """The open `execute_tool` span: `finished` says how the tool ended."""

    span: Span

    def finished(self, *, ok: bool, exit_code: int | None) -> None:
        if exit_code is not None:
            self.span.set_attribute("cofounder.tool.exit_code", exit_code)
        if not ok:
            self.span.set_attribute("error.type", "tool_error")
            self.span.set_status(Status(StatusCode.ERROR))


@contextmanager
def tool_call(session_id: str, iteration: int, name: str, call_id: str) -> Iterator[ToolCall]:
    """Trace one tool call as `execute_tool {tool}` (kind INTERNAL); a name the toolbox does
    not know (the model made it up) is `other` in the span's name."""
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.conversation.id": session_id,
        "cofounder.iteration": iteration,
    }
    with _tracer().start_as_current_span(
        f"execute_tool {name if name in TOOL_NAMES else 'other'}",
        kind=SpanKind.INTERNAL,
        attributes=attributes,
    ) as span:
        try:
            yield ToolCall(span)
        except BaseException as exc:
            _failed(span, exc)
            raise


def _failed(span: Span, exc: BaseException) -> None:
    span.set_attribute("error.type", type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
