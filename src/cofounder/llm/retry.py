"""One retry policy for every real provider: bounded attempts, a total deadline, exponential
backoff with full jitter, and `retry-after` honoured.

The SDKs' own retries are switched off (`max_retries=0`) because they do not cover failures
that happen after the response headers arrived (a stalled stream, an `error` event mid-stream);
this loop retries the whole streamed request instead, whatever broke it.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from cofounder.llm.protocol import ModelError, ModelUnavailableError

T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    """A transient failure: try again, after `retry_after` seconds if the server said so."""

    reason: str
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryNotice:
    """Told to `on_retry` before each wait, so a caller can show or record the hiccup."""

    attempt: int
    max_attempts: int
    reason: str
    delay_s: float


Classifier = Callable[[Exception], "Retry | ModelError | None"]
"""Maps a failure to Retry (transient), a ModelError to raise (permanent), or None (not ours:
re-raise unchanged)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Injectable `sleep`, `clock` and `rng` keep tests instant and exact.

    Delay before attempt n+1 (n = 1, 2, ...): `retry_after` when the server sent one (capped at
    `max_delay_s`), otherwise uniform(0, min(max_delay_s, base_delay_s * 2**(n-1))) ("full
    jitter"). No attempt starts once `deadline_s` (measured from the first attempt) would be
    passed by the wait.
    """

    max_attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    deadline_s: float = 300.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    rng: Callable[[float, float], float] = field(default=random.uniform, compare=False)
    on_retry: Callable[[RetryNotice], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.deadline_s < 0:
            raise ValueError("delays and deadline must not be negative")

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return self.rng(0.0, ceiling)


def call_with_retries(
    operation: Callable[[], T], *, policy: RetryPolicy, classify: Classifier, what: str
) -> T:
    """Run `operation` until it succeeds, a permanent error occurs, or the policy gives up.

    Gives up with ModelUnavailableError naming `what`, the attempts made and the last failure.
    """
    started = policy.clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return operation()
        except ModelError:
            raise
        except Exception as exc:
            verdict = classify(exc)
            if verdict is None:
                raise
            if isinstance(verdict, ModelError):
                raise verdict from exc
            if attempt >= policy.max_attempts:
                raise _exhausted(what, attempt, verdict.reason, "no attempts left") from exc
            delay = policy.backoff(attempt, verdict.retry_after)
            elapsed = policy.clock() - started
            if elapsed + delay > policy.deadline_s:
                raise _exhausted(
                    what, attempt, verdict.reason, f"the {policy.deadline_s:g} s deadline is near"
                ) from exc
            if policy.on_retry is not None:
                policy.on_retry(RetryNotice(attempt, policy.max_attempts, verdict.reason, delay))
            policy.sleep(delay)


def _exhausted(what: str, attempts: int, reason: str, why: str) -> ModelUnavailableError:
    plural = "attempt" if attempts == 1 else "attempts"
    return ModelUnavailableError(
        f"{what} is unavailable: gave up after {attempts} {plural} ({why}); last failure: {reason}"
    )


def parse_retry_after(
    headers: Mapping[str, str], now: Callable[[], datetime] | None = None
) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or an HTTP date); None if absent
    or unreadable."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(float(raw_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now() if now is not None else datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)
