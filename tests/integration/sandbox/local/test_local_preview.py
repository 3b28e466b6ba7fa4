"""The preview over the local exposure, against the real bubblewrap, forward and Chromium: a
running app is reachable on host loopback, failures come back with a hint that says what to
fix, restarts keep the URL, and screenshots are taken of the app inside the sandbox's network.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cofounder.sandbox import BwrapSandbox, bwrap_available
from cofounder.sandbox.local.exposure import LocalExposure, listeners
from cofounder.sandbox.preview import PREVIEW_PROCESS_NAME, Preview
from cofounder.sandbox.preview_diagnosis import diagnose
from cofounder.sandbox.preview_types import Listener, PreviewSpec
from preview_support import AppReady, StartsWhenReady, listening_on

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FAIL_TIMEOUT_S = 3.0  # how long a preview that never answers is given (run out on purpose)
READY_TIMEOUT_S = 60.0  # only bounds the wait for an app that answers

SERVER = """\
import http.server, sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "0.0.0.0"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
PAGE = (
    b"<!doctype html><html><head><title>Hello preview</title></head>"
    b"<body style='background:#2040d0'><h1>Hello preview</h1></body></html>"
)


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


print(f"serving on {HOST}:{PORT}", flush=True)
http.server.ThreadingHTTPServer((HOST, PORT), Page).serve_forever()
"""

# Sockets of several kinds, to see what `listeners` makes of /proc/PID/net/tcp{,6}.
SOCKETS = """\
import socket, time

socks = []


def listen(family, addr, v6only=None):
    s = socket.socket(family, socket.SOCK_STREAM)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind(addr)
    s.listen()
    socks.append(s)


listen(socket.AF_INET6, ("::1", 8002))
listen(socket.AF_INET, ("127.0.0.2", 8003))
listen(socket.AF_INET, ("0.0.0.0", 8004))
listen(socket.AF_INET6, ("::", 8005), v6only=0)
listen(socket.AF_INET6, ("::ffff:127.0.0.1", 8006), v6only=0)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 8007))
client = socket.create_connection(("127.0.0.1", 8004))  # established, not listening
print("listening", flush=True)
time.sleep(1000)
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[BwrapSandbox]:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "server.py").write_text(SERVER)
    (ws / "sockets.py").write_text(SOCKETS)
    sb = BwrapSandbox(ws)
    if sb.netns_path is None or sb.network_holder_pid is None:
        sb.close()
        pytest.skip("previews need a sandbox-wide network: root, unshare, nsenter and ip")
    yield sb
    sb.close()


MakePreview = Callable[[float, AppReady | None], Preview]


@pytest.fixture
def make_preview(sandbox: BwrapSandbox) -> Iterator[MakePreview]:
    """A preview with this deadline; with `app_ready`, the deadline starts once the app is
    that far (see preview_support), so what it finds does not depend on the machine's speed."""
    made: list[Preview] = []

    def make(ready_timeout_s: float, app_ready: AppReady | None = None) -> Preview:
        exposure = LocalExposure(sandbox)
        runs_in = sandbox if app_ready is None else StartsWhenReady(sandbox, exposure, app_ready)
        preview = Preview(runs_in, exposure, chromium=CHROMIUM, ready_timeout_s=ready_timeout_s)
        made.append(preview)
        return preview

    yield make
    for preview in made:
        preview.stop()


@pytest.fixture
def preview(make_preview: MakePreview) -> Preview:
    return make_preview(READY_TIMEOUT_S, None)


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, resp.read().decode()


def port_of(url: str | None) -> int:
    assert url is not None
    found = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", url)
    assert found, url
    return int(found.group(1))


def preview_processes(sb: BwrapSandbox) -> list[str]:
    return [p.id for p in sb.list_background() if p.name == PREVIEW_PROCESS_NAME and p.running]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- success ------------------------------------------------------------------------------


def test_running_app_is_served_on_host_loopback(sandbox: BwrapSandbox, preview: Preview) -> None:
    outcome = preview.start(PreviewSpec(command="python3 server.py", port=8000))
    assert outcome.ok, (outcome.hint, outcome.output_tail)
    assert outcome.http_status == 200 and outcome.hint is None
    port = port_of(outcome.url)
    assert preview.running == outcome
    status, body = get(f"{outcome.url}/")
    assert status == 200 and "<title>Hello preview</title>" in body
    assert "serving on 0.0.0.0:8000" in outcome.output_tail
    # the forward listens on the host's loopback only
    assert {x.address for x in listeners(os.getpid()) if x.port == port} == {"127.0.0.1"}
    assert preview_processes(sandbox) == [outcome.process_id]


# --- failures and their hints -------------------------------------------------------------


def test_crashing_command_reports_its_exit_code_and_output(
    preview: Preview, sandbox: BwrapSandbox
) -> None:
    command = "python3 -c \"import sys; print('boom: missing module'); sys.exit(7)\""
    outcome = preview.start(PreviewSpec(command=command, port=8000))
    assert not outcome.ok and outcome.url is None
    assert outcome.hint is not None and "exited with code 7" in outcome.hint
    assert "boom: missing module" in outcome.output_tail
    assert outcome.waited_s < READY_TIMEOUT_S  # noticed when it exited, not at the deadline
    assert preview.running is None and preview_processes(sandbox) == []


