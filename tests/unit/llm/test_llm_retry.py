"""The shared retry loop: backoff with full jitter, retry-after, attempts and deadline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from cofounder.llm import ModelError, ModelUnavailableError, RetryNotice, RetryPolicy
from cofounder.llm.retry import Retry, call_with_retries, parse_retry_after


class Flaky:
    """Fails with the given exceptions, then returns 'ok'."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


class Transient(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("transient")
        self.retry_after = retry_after


def classify(exc: Exception) -> Retry | ModelError | None:
    if isinstance(exc, Transient):
        return Retry("flaked", exc.retry_after)
    if isinstance(exc, ValueError):
        return ModelError(f"permanent: {exc}")
    return None


def policy(sleeps: list[float], **kwargs: object) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps.append, rng=lambda low, high: high, **kwargs)  # type: ignore[arg-type]


def test_full_jitter_draws_below_an_exponential_ceiling() -> None:
    draws: list[tuple[float, float]] = []

    def rng(low: float, high: float) -> float:
        draws.append((low, high))
        return high / 2

    p = RetryPolicy(base_delay_s=1.0, max_delay_s=30.0, rng=rng)
    delays = [p.backoff(n, None) for n in range(1, 7)]
    assert draws == [(0.0, c) for c in (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0]
    assert p.backoff(1, 12.5) == 12.5  # retry-after wins
    assert p.backoff(1, 999.0) == 30.0  # ... capped at max_delay_s


def test_succeeds_after_transient_failures() -> None:
    sleeps: list[float] = []
    notices: list[RetryNotice] = []
    op = Flaky(Transient(), Transient(retry_after=5))
    p = RetryPolicy(sleep=sleeps.append, rng=lambda low, high: high, on_retry=notices.append)
    assert call_with_retries(op, policy=p, classify=classify, what="m") == "ok"
    assert op.calls == 3
    assert sleeps == [1.0, 5.0]
    assert notices == [RetryNotice(1, 5, "flaked", 1.0), RetryNotice(2, 5, "flaked", 5.0)]


def test_attempts_are_bounded() -> None:
    sleeps: list[float] = []
    op = Flaky(*[Transient() for _ in range(10)])
    with pytest.raises(ModelUnavailableError, match="m is unavailable: gave up after 3 attempts"):
        call_with_retries(op, policy=policy(sleeps, max_attempts=3), classify=classify, what="m")
    assert op.calls == 3
    assert sleeps == [1.0, 2.0]


def test_the_deadline_stops_retries_early() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    op = Flaky(Transient(retry_after=20), Transient(retry_after=20), Transient())
    p = RetryPolicy(deadline_s=30, sleep=sleep, clock=lambda: now[0], max_delay_s=60)
    with pytest.raises(ModelUnavailableError, match=r"after 2 attempts.*30 s deadline"):
        call_with_retries(op, policy=p, classify=classify, what="m")
    assert sleeps == [20]


def test_permanent_errors_are_raised_at_once() -> None:
    op = Flaky(ValueError("bad request"))
    with pytest.raises(ModelError, match="permanent: bad request") as caught:
        call_with_retries(op, policy=policy([]), classify=classify, what="m")
    assert not isinstance(caught.value, ModelUnavailableError)
    assert isinstance(caught.value.__cause__, ValueError)
    assert op.calls == 1


def test_unclassified_errors_propagate_unchanged() -> None:
    op = Flaky(KeyError("bug"))
    with pytest.raises(KeyError):
        call_with_retries(op, policy=policy([]), classify=classify, what="m")
    assert op.calls == 1


def test_model_errors_from_the_operation_are_not_retried() -> None:
    op = Flaky(ModelError("malformed tool input"))
    with pytest.raises(ModelError, match="malformed"):
        call_with_retries(op, policy=policy([]), classify=classify, what="m")
    assert op.calls == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 01 Jan 2025 00:00:30 GMT"}, 30.0),
        ({"retry-after": "Wed, 01 Jan 2025 00:00:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-3"}, 0.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    now: Callable[[], datetime] = lambda: datetime(2025, 1, 1, tzinfo=UTC)  # noqa: E731
    assert parse_retry_after(headers, now) == expected


def test_policy_validates() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
