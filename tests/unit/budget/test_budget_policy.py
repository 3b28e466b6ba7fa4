"""Budget windows and reservation decisions (pure): windows tile time with no gap or overlap,
the reset hour moves them, and a reservation is refused exactly when it would overshoot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cofounder.budget import (
    BudgetStatus,
    decide_reservation,
    wind_down_due,
    window_at,
    worst_case_microdollars,
)
from cofounder.llm.pricing import Price

NOW = datetime(2026, 11, 25, 13, 7, 42, 500_000, tzinfo=UTC)


def test_a_day_window_runs_midnight_to_midnight_by_default() -> None:
    window = window_at(NOW, length_seconds=86_400)
    assert window.start == datetime(2026, 11, 25, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 26, tzinfo=UTC)
    assert window.contains(NOW) and not window.contains(window.end)


def test_the_reset_hour_moves_the_day_window() -> None:
    early = window_at(datetime(2026, 11, 25, 5, tzinfo=UTC), length_seconds=86_400, reset_hour=6)
    assert early.start == datetime(2026, 11, 24, 6, tzinfo=UTC)
    late = window_at(datetime(2026, 11, 25, 6, tzinfo=UTC), length_seconds=86_400, reset_hour=6)
    assert late.start == datetime(2026, 11, 25, 6, tzinfo=UTC)


@pytest.mark.parametrize("length", [1, 5, 7, 3600, 86_400])
def test_windows_tile_time(length: int) -> None:
    window = window_at(NOW, length_seconds=length)
    assert window.contains(NOW)
    assert window.end - window.start == timedelta(seconds=length)
    after = window_at(window.end, length_seconds=length)
    assert after.start == window.end
    assert window_at(window.end - timedelta(microseconds=1), length_seconds=length) == window


def test_naive_times_and_empty_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_at(datetime(2026, 1, 1), length_seconds=60)
    with pytest.raises(ValueError, match="at least one second"):
        window_at(NOW, length_seconds=0)


def test_worst_case_uses_the_dearer_input_price_and_the_whole_output_cap() -> None:
    price = Price.usd("3", "15", "3.75", "0.30")
    # 1,000 tokens at $3.75/MTok (cache write) + 500 at $15/MTok, rounded up.
    assert worst_case_microdollars(price, input_tokens=1_000, max_tokens=500) == 3_750 + 7_500
    assert worst_case_microdollars(Price.usd("0", "0"), input_tokens=10**6, max_tokens=10) == 0


def _status(allowance: int, spent: int, reserved: int = 0) -> BudgetStatus:
    return BudgetStatus(
        owner="alice",
        window_start=NOW,
        window_end=NOW + timedelta(days=1),
        allowance=allowance,
        spent=spent,
        reserved=reserved,
    )


def test_a_reservation_that_fits_is_ok_and_one_that_would_overshoot_is_exhausted() -> None:
    assert decide_reservation(_status(10_000, 4_000, 1_000), 5_000).kind == "ok"
    refused = decide_reservation(_status(10_000, 4_000, 1_001), 5_000)
    assert refused.kind == "exhausted" and "spent" in refused.reason


def test_a_call_dearer_than_the_whole_allowance_is_too_big_even_in_a_fresh_window() -> None:
    decision = decide_reservation(_status(10_000, 0), 10_001)
    assert decision.kind == "too_big" and "more than the whole allowance" in decision.reason


def test_wind_down_at_the_threshold_or_before_the_last_affordable_call() -> None:
    assert not wind_down_due(_status(100_000, 10_000), 1_000, 0.9)
    assert wind_down_due(_status(100_000, 90_000), 1_000, 0.9)
    # 60% spent and 15% held: what is left would not pay for another call like the last one.
    assert wind_down_due(_status(100_000, 60_000, 15_000), 30_000, 0.9)
    assert not wind_down_due(_status(100_000, 60_000, 15_000), 20_000, 0.9)


def test_percent_and_remaining() -> None:
    status = _status(8_000, 2_000, 2_000)
    assert status.percent == 50.0 and status.remaining == 4_000
    assert _status(0, 0).percent == 100.0
    assert _status(1_000, 1_500).remaining == 0
