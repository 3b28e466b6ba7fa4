"""SSE fan-out: many clients watch one live session through `cofounder serve`.

A real server process (`cofounder serve --no-worker`) on a fresh data dir; N clients open
`/events/stream` of one session and stay connected while a writer appends events to the events
table at a steady rate (as a worker would), then `session_finished`, which ends every stream.
Each client counts what it got: an event missing is lost, one seen twice a duplicate. Latency
is the receive time minus the event's `ts` (when it was appended), over the live events only.

    .venv/bin/python benchmarks/sse_fanout.py [--clients 200] [--events 100] [--rate 20]
        [--database-url postgresql://...] [--json]

With --json it prints one JSON object: clients, events, delivered, lost, dup, latency_ms_p50,
latency_ms_p99. Goal: 0 lost, 0 dup, p99 <= 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx2
import yaml

from cofounder.config import Settings
from cofounder.engine import Engine
from cofounder.events import Narration, SessionFinished
from cofounder.project import load_project

OWNER = "bench"


@dataclass
class Seen:
    """What one client received: seqs in arrival order, and latency of the live ones."""

    seqs: list[int] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    base: str
    session_id: str
    token: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session(data_dir: Path, database_url: str | None) -> tuple[str, str]:
    """A queued session of OWNER's (no worker will run it) and a token for OWNER."""
    root = data_dir.parent
    (root / "trajectory.yaml").write_text(yaml.safe_dump({"turns": [{"text": "done"}]}))
    project = root / "cofounder.yaml"
    project.write_text(
        yaml.safe_dump(
            {
                "name": "Fan-out",
                "goal": "Be watched.",
                "idea_brief": {"what": "benchmark"},
                "understanding_qna": [],
                "owner": OWNER,
                "model": "scripted:trajectory.yaml",
            }
        )
    )
    engine = Engine(Settings(home=data_dir, database_url=database_url))
    try:
        record = engine.create_session(load_project(project), project)
        _, secret = engine.create_token(OWNER, admin=False)
        return record.id, secret
    finally:
        engine.close()


@contextmanager
def _server(data_dir: Path, database_url: str | None) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFOUNDER_")}
    env["COFOUNDER_HOME"] = str(data_dir)
    if database_url:
        env["COFOUNDER_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "cofounder", "serve", "--no-worker", "--port", str(port)]
    log = data_dir.parent / "serve.log"  # a file: a pipe nobody reads could stall the server
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class _Stream:
    """A minimal SSE reader on a raw socket: the clients share this process's CPU with the
    writer, and a full HTTP client would measure itself more than the server."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.chunked = False
        self.pending = b""

    async def open(self) -> None:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            raise RuntimeError(f"stream refused: {head.decode(errors='replace')}")
        self.chunked = b"transfer-encoding: chunked" in head.lower()

    async def _more(self) -> bytes:
        if not self.chunked:
            return await self.reader.read(65536)
        size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
        body = await self.reader.readexactly(size + 2)
        return body[:-2]

    async def messages(self) -> AsyncIterator[dict[str, str]]:
        """Each SSE message as its fields (`id`, `event`, `data`); comments are skipped."""
        while True:
            while b"\n\n" not in self.pending:
                more = await self._more()
                if not more:
                    return
                self.pending += more
            block, self.pending = self.pending.split(b"\n\n", 1)
            fields = dict(
                line.decode().split(": ", 1)
                for line in block.split(b"\n")
                if line and not line.startswith(b":")
            )
            if "id" in fields:  # not the `retry:` advice the stream opens with
                yield fields


def _stamp(data: str) -> float:
    """The event's `ts`, found without parsing the whole JSON (the clients' CPU is the
    server's too)."""
    start = data.index('"ts": "') + 7
    return datetime.fromisoformat(data[start : data.index('"', start)]).timestamp()


async def _client(target: Target, seen: Seen, live_from: int, ready: asyncio.Event) -> None:
    host, port = target.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    path = f"/api/v1/sessions/{target.session_id}/events/stream"
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {target.token}\r\n\r\n".encode()
    )
    stream = _Stream(reader)
    try:
        await stream.open()
        async for message in stream.messages():
            received = time.time()
            seq = int(message["id"])
            seen.seqs.append(seq)
            if seq > live_from:
                ts = _stamp(message["data"])
                seen.latency_ms.append((received - ts) * 1000)
            elif seq == live_from:
                ready.set()
            if message["event"] == "session_finished":
                return
    finally:
        writer.close()


def _write(
    data_dir: Path, database_url: str | None, target: Target, events: int, rate: float
) -> None:
    """Appends `events` - 1 narrations at `rate` per second, then `session_finished`."""
    engine = Engine(Settings(home=data_dir, database_url=database_url))
    try:
        start = time.monotonic()
        for n in range(events - 1):
            time.sleep(max(0.0, start + n / rate - time.monotonic()))
            engine.rt.events.append(target.session_id, Narration(iteration=1, message=f"{n}"))
        time.sleep(max(0.0, start + (events - 1) / rate - time.monotonic()))
        finished = SessionFinished(
            outcome="completed", reason="benchmark", iterations=1, tool_calls=0, elapsed_seconds=0
        )
        engine.rt.events.append(target.session_id, finished)
    finally:
        engine.close()


async def _watch(
    target: Target, clients: int, live_from: int, start_writer: threading.Thread
) -> list[Seen]:
    seen = [Seen() for _ in range(clients)]
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = [
        asyncio.create_task(_client(target, s, live_from, r))
        for s, r in zip(seen, readies, strict=True)
    ]
    # Every client has replayed the history (and so holds an open stream) before the writer
    # starts: latency is then measured on live events only.
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=120)
    start_writer.start()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
    return seen


def measure(clients: int, events: int, rate: float, database_url: str | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        session_id, token = _session(data_dir, database_url)
        with _server(data_dir, database_url) as base:
            target = Target(base, session_id, token)
            reader = Engine(Settings(home=data_dir, database_url=database_url))
            history = reader.events_after(session_id, 0, limit=100_000)
            reader.close()
            live_from = history[-1].seq
            writer = threading.Thread(
                target=_write, args=(data_dir, database_url, target, events, rate), daemon=True
            )
            seen = asyncio.run(_watch(target, clients, live_from, writer))
            writer.join()
    expected = list(range(1, live_from + events + 1))
    lost = sum(len(set(expected) - set(s.seqs)) for s in seen)
    dup = sum(len(s.seqs) - len(set(s.seqs)) for s in seen)
    in_order = all(s.seqs == sorted(s.seqs) for s in seen)
    latencies = sorted(x for s in seen for x in s.latency_ms)
    return {
        "clients": clients,
        "events": events,
        "delivered": sum(len([q for q in s.seqs if q > live_from]) for s in seen),
        "lost": lost,
        "dup": dup,
        "latency_ms_p50": round(statistics.median(latencies), 1),
        "latency_ms_p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "in_order": in_order,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=100, help="live events written")
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = measure(args.clients, max(2, args.events), args.rate, args.database_url)
    if args.json:
        print(json.dumps(figures))
        return
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{args.clients} SSE clients, {args.events} live events at {args.rate}/s, {backend}")
    for name, value in figures.items():
        print(f"  {name:<16}{value}")


if __name__ == "__main__":
    main()
