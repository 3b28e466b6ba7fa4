"""Where log lines go: the stderr of the moment, so the CLI's live view can take them."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator

import pytest
import structlog

from cofounder.logs import configure_logging


@pytest.fixture
def json_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COFOUNDER_LOG_LEVEL", "INFO")
    monkeypatch.setenv("COFOUNDER_LOG_JSON", "1")
    configure_logging()
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("json_logging")
def test_lines_go_to_the_stderr_in_place_when_written(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich's live display replaces sys.stderr after logging is configured.
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", swapped)
    structlog.get_logger("t").info("engine_step", step="think", token="sk-ant-abcdefghijklmnop")
    line = json.loads(swapped.getvalue())
    assert line["event"] == "engine_step" and line["step"] == "think"
    assert "abcdefghijklmnop" not in swapped.getvalue()  # still redacted on the way


@pytest.mark.usefixtures("json_logging")
def test_below_the_level_nothing_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", swapped)
    structlog.get_logger("t").debug("engine_step", step="think")
    assert swapped.getvalue() == ""
