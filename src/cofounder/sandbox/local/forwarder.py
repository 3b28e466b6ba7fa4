"""The preview forward's relay, run inside a sandbox's network namespace (see port_forward).

    python -I -S forwarder.py --listen-fd FD --port PORT
    (or: python -m cofounder.sandbox.local.forwarder --listen-fd FD --port PORT)

FD is an already listening socket bound to the HOST's 127.0.0.1 (sockets keep the namespace
they were created in); every connection accepted on it is relayed, as plain TCP, to
127.0.0.1:PORT in the namespace this process runs in (nsenter put it there). Plain TCP means
HTTP keep-alive, streaming and websockets all just work.

It exits when its stdin reaches end of file: the write end of that pipe lives only in the host
process, so the relay cannot outlive it, even when the host is SIGKILLed.

Standard library only, and nothing from the cofounder package: the host runs this file by
path under `-I -S`, which starts in ~60 ms instead of the ~330 ms that importing the
`cofounder.sandbox` package costs (connections arriving meanwhile wait in the listen backlog).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import struct
import sys

_CHUNK = 64 * 1024
# How long to wait for the dev server to accept; loopback refuses at once, so this only
# matters when its backlog is full.
_CONNECT_TIMEOUT_S = 10.0


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of file, then pass the half-close on; drain() keeps memory bounded."""
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset, so the peer sees the failure (not an empty, complete reply)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """IPv4 loopback first, then IPv6: dev servers that bind `localhost` often get ::1 only."""
    for host in ("127.0.0.1", "::1"):
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), _CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            continue
    return None


async def _relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, port: int) -> None:
    upstream = await _connect(port)
    if upstream is None:
        # Nothing listening (yet): reset at once, like "connection refused", not a hang.
        _reset(client_w)
        return
    up_r, up_w = upstream
    pumps = [
        asyncio.create_task(_pump(client_r, up_w)),
        asyncio.create_task(_pump(up_r, client_w)),
    ]
    try:
        # Both directions must finish (half-close); a failure in either (a reset, a broken
        # pipe) ends the connection, since the other direction has nobody left to talk to.
        await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in pumps:
            task.cancel()
        failed = any(t.done() and not t.cancelled() and t.exception() for t in pumps)
        for writer in (client_w, up_w):
            if failed:
                _reset(writer)
            else:
                writer.close()


async def serve(listen_fd: int, port: int) -> None:
    """Relay connections on `listen_fd` to 127.0.0.1:`port` until stdin reaches end of file."""
    loop = asyncio.get_running_loop()
    stdin_closed = asyncio.Event()

    def on_stdin() -> None:
        try:
            data = os.read(0, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            stdin_closed.set()

    os.set_blocking(0, False)
    loop.add_reader(0, on_stdin)

    relays: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # asyncio holds a connection's task only through its transport while that is in the
        # selector, and holds stream readers only weakly: once the client has half-closed
        # and nothing is queued for it, a relay waiting on the dev server is garbage, and
        # gets collected mid-transfer ("Task was destroyed but it is pending!"). Hold it.
        task = asyncio.current_task()
        assert task is not None
        relays.add(task)
        try:
            await _relay(reader, writer, port)
        except Exception:
            # Kept from the loop's exception handler, which would print it to our stderr
            # (meant for real errors).
            _reset(writer)
        finally:
            relays.discard(task)

    listener = socket.socket(fileno=listen_fd)
    server = await asyncio.start_server(handle, sock=listener, backlog=128)
    await stdin_closed.wait()
    # Exit on the spot: the kernel closes every socket, which is all the cleanup there is.
    # (Returning would make asyncio.run cancel each relay, and 3.11's start_server logs every
    # cancelled handler to stderr; `async with server` would, from 3.12, wait for idle
    # keep-alive connections that may never close.)
    server.close()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error("--port must be in 1..65535")
    asyncio.run(serve(args.listen_fd, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
