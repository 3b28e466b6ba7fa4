"""Screenshots with the real Chromium: sizes, errors, and containment in the sandbox's network.

The containment tests are the point: the page is untrusted, so a capture given the sandbox's
network namespace must reach the app inside it and nothing on the host's loopback.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cofounder.sandbox.local.netns import IsolatedNetwork
from cofounder.sandbox.screenshot import (
    DESKTOP,
    MOBILE,
    Screenshot,
    ScreenshotError,
    capture,
    find_chromium,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI") == "true":
        pytest.fail("CI must install Chromium: apt-get install -y chromium", pytrace=False)
    pytest.skip("Chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

RED = (0xE0, 0x10, 0x20)
BLUE = (0x10, 0x40, 0xD0)


def _page(rgb: tuple[int, int, int], text: str = "hello") -> bytes:
    colour = "#{:02x}{:02x}{:02x}".format(*rgb)
    return f"<!doctype html><html style='background:{colour}'><body>{text}</body></html>".encode()


class _Server:
    """A host-loopback HTTP server that records the paths it is asked for."""

    def __init__(self, body: bytes, status: int = 200, port: int = 0) -> None:
        self.requests: list[str] = []
        self.peers: list[int] = []  # the requesting browser's host uid, per request
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                outer.peers.append(_socket_uid(self.client_address[1]))
                if status == 0:  # hang until the test ends
                    outer.release.wait(30)
                    return
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"


def _socket_uid(client_port: int) -> int:
    """The uid owning the client end of a loopback TCP connection (/proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == client_port:
            return int(fields[7])
    return -1


@contextmanager
def serve(body: bytes, status: int = 200) -> Iterator[_Server]:
    server = _Server(body, status)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.httpd.shutdown()
        server.httpd.server_close()


def _png_info(png: bytes) -> tuple[int, int, tuple[int, int, int]]:
    """Width, height and the top-left pixel's RGB of an 8-bit RGB(A) PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind, width, height, depth, colour_type = struct.unpack(">I4sIIBB", png[8:26])
    assert (kind, length, depth, colour_type in (2, 6)) == (b"IHDR", 13, 8, True)
    idat, pos = b"", 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        if png[pos + 4 : pos + 8] == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    # Whatever the first row's filter, its first pixel is stored as is (its neighbours are 0).
    raw = zlib.decompress(idat)
    return width, height, (raw[1], raw[2], raw[3])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _live_pids_in_netns(netns_path: str) -> set[int]:
    """Live (not zombie) processes whose network namespace is `netns_path`."""
    target = os.stat(netns_path).st_ino
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != target:
                continue
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.add(int(entry))
    return found


NSENTER = shutil.which("nsenter")
IP = shutil.which("ip")


@pytest.fixture(scope="module")
def netns() -> Iterator[IsolatedNetwork]:
    if os.geteuid() != 0 or NSENTER is None or IP is None:
        pytest.skip("a network namespace needs root, nsenter and iproute2")
    net = IsolatedNetwork(unshare="/usr/bin/unshare", ip=IP, nsenter=NSENTER)
    yield net
    net.close()


@contextmanager
def serve_in_netns(netns: IsolatedNetwork, body: bytes, port: int) -> Iterator[int]:
    """An http.server inside the namespace on 127.0.0.1:`port`; yields the server's pid."""
    assert NSENTER is not None
    root = tempfile.mkdtemp()
    Path(root, "index.html").write_bytes(body)
    enter = [NSENTER, f"--net={netns.netns_path}", "--", sys.executable]
    server = subprocess.Popen(
        [*enter, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", root],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = (
            "import socket,time\nfor _ in range(100):\n  try:\n"
            f"    socket.create_connection(('127.0.0.1',{port}),1).close(); break\n"
            "  except OSError: time.sleep(0.05)\nelse: raise SystemExit(1)"
        )
        subprocess.run([*enter, "-c", probe], check=True, timeout=10)
        yield server.pid
    finally:
        server.kill()
        server.wait(timeout=5)
        shutil.rmtree(root, ignore_errors=True)


def _assert_shot(shot: Screenshot, rgb: tuple[int, int, int]) -> None:
    width, height, pixel = _png_info(shot.png)
    assert (width, height) == (shot.viewport.width, shot.viewport.height)
    assert pixel == rgb


def test_host_page_at_desktop_and_mobile_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CHROMIUM is not None
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the wrapper dir would go
    with serve(_page(RED)) as server:
        shots = capture(server.url, chromium=CHROMIUM)
    assert [s.viewport for s in shots] == [DESKTOP, MOBILE]
    assert [(s.viewport.width, s.viewport.height) for s in shots] == [(1280, 800), (390, 844)]
    for shot in shots:
        _assert_shot(shot, RED)
        assert shot.status == 200
    assert [p for p in server.requests if p == "/"] == ["/", "/"]  # (and /favicon.ico)
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_capture_inside_the_sandbox_network_sees_the_sandboxed_app(
    netns: IsolatedNetwork,
) -> None:
    assert CHROMIUM is not None
    # The host listens on the same port: the page must come from the namespace, not from it.
    with (
        serve(_page(RED)) as host,
        serve_in_netns(netns, _page(BLUE), host.port) as server_pid,
    ):
        before = _live_pids_in_netns(netns.netns_path)
        assert before == {netns.holder_pid, server_pid}
        shots = capture(host.url, chromium=CHROMIUM, netns_path=netns.netns_path)
        for shot in shots:
            _assert_shot(shot, BLUE)
            assert shot.status == 200
        assert host.requests == []
        # Every browser process (renderers, zygotes, crash handler) is gone with the capture.
        assert _live_pids_in_netns(netns.netns_path) == before


def test_host_loopback_is_unreachable_from_the_sandbox_network(netns: IsolatedNetwork) -> None:
    assert CHROMIUM is not None
    with serve(_page(RED)) as host:
        with pytest.raises(ScreenshotError, match="nothing answers at") as err:
            capture(host.url, chromium=CHROMIUM, netns_path=netns.netns_path)
        assert host.url in str(err.value)
        assert host.requests == []


def test_a_vanished_namespace_is_a_clear_error() -> None:
    assert CHROMIUM is not None
    with pytest.raises(ScreenshotError, match=r"network namespace /proc/0/ns/net is gone"):
        capture("http://127.0.0.1:8000/", chromium=CHROMIUM, netns_path="/proc/0/ns/net")


def test_nothing_listening_names_the_url() -> None:
    assert CHROMIUM is not None
    url = f"http://127.0.0.1:{_free_port()}/"
    with pytest.raises(ScreenshotError, match="is the app running") as err:
        capture(url, chromium=CHROMIUM, viewports=[DESKTOP])
    assert url in str(err.value)


def test_an_error_page_is_still_captured_with_its_status() -> None:
    assert CHROMIUM is not None
    with serve(_page(RED, "Internal Server Error"), status=500) as server:
        (shot,) = capture(server.url, chromium=CHROMIUM, viewports=[MOBILE])
    assert shot.status == 500
    _assert_shot(shot, RED)


def test_a_page_that_never_loads_times_out() -> None:
    assert CHROMIUM is not None
    with serve(b"", status=0) as server:
        started = time.monotonic()
        # The timeout also bounds the browser's launch: leave room for that on a loaded machine.
        with pytest.raises(ScreenshotError, match=r"did not finish loading within 4 s"):
            capture(server.url, chromium=CHROMIUM, viewports=[DESKTOP], timeout_s=4)
    assert time.monotonic() - started < 15


def test_a_chromium_that_cannot_start_is_reported() -> None:
    # Outside pytest's root-only tmp: as root the browser runs as `nobody`, who must reach it.
    folder = Path(tempfile.mkdtemp(prefix="cofounder-broken-chromium-"))
    try:
        folder.chmod(0o755)
        broken = folder / "chromium"
        broken.write_text("#!/bin/sh\necho 'missing libnss3.so' >&2\nexit 127\n")
        broken.chmod(0o755)
        with pytest.raises(ScreenshotError, match=r"failed to start: missing libnss3\.so"):
            capture("http://127.0.0.1:8000/", chromium=str(broken), viewports=[DESKTOP])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop applies to a root worker")
def test_a_root_worker_browses_as_nobody_with_chromiums_sandbox_on() -> None:
    with serve(_page((0, 128, 0))) as server:
        capture(server.url, chromium=CHROMIUM or "chromium", viewports=[DESKTOP])
    assert server.peers and set(server.peers) == {65534}


def test_only_web_pages_are_captured() -> None:
    assert CHROMIUM is not None
    with pytest.raises(ScreenshotError, match="only capture http"):
        capture("file:///etc/passwd", chromium=CHROMIUM)


def test_find_chromium(tmp_path: Path) -> None:
    bogus = str(tmp_path / "no-such-chromium")
    with pytest.raises(ScreenshotError, match="no-such-chromium"):
        find_chromium(bogus)
    not_executable = tmp_path / "chromium"
    not_executable.write_text("")
    with pytest.raises(ScreenshotError, match="not executable"):
        find_chromium(str(not_executable))
    assert find_chromium(None) == CHROMIUM
    assert find_chromium(CHROMIUM) == CHROMIUM


def test_find_chromium_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ScreenshotError, match="apt-get install -y chromium"):
        find_chromium()


def test_capture_from_inside_a_running_event_loop() -> None:
    assert CHROMIUM is not None
    chromium = CHROMIUM

    async def handler_that_blocks(url: str) -> list[Screenshot]:
        return capture(url, chromium=chromium, viewports=[DESKTOP])

    with serve(_page(BLUE)) as server:
        (shot,) = asyncio.run(handler_that_blocks(server.url))
    _assert_shot(shot, BLUE)