def test_app_on_another_loopback_address_is_told_to_bind_all(
    make_preview: MakePreview, sandbox: BwrapSandbox
) -> None:
    # The deadline starts once the app listens (it prints its line before it binds).
    failing = make_preview(FAIL_TIMEOUT_S, listening_on(8000))
    outcome = failing.start(PreviewSpec(command="python3 server.py 127.0.0.2 8000", port=8000))
    assert not outcome.ok and outcome.hint is not None
    assert "listens on port 8000 but only on 127.0.0.2" in outcome.hint
    assert "0.0.0.0" in outcome.hint
    assert f"within {FAIL_TIMEOUT_S:g} s" in outcome.hint
    assert "serving on 127.0.0.2:8000" in outcome.output_tail
    assert preview_processes(sandbox) == []  # the failed app was stopped


# --- restarts and stop --------------------------------------------------------------------


def test_restart_keeps_the_founders_url_and_one_app(
    preview: Preview, sandbox: BwrapSandbox
) -> None:
    spec = PreviewSpec(command="python3 server.py", port=8000)
    first = preview.start(spec)
    assert first.ok, first.hint
    preview.stop()
    second = preview.start(spec)
    assert second.ok, second.hint
    assert second.url == first.url
    third = preview.start(spec)  # without a stop: the second app is stopped for it
    assert third.ok, third.hint
    assert third.url == first.url
    assert preview_processes(sandbox) == [third.process_id]
    assert len({first.process_id, second.process_id, third.process_id}) == 3
    assert get(f"{third.url}/")[0] == 200


def test_requested_host_port_is_used_or_another_when_busy(preview: Preview) -> None:
    spec = PreviewSpec(command="python3 server.py", port=8000)
    wanted = free_port()
    outcome = preview.start(spec, host_port=wanted)
    assert outcome.ok and port_of(outcome.url) == wanted, outcome
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        taken = busy.getsockname()[1]
        moved = preview.start(spec, host_port=taken)
        assert moved.ok, moved.hint
        assert port_of(moved.url) != taken
        assert get(f"{moved.url}/")[0] == 200
    finally:
        busy.close()


def test_stop_ends_the_app_and_the_url(preview: Preview, sandbox: BwrapSandbox) -> None:
    outcome = preview.start(PreviewSpec(command="python3 server.py", port=8000))
    assert outcome.ok, outcome.hint
    assert outcome.url is not None
    assert preview.stop() == outcome
    assert preview.running is None
    with pytest.raises(urllib.error.URLError):
        get(f"{outcome.url}/")
    assert outcome.process_id is not None
    assert not next(p for p in sandbox.list_background() if p.id == outcome.process_id).running
    assert preview.stop() is None


# --- screenshots --------------------------------------------------------------------------


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_screenshot_of_the_running_preview(preview: Preview) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install Chromium: apt-get install -y chromium")
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    outcome = preview.start(PreviewSpec(command="python3 server.py", port=8000))
    assert outcome.ok, outcome.hint
    shots = preview.screenshot()
    assert [(s.viewport.name, _png_size(s.png)) for s in shots] == [
        ("desktop", (1280, 800)),
        ("mobile", (390, 844)),
    ]
    assert [s.status for s in shots] == [200, 200]


# --- listeners and diagnose ---------------------------------------------------------------


def test_listeners_reads_the_sandbox_namespace(sandbox: BwrapSandbox) -> None:
    info = sandbox.start_background("python3 sockets.py", name="sockets")
    deadline = time.monotonic() + 90
    while "listening" not in sandbox.background_output(info.id, max_bytes=4000):
        running = next(p for p in sandbox.list_background() if p.id == info.id).running
        assert running and time.monotonic() < deadline, sandbox.background_output(
            info.id, max_bytes=4000
        )
        time.sleep(0.02)
    holder = sandbox.network_holder_pid
    assert holder is not None
    found = listeners(holder)
    assert found == [
        Listener("::1", 8002),
        Listener("127.0.0.2", 8003),
        Listener("0.0.0.0", 8004),
        Listener("::", 8005),
        Listener("::ffff:127.0.0.1", 8006),
    ]
    assert "only on 127.0.0.2" in diagnose(found, 8003)
    assert "bind it to 0.0.0.0" in diagnose(found, 8003)
    for loopback in (8002, 8004, 8005, 8006):
        assert diagnose(found, loopback).startswith(f"something listens on port {loopback} ")
    assert diagnose(found, 9000).startswith(
        "nothing listens on port 9000, but the app listens on port(s) 8002, 8003, 8004, 8005, 8006"
    )
    sandbox.stop_background(info.id)
    assert listeners(holder) == []


def test_listeners_of_a_gone_process_is_empty() -> None:
    assert listeners(2**22 + 1) == []  # above the largest pid Linux hands out


def test_a_forward_that_cannot_open_leaves_no_app_behind(
    sandbox: BwrapSandbox, preview: Preview
) -> None:
    with pytest.raises(ValueError):
        preview.start(PreviewSpec(command="sleep 1000", port=8000), host_port=70000)
    assert preview.running is None and preview_processes(sandbox) == []
