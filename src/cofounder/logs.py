"""Structured logs to stderr: readable in a terminal, JSON lines for services and CI."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO, cast

import structlog

from cofounder.redaction import redact_value


def _redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    redacted: dict[str, Any] = redact_value(dict(event_dict))
    return redacted


class _CurrentStderr:
    """Whatever `sys.stderr` is when a line is written, not when logging was configured: the
    CLI's live view (rich) swaps in a proxy that prints lines above its status bar, so log
    lines never tear it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging() -> None:
    """`COFOUNDER_LOG_LEVEL` (default WARNING) and `COFOUNDER_LOG_JSON=1` for JSON lines."""
    level = getattr(logging, os.environ.get("COFOUNDER_LOG_LEVEL", "WARNING").upper(), 30)
    as_json = os.environ.get("COFOUNDER_LOG_JSON") == "1" or not sys.stderr.isatty()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            structlog.processors.JSONRenderer()
            if as_json
            else structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=True,
    )
