"""The preview forward: a port inside a sandbox's namespace, served on host 127.0.0.1 only.

Each test module worker gets its own namespace (IsolatedNetwork) with servers on
127.0.0.1:8000 (HTTP, keep-alive), :8001 (echo) and :8003 (reads to end of file, answers the
sha256) inside it; namespaces are private, so parallel workers reuse the same ports.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import IO

import pytest

from cofounder.sandbox.local.netns import IsolatedNetwork
from cofounder.sandbox.local.port_forward import PortForward, PortInUse
from cofounder.sandbox.protocol import SandboxError

NSENTER, UNSHARE, IP = shutil.which("nsenter"), shutil.which("unshare"), shutil.which("ip")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not (NSENTER and UNSHARE and IP),
    reason="the preview forward needs root, nsenter, unshare and ip",
)

HTTP_PORT, ECHO_PORT, LATE_PORT, DIGEST_PORT = 8000, 8001, 8002, 8003

SERVERS = r"""
import hashlib, http.server, socketserver, sys, threading, time
MARK = sys.argv[1]
class Page(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = f"{MARK} {self.path} {self.client_address[1]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(65536):
            self.request.sendall(data)
class Digest(socketserver.BaseRequestHandler):
    def handle(self):
        h = hashlib.sha256()
        while data := self.request.recv(65536):
            h.update(data)
        if h.digest()[0] < 128:  # some answers come late, well after the half-close
            time.sleep(0.3)
        self.request.sendall(h.hexdigest().encode())
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 overflows under a burst of connects
for port, handler in zip(map(int, sys.argv[2:]), (Page, Echo, Digest)):
    srv = S(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""

CHILD = r"""
import sys, time
from cofounder.sandbox.local.port_forward import PortForward
fwd = PortForward(sys.argv[1], int(sys.argv[2]), nsenter=sys.argv[3])
print(fwd.pid, fwd.host_port, flush=True)
time.sleep(60)
"""


@dataclass
class Inside:
    netns: str
    nsenter: str
    mark: str


def _spawn_in(netns: str, code: str, *args: object) -> subprocess.Popen[str]:
    """Run `code` inside the namespace; it must print one line once it listens."""
    assert NSENTER
    proc = subprocess.Popen(
        [NSENTER, f"--net={netns}", "--", sys.executable, "-c", code, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


@pytest.fixture(scope="module")
def inside() -> Iterator[Inside]:
    assert NSENTER and UNSHARE and IP
    net = IsolatedNetwork(unshare=UNSHARE, ip=IP, nsenter=NSENTER)
    mark = uuid.uuid4().hex
    try:
        servers = _spawn_in(net.netns_path, SERVERS, mark, HTTP_PORT, ECHO_PORT, DIGEST_PORT)
        try:
            yield Inside(net.netns_path, NSENTER, mark)
        finally:
            _stop(servers)
    finally:
        net.close()


@pytest.fixture
def forward(inside: Inside) -> Iterator[PortForward]:
    with PortForward(inside.netns, HTTP_PORT, nsenter=inside.nsenter) as fwd:
        yield fwd


# Only bounds a wait for an answer that comes: a loaded machine must not make it run out.
IO_TIMEOUT_S = 60


def _connect(port: int, host: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection((host, port), timeout=IO_TIMEOUT_S)


def _get(port: int, path: str = "/") -> str:
    conn = HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT_S)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200
        return resp.read().decode()
    finally:
        conn.close()


def _exchange(port: int, payload: bytes) -> bytes:
    """Send everything, half-close, read until the other side closes."""
    with _connect(port) as sock, ThreadPoolExecutor(1) as pool:

        def send() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sending = pool.submit(send)
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
        sending.result()
        return b"".join(chunks)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()[0]
    except OSError:
        return True
    return state == b"Z"  # exited; nobody reaped it yet


def _refused(port: int) -> bool:
    try:
        _connect(port).close()
    except ConnectionRefusedError:
        return True
    return False


def test_url_serves_the_inside_page_immediately(inside: Inside) -> None:
    # No retry: a connection made before the relay's Python is up waits in the backlog. The
    # relay is frozen from the moment the constructor returns until the request is sent, so
    # "before it is up" is a fact rather than a race with its start.
    with PortForward(inside.netns, HTTP_PORT, nsenter=inside.nsenter) as fwd:
        os.killpg(fwd.pid, signal.SIGSTOP)
        try:
            sock = _connect(fwd.host_port)  # accepted by the kernel, into the backlog
            sock.sendall(b"GET /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        finally:
            os.killpg(fwd.pid, signal.SIGCONT)
        with sock:
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.")
        assert f"{inside.mark} /first".encode() in answer
        assert fwd.url == f"http://127.0.0.1:{fwd.host_port}"
        assert inside.mark in _get(fwd.host_port, "/again")


def test_bound_to_host_loopback_only(forward: PortForward) -> None:
    listening = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, port = local.split(":")
        if int(port, 16) == forward.host_port and state == "0A":
            listening.add(addr)
    assert listening == {"0100007F"}  # 127.0.0.1, little-endian hex
    # The rest of 127/8 is loopback too, but only a wildcard bind would answer on it.
    assert _refused_at("127.0.0.2", forward.host_port)


def _refused_at(host: str, port: int) -> bool:
    try:
        _connect(port, host).close()
    except ConnectionRefusedError:
        return True
    return False


def test_keep_alive_reuses_one_inside_connection(forward: PortForward) -> None:
    conn = HTTPConnection("127.0.0.1", forward.host_port, timeout=IO_TIMEOUT_S)
    try:
        bodies = []
        for path in ("/a", "/b"):
            conn.request("GET", path)
            bodies.append(conn.getresponse().read().decode().split())
    finally:
        conn.close()
    assert [b[1] for b in bodies] == ["/a", "/b"]
    assert bodies[0][2] == bodies[1][2]  # same source port inside: one relayed connection


def test_large_payload_both_ways_and_many_connections(inside: Inside) -> None:
    with (
        PortForward(inside.netns, ECHO_PORT, nsenter=inside.nsenter) as echo,
        PortForward(inside.netns, HTTP_PORT, nsenter=inside.nsenter) as page,
    ):
        big = os.urandom(5 * 1024 * 1024)
        assert hashlib.sha256(_exchange(echo.host_port, big)).digest() == (
            hashlib.sha256(big).digest()
        )

        def one(i: int) -> None:
            data = os.urandom(100_000) + str(i).encode()
            assert _exchange(echo.host_port, data) == data
            assert _get(page.host_port, f"/p{i}").split()[:2] == [inside.mark, f"/p{i}"]

        with ThreadPoolExecutor(20) as pool:
            list(pool.map(one, range(20)))
        assert echo.alive() and page.alive()


def test_half_close_still_delivers_the_answer(inside: Inside) -> None:
    data = os.urandom(1_000_000)
    with PortForward(inside.netns, DIGEST_PORT, nsenter=inside.nsenter) as fwd:
        assert _exchange(fwd.host_port, data) == hashlib.sha256(data).hexdigest().encode()


def test_half_closed_relays_survive_garbage_collection(inside: Inside) -> None:
    # A relay whose client has half-closed, waiting on a late answer, has nothing asyncio
    # itself keeps alive; the relay's Python must not collect it while the connections
    # around it make garbage.
    data = [os.urandom(1000) for _ in range(200)]
    with (
        PortForward(inside.netns, DIGEST_PORT, nsenter=inside.nsenter) as fwd,
        ThreadPoolExecutor(40) as pool,
    ):
        answers = list(pool.map(lambda d: _exchange(fwd.host_port, d), data))
    assert answers == [hashlib.sha256(d).hexdigest().encode() for d in data]


def test_nothing_listening_inside_closes_fast_then_works(inside: Inside) -> None:
    with PortForward(inside.netns, LATE_PORT, nsenter=inside.nsenter) as fwd:
        with _connect(fwd.host_port) as sock:
            # Nothing will ever listen while this waits: a relay that held the connection
            # open (a hang, or waiting for the server) would run into the timeout here.
            try:
                got = sock.recv(1)
            except ConnectionResetError:
                got = b""
        assert got == b""
        assert fwd.alive()
        late = _spawn_in(inside.netns, SERVERS, "late", 0, LATE_PORT)  # port 0: HTTP anywhere
        try:
            assert _exchange(fwd.host_port, b"hello") == b"hello"
        finally:
            _stop(late)


def test_close_ends_the_relay_and_frees_the_port(inside: Inside) -> None:
    fwd = PortForward(inside.netns, HTTP_PORT, nsenter=inside.nsenter)
    idle = _connect(fwd.host_port)  # an open keep-alive must not hold anything up
    assert inside.mark in _get(fwd.host_port)
    fwd.close()
    assert _gone(fwd.pid)
    assert not fwd.alive()
    assert _refused(fwd.host_port)
    with contextlib.suppress(ConnectionResetError):
        assert idle.recv(1) == b""
    idle.close()
    fwd.close()
    # The same port can be taken again at once (SO_REUSEADDR past TIME_WAIT).
    with PortForward(
        inside.netns, HTTP_PORT, nsenter=inside.nsenter, host_port=fwd.host_port
    ) as again:
        assert inside.mark in _get(again.host_port)


def test_relay_dies_with_its_owner_even_on_sigkill(inside: Inside) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", CHILD, inside.netns, str(HTTP_PORT), inside.nsenter],
        stdout=subprocess.PIPE,
        text=True,
    )
    pid = 0
    try:
        assert owner.stdout is not None
        pid, port = map(int, owner.stdout.readline().split())
        assert inside.mark in _get(port)
        owner.kill()
        owner.wait(timeout=60)
        deadline = time.monotonic() + 60
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _gone(pid)
        assert _refused(port)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if pid and not _gone(pid):
            os.killpg(pid, signal.SIGKILL)  # the relay outlived its owner: don't leak it
        _close(owner.stdout)


def _close(stream: IO[str] | None) -> None:
    if stream is not None:
        stream.close()


def test_busy_host_port_raises_port_in_use(inside: Inside) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PortInUse):
            PortForward(
                inside.netns, HTTP_PORT, nsenter=inside.nsenter, host_port=taken.getsockname()[1]
            )


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_target_port_out_of_range(inside: Inside, port: int) -> None:
    with pytest.raises(ValueError):
        PortForward(inside.netns, port, nsenter=inside.nsenter)


def test_inside_port_is_not_on_the_host(inside: Inside, forward: PortForward) -> None:
    # Whatever may listen on the host's 8000, it is not the sandbox's server.
    try:
        with _connect(HTTP_PORT) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            answer = sock.recv(65536)
    except OSError:
        return
    assert inside.mark.encode() not in answer


def test_a_relay_that_cannot_start_reports_why(inside: Inside, tmp_path: Path) -> None:
    not_a_namespace = tmp_path / "net"
    not_a_namespace.write_text("")
    with PortForward(str(not_a_namespace), HTTP_PORT, nsenter=inside.nsenter) as fwd:
        deadline = time.monotonic() + 60
        while fwd.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(SandboxError, match="nsenter"):
            fwd.ensure_alive()
        assert _refused(fwd.host_port)  # not a backlog nobody will ever accept
