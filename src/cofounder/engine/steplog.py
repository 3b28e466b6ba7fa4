"""One log line per engine step that runs: which step, for which session and iteration, and
how long it took, so a slow build can be read from its logs (`COFOUNDER_LOG_LEVEL=INFO`).

A step recorded before a crash is not run again on replay, so it logs nothing the second time.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

import structlog

P = ParamSpec("P")
R = TypeVar("R")

log = structlog.get_logger("cofounder.engine.steps")

# The iteration the running workflow is at, for steps that are not given one. Set by the
# workflow body (so also on replay) and by the think step, which decides its iteration itself.
_iteration: ContextVar[int | None] = ContextVar("cofounder_step_iteration", default=None)


def set_iteration(iteration: int | None) -> None:
    _iteration.set(iteration)


def logged_step(step: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Log `step`'s duration after each run; the first argument is the session id, and an
    `iteration` argument (when the step has one) names the iteration."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(func)
        takes_iteration = "iteration" in signature.parameters

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            outcome = "raised"
            try:
                result = func(*args, **kwargs)
                outcome = "ok"
                return result
            finally:
                bound = signature.bind_partial(*args, **kwargs).arguments
                log.info(
                    "engine_step",
                    step=step,
                    session_id=bound.get("session_id"),
                    iteration=bound.get("iteration") if takes_iteration else _iteration.get(),
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    outcome=outcome,
                )

        return wrapper

    return decorate
