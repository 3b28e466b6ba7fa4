"""Where a session stands among the workers, as `status` and `sessions` show it: who runs it,
its place in the queue, and what to do when no worker serves the queue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cofounder.cli.render import display_state
from cofounder.cli.session_views import Placement
from cofounder.storage import SessionRecord

_COUNTS = ("iteration", "tool_calls", "input_tokens", "output_tokens", "spend_microdollars")
_LIMITS = {"max_tool_calls": 150, "max_wall_seconds": 3600, "run_number": 1}
_TEXTS = ("name", "owner", "tier", "model_spec", "project_json", "workspace")
_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BASE = SessionRecord.model_validate(
    dict.fromkeys(_COUNTS, 0)
    | dict.fromkeys(_TEXTS, "x")
    | dict.fromkeys(("outcome", "outcome_reason", "phase", "finished_at"))
    | _LIMITS
    | {"id": "abc123", "state": "queued", "cancel_requested": False}
    | {"created_at": _NOW, "updated_at": _NOW}
)


def record(state: str, *, worker: str | None = None, outcome: str | None = None) -> SessionRecord:
    return BASE.model_copy(update={"state": state, "worker": worker, "outcome": outcome})


def test_a_queued_session_shows_queued_not_running_or_interrupted() -> None:
    # A live worker serves the queue (active) or none does: either way it waits in line.
    assert display_state(record("queued"), active=True) == "queued"
    assert display_state(record("queued"), active=False) == "queued"
    assert display_state(record("running"), active=True) == "running"
    assert display_state(record("running"), active=False) == "interrupted"
    for state in ("sleeping", "waiting", "paused"):
        assert display_state(record(state), active=False) == state


def test_the_worker_is_named_only_while_it_is_alive() -> None:
    live = {"w1", "w2"}
    held = Placement.of(record("running", worker="w2"), live, {})
    assert held == Placement(worker="w2", queue_position=None, workers_alive=True)
    # A dead worker's name stays on the row until a live worker takes the session over.
    orphan = Placement.of(record("running", worker="gone"), live, {})
    assert orphan.worker is None
    assert Placement.of(record("running", worker="w1"), set(), {}).workers_alive is False


def test_running_says_which_worker_holds_it() -> None:
    placement = Placement(worker="box-a-17", queue_position=None, workers_alive=True)
    assert placement.describe("running", "abc123") == "running on worker box-a-17"
    unclaimed = Placement(worker=None, queue_position=None, workers_alive=True)
    assert unclaimed.describe("running", "abc123") == (
        "running (admitted; waiting for a worker to pick it up)"
    )


def test_queued_says_its_place_in_line() -> None:
    positions = {"other": 1, "abc123": 2}
    placement = Placement.of(record("queued"), {"w1"}, positions)
    assert placement.queue_position == 2
    assert placement.describe("queued", "abc123") == "queued (position 2)"


def test_queued_with_no_worker_says_how_to_get_it_running() -> None:
    placement = Placement.of(record("queued"), set(), {"abc123": 1})
    text = placement.describe("queued", "abc123")
    assert text.startswith("queued (position 1); no worker is running")
    assert "`cofounder worker`" in text and "`cofounder resume abc123`" in text


@pytest.mark.parametrize("state", ["sleeping", "waiting", "paused", "interrupted", "completed"])
def test_other_states_read_as_they_are(state: str) -> None:
    placement = Placement(worker=None, queue_position=None, workers_alive=False)
    assert placement.describe(state, "abc123") == state
