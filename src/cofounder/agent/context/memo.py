"""Per-message memos: a figure or a rewrite computed once per message object.

Every request measures and trims the whole conversation again, and the transcript hands back
the same (frozen) message objects each time, so without these an iteration's cost grew with
the session's length. Keyed by identity (messages hold lists: they are not hashable) and
forgotten when the message is.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from cofounder.llm.messages import Message

T = TypeVar("T")


class PerMessage(Generic[T]):
    """`compute` must not return the message itself (nor anything holding it): the memo would
    then keep it alive."""

    def __init__(self, compute: Callable[[Message], T]) -> None:
        self._compute = compute
        self._known: dict[int, tuple[weakref.ref[Message], T]] = {}

    def __call__(self, message: Message) -> T:
        key = id(message)
        hit = self._known.get(key)
        if hit is not None and hit[0]() is message:
            return hit[1]
        value = self._compute(message)
        self._known[key] = (weakref.ref(message, self._forget(key)), value)
        return value

    def _forget(self, key: int) -> Callable[[weakref.ref[Message]], None]:
        def forget(_: weakref.ref[Message]) -> None:
            self._known.pop(key, None)

        return forget
