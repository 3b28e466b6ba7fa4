"""One poller per watched session per process, fanning its new events out to every stream.

Streams read the events table themselves to replay history, and join the session's shared
tail only once they have caught up with it: then one query per poll serves every watcher of
the session, however many there are. The tail keeps a window of recent events with contiguous
seqs, so a stream always continues from exactly the seq it last sent (no gap, no duplicate);
one that falls behind the window reads the table again until it catches up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

import structlog
from fastapi.sse import format_sse_event

from cofounder.storage import Event, SessionRecord

log = structlog.get_logger(__name__)

FINISHED = "session_finished"


class Source(Protocol):
    """Where events come from (the engine)."""

    def events_after(self, session_id: str, after_seq: int, *, limit: int = 1000) -> list[Event]:
        raise NotImplementedError

    def session(self, session_id: str) -> SessionRecord | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Frame:
    """One event as an SSE message (`id` its seq, `event` its type, `data` its JSON line),
    encoded once for every stream that sends it."""

    seq: int
    type: str
    data: bytes

    @classmethod
    def of(cls, event: Event) -> Frame:
        data = format_sse_event(data_str=event.to_json_line(), event=event.type, id=str(event.seq))
        return cls(seq=event.seq, type=event.type, data=data)


@dataclass(frozen=True)
class Tuning:
    poll_seconds: float = 0.05  # how often a watched session's table rows are read
    batch: int = 500  # rows per read
    keep: int = 1000  # recent events a tail holds for streams a little behind
    state_seconds: float = 1.0  # how often an idle tail asks whether its session ended
    retry_seconds: float = 1.0  # after a failed read


class _Tail:
    """A session's most recent events and the task that polls for more."""

    def __init__(self, session_id: str, last: int, keep: int) -> None:
        self.session_id = session_id
        self.last = last  # the highest seq read so far
        self.frames: deque[Frame] = deque(maxlen=keep)
        self.ended = False  # nothing comes after `last`
        self.watchers = 0
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def since(self, seq: int) -> list[Frame] | None:
        """The frames after `seq`, in order; None when some of them have left the window."""
        if seq >= self.last:
            return []
        if not self.frames or seq + 1 < self.frames[0].seq:
            return None
        return list(islice(self.frames, seq + 1 - self.frames[0].seq, None))

    def publish(self, frames: list[Frame], *, ended: bool = False) -> None:
        """Add `frames` (the rows after `last`) and wake every stream waiting on this tail."""
        for frame in frames:
            assert frame.seq == self.last + 1, f"seq {frame.seq} after {self.last}"
            self.frames.append(frame)
            self.last = frame.seq
        self.ended = self.ended or ended or any(f.type == FINISHED for f in frames)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, seq: int) -> None:
        """Until there is something after `seq`, the session has ended, or the poller's next
        idle tick (about every `Tuning.state_seconds`, so a stream can send a heartbeat)."""
        if self.last <= seq and not self.ended:
            await self._changed.wait()


class Fanout:
    """Per process: the shared tails of the sessions that someone is watching."""

    def __init__(self, source: Source, tuning: Tuning | None = None) -> None:
        self.source = source
        self.tuning = tuning or Tuning()
        self._tails: dict[str, _Tail] = {}

    def watched(self) -> dict[str, int]:
        """Streams on each session's shared tail (for tests and metrics)."""
        return {sid: tail.watchers for sid, tail in self._tails.items()}

    async def follow(
        self,
        session_id: str,
        after: int,
        *,
        live: bool,
        idle: float = 15.0,
        lasting: float | None = None,
    ) -> AsyncGenerator[list[Frame]]:
        """Every event after `after`, once each, in seq order, through `session_finished`, in
        batches; an empty batch after `idle` seconds without one (time for a heartbeat).
        Not `live` (the session had ended when asked): the history only, then stop. After
        `lasting` seconds it stops between two batches: the client resumes from the last."""
        seq, tail, done = after, None, False
        sent = time.monotonic()
        until = sent + lasting if lasting is not None else None
        try:
            while not done and (until is None or time.monotonic() < until):
                frames = tail.since(seq) if tail is not None else None
                if frames is None:  # history, or fallen out of the window: the table
                    frames = await self._read(session_id, seq)
                    caught_up = len(frames) < self.tuning.batch
                    done = caught_up and not live
                    if caught_up and live and tail is None:
                        tail = self._join(session_id, frames[-1].seq if frames else seq)
                ends = next((n for n, f in enumerate(frames) if f.type == FINISHED), None)
                if ends is not None:
                    yield frames[: ends + 1]
                    return
                if frames:
                    seq = frames[-1].seq
                    yield frames
                    sent = time.monotonic()
                elif tail is not None:
                    if tail.ended and seq >= tail.last:
                        return
                    await tail.wait(seq)
                    if tail.last <= seq and time.monotonic() - sent >= idle:
                        yield []
                        sent = time.monotonic()
        finally:
            if tail is not None:
                self._leave(tail)

    async def _read(self, session_id: str, seq: int) -> list[Frame]:
        events = await asyncio.to_thread(
            self.source.events_after, session_id, seq, limit=self.tuning.batch
        )
        return [Frame.of(e) for e in events]

    def _join(self, session_id: str, seq: int) -> _Tail:
        tail = self._tails.get(session_id)
        if tail is None:
            tail = self._tails[session_id] = _Tail(session_id, seq, self.tuning.keep)
            tail.task = asyncio.create_task(self._poll(tail), name=f"events-{session_id}")
        tail.watchers += 1
        return tail

    def _leave(self, tail: _Tail) -> None:
        tail.watchers -= 1
        if tail.watchers == 0 and self._tails.get(tail.session_id) is tail:
            del self._tails[tail.session_id]
            if tail.task is not None:
                tail.task.cancel()

    async def _poll(self, tail: _Tail) -> None:
        checked = time.monotonic()
        while not tail.ended:
            try:
                ended, idle = False, time.monotonic() - checked >= self.tuning.state_seconds
                if idle:
                    # Ask before reading: the last rows commit with the state, so a read after
                    # a "finished" answer holds every event there will be.
                    record = await asyncio.to_thread(self.source.session, tail.session_id)
                    ended = record is None or record.state == "finished"
                    checked = time.monotonic()
                frames = await self._read(tail.session_id, tail.last)
            except Exception:
                log.exception("events_poll_failed", session_id=tail.session_id)
                await asyncio.sleep(self.tuning.retry_seconds)
                continue
            if frames or idle:  # an idle tick wakes the streams too: time for a heartbeat?
                tail.publish(frames, ended=ended and not frames)
            if frames:
                checked = time.monotonic()  # a session that writes is not finished
            if len(frames) < self.tuning.batch:
                await asyncio.sleep(self.tuning.poll_seconds)

    async def close(self) -> None:
        """Stop every poller (at shutdown)."""
        tasks = [t.task for t in self._tails.values() if t.task is not None]
        self._tails.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
