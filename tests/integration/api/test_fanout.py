"""The shared event poller (api.fanout) against a real database: streams that start anywhere,
fall behind its window or keep up all get every event once, in order, while a writer appends;
one poller serves them all; a stream resumed at the end of a session that has since finished
ends by itself; an idle stream gets heartbeats; a stream that goes away leaves nothing behind."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cf_support import Backend, scripted_project
from cofounder.api.fanout import Fanout, Frame, Tuning
from cofounder.config import Settings
from cofounder.engine import Engine
from cofounder.events import Narration, SessionFinished
from cofounder.project import load_project
from cofounder.storage import Event, SessionRecord

# Small numbers so that every path runs: reads of a few rows, a window of a few events.
TUNING = Tuning(poll_seconds=0.01, batch=7, keep=5, state_seconds=0.2)


class Counted:
    """The engine, counting the event reads (to see that live streams share one poller)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reads = 0

    def events_after(self, session_id: str, after_seq: int, *, limit: int = 1000) -> list[Event]:
        self.reads += 1
        return self.engine.events_after(session_id, after_seq, limit=limit)

    def session(self, session_id: str) -> SessionRecord | None:
        return self.engine.session(session_id)


@pytest.fixture
def engine(backend: Backend) -> Iterator[Engine]:
    engine = Engine(Settings(home=backend.home, database_url=backend.database_url))
    yield engine
    engine.close()


def _session(engine: Engine, folder: Path) -> str:
    """A queued session (no worker runs it: the test writes its events)."""
    project = scripted_project(folder, [{"text": "done"}])
    return engine.create_session(load_project(project), project).id


def _last_seq(engine: Engine, session_id: str) -> int:
    return engine.events_after(session_id, 0, limit=100_000)[-1].seq


def _write(engine: Engine, session_id: str, count: int) -> None:
    for n in range(count):
        engine.rt.events.append(session_id, Narration(iteration=1, message=f"{n}"))
        time.sleep(0.002)
    finished = SessionFinished(
        outcome="completed", reason="test", iterations=1, tool_calls=0, elapsed_seconds=0
    )
    engine.rt.events.append(session_id, finished)


async def _collect(
    fanout: Fanout, session_id: str, after: int, lag: random.Random | None
) -> list[Frame]:
    got: list[Frame] = []
    async for batch in fanout.follow(session_id, after, live=True):
        got += batch
        if lag is not None and lag.random() < 0.3:
            await asyncio.sleep(0.05)  # slow: the window moves on without it
    return got


def test_every_stream_gets_every_event_once_in_order_and_they_share_one_poller(
    engine: Engine, tmp_path: Path
) -> None:
    session_id = _session(engine, tmp_path)
    before = _last_seq(engine, session_id)
    source = Counted(engine)
    fanout = Fanout(source, TUNING)
    rng = random.Random(15)
    starts = [0, before, *(rng.randint(0, before) for _ in range(8))]
    writer = threading.Thread(target=_write, args=(engine, session_id, 150))

    async def watch() -> list[list[Frame]]:
        streams = [
            asyncio.create_task(_collect(fanout, session_id, after, lag))
            for after in starts
            for lag in (None, random.Random(after))  # one keeps up, one lags
        ]
        await asyncio.sleep(0.2)
        writer.start()
        while writer.is_alive() and fanout.watched() != {session_id: len(streams)}:
            await asyncio.sleep(0.005)
        # All of them on one tail, with one poller, while the writer writes.
        assert writer.is_alive() and fanout.watched() == {session_id: len(streams)}
        pollers = [t for t in asyncio.all_tasks() if t.get_name() == f"events-{session_id}"]
        assert len(pollers) == 1
        got = await asyncio.wait_for(asyncio.gather(*streams), timeout=120)
        assert fanout.watched() == {}  # every stream left; the poller is gone
        return got

    started = time.monotonic()
    results = asyncio.run(watch())
    writer.join()
    last = _last_seq(engine, session_id)
    assert last == before + 151
    for after, got in zip([a for a in starts for _ in (0, 1)], results, strict=True):
        assert [f.seq for f in got] == list(range(after + 1, last + 1))
        assert got[-1].type == "session_finished"
    stored = {e.seq: e for e in engine.events_after(session_id, 0, limit=100_000)}
    for frame in results[0]:
        event = stored[frame.seq]
        expected = f"event: {event.type}\ndata: {event.to_json_line()}\nid: {event.seq}\n\n"
        assert frame.data == expected.encode()
    # Far fewer reads than 20 streams each polling every 10 ms while the writer wrote.
    assert source.reads < 20 * (time.monotonic() - started) / TUNING.poll_seconds / 4


def test_a_stream_resumed_at_the_end_of_a_session_that_finished_meanwhile_ends(
    engine: Engine, tmp_path: Path
) -> None:
    session_id = _session(engine, tmp_path)
    assert engine.request_cancel(session_id) == "cancelled"  # finished, by a queued cancel
    last = _last_seq(engine, session_id)
    fanout = Fanout(engine, TUNING)

    async def follow() -> list[list[Frame]]:
        # Asked as live (the caller saw it running), from its last event: the poller learns
        # that it finished and the stream ends instead of waiting forever.
        return [b async for b in fanout.follow(session_id, last, live=True)]

    started = time.monotonic()
    assert asyncio.run(asyncio.wait_for(follow(), timeout=10)) == []
    assert time.monotonic() - started < 5
    assert fanout.watched() == {}


def test_history_only_for_a_finished_session(engine: Engine, tmp_path: Path) -> None:
    session_id = _session(engine, tmp_path)
    _write(engine, session_id, 20)
    last = _last_seq(engine, session_id)
    fanout = Fanout(engine, TUNING)

    async def replay(after: int) -> list[int]:
        return [f.seq async for b in fanout.follow(session_id, after, live=False) for f in b]

    assert asyncio.run(replay(0)) == list(range(1, last + 1))
    assert asyncio.run(replay(last - 3)) == list(range(last - 2, last + 1))
    assert asyncio.run(replay(last)) == []
    assert fanout.watched() == {}  # a replay never starts a poller


def test_an_idle_stream_gets_heartbeats_and_one_that_goes_away_leaves_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    session_id = _session(engine, tmp_path)
    fanout = Fanout(engine, TUNING)

    async def watch() -> list[list[Frame]]:
        stream = fanout.follow(session_id, 0, live=True, idle=0.3)
        batches = [await anext(stream) for _ in range(3)]
        assert fanout.watched() == {session_id: 1}
        poller = asyncio.all_tasks() - {asyncio.current_task()}
        await stream.aclose()  # the client went away
        assert fanout.watched() == {}
        for _ in range(100):
            if all(task.done() for task in poller):
                break
            await asyncio.sleep(0.01)
        assert all(task.done() for task in poller)
        return batches

    started = time.monotonic()
    history, beat, beat_again = asyncio.run(watch())
    assert [f.type for f in history] == [
        e.type for e in engine.events_after(session_id, 0, limit=100)
    ]
    assert beat == [] and beat_again == []
    assert time.monotonic() - started >= 0.6
