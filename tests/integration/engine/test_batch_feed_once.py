"""A batch redone after a crash shows the founder each event once, documentation updates
included (they are written with the document itself, in its own transaction)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cofounder.config import Settings
from cofounder.engine import runtime
from cofounder.engine.runtime import Runtime
from cofounder.engine.steps import _BatchFeed
from cofounder.tools.types import DocumentEffect, NarrationEffect


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    opened = Runtime.open(Settings(home=tmp_path / "data"))
    monkeypatch.setattr(runtime, "_current", opened)  # as a launched engine installs it
    yield opened
    opened.close()


def _run_batch(upto: int) -> None:
    """One attempt of iteration 3's batch, dying after `upto` of its effects."""
    feed = _BatchFeed("s1", 3)
    effects: list[NarrationEffect | DocumentEffect] = [
        NarrationEffect(message="reading the brief"),
        DocumentEffect(section="overview", content="# Streaks"),
        NarrationEffect(message="writing the page"),
    ]
    for effect in effects[:upto]:
        feed.apply(effect, None)
    feed.flush()


def test_a_redone_batch_with_a_document_shows_every_event_once(rt: Runtime) -> None:
    _run_batch(2)  # the worker dies after the document was stored
    _run_batch(3)  # the batch runs again, whole
    shown = [(e.type, e.payload.get("message")) for e in rt.events.read("s1")]
    assert shown == [
        ("narration", "reading the brief"),
        ("documentation_updated", None),
        ("narration", "writing the page"),
    ]
