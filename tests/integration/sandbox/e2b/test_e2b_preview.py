"""The preview over the E2B exposure, against the real `e2b` SDK's interfaces — NOT against
E2B's cloud.

E2B's cloud cannot be reached from here, so no real E2B sandbox starts: these tests use the
SDK-specced fake of tests/fakes/e2b_cloud.py (`FakeCloud`), whose commands run with real bash
in a local directory playing the cloud's /workspace, and whose background commands come back
as the SDK's real `CommandHandle`. So the preview's health probe (curl, or python3 without
curl), its listener diagnosis and the app itself run for real on this machine; E2B's routing of
`https://PORT-SANDBOX.e2b.app` to the port is not exercised (the fake's `get_host` names the
host the way E2B does), and no browser loads the public URL (`capture` is replaced).
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cofounder.sandbox import screenshot
from cofounder.sandbox.e2b.backend import E2BSandbox
from cofounder.sandbox.e2b.exposure import (
    LISTENERS_COMMAND,
    E2BExposure,
    parse_listeners,
    parse_status,
    probe_command,
)
from cofounder.sandbox.preview import Preview
from cofounder.sandbox.preview_types import Listener, PreviewHost, PreviewSpec
from cofounder.sandbox.screenshot import DESKTOP, Screenshot, ScreenshotError
from fakes.e2b_cloud import FakeCloud, info_of, pids_with


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_ss(cloud: FakeCloud, *lines: str) -> None:
    """An `ss` on the cloud sandbox's PATH that lists these sockets (one `ss -ltnH` line each)."""
    script = cloud.bin / "ss"
    body = "".join(f"echo {line!r}\n" for line in lines)
    script.write_text(f"#!/bin/sh\n[ \"$*\" = '-ltnH' ] || exit 2\n{body}")
    script.chmod(0o755)


def e2b_preview(sandbox: E2BSandbox, ready_timeout_s: float = 20) -> Preview:
    return Preview(sandbox, E2BExposure(sandbox, poll_s=0.1), ready_timeout_s=ready_timeout_s)


def server_command(port: int, token: str) -> str:
    return f"exec -a {token} {sys.executable} -m http.server {port} --bind 127.0.0.1"


def test_preview_answers_at_the_e2b_host(sandbox: E2BSandbox, ws: Path, cloud: FakeCloud) -> None:
    host: PreviewHost = e2b_preview(sandbox)
    assert host.running is None
    (ws / "index.html").write_text("<h1>hello</h1>\n")  # pushed before the app starts
    port, token = free_port(), f"cf-e2b-preview-{os.getpid()}-{free_port()}"
    spec = PreviewSpec(command=server_command(port, token), port=port)
    outcome = host.start(spec, host_port=8080)  # E2B picks the host: host_port means nothing
    assert outcome.ok, outcome
    assert outcome.url == f"https://{port}-sbx-1.e2b.app"
    assert outcome.http_status == 200 and outcome.process_id == "p1"
    assert host.running == outcome
    cloud.current.get_host.assert_called_with(port)
    probes = [c.args[0] for c in cloud.current.commands.run.call_args_list if "curl" in c.args[0]]
    assert probes and f"http://127.0.0.1:{port}/" in probes[0]  # asked inside the sandbox
    assert info_of(sandbox, "p1").name == "preview"

    # Starting again replaces the running preview: the first server is stopped.
    token2 = f"cf-e2b-again-{os.getpid()}-{free_port()}"
    again = host.start(PreviewSpec(command=server_command(port, token2), port=port))
    assert again.ok and again.process_id == "p2"
    assert pids_with(token) == [] and not info_of(sandbox, "p1").running

    stopped = host.stop()
    assert stopped == again and host.running is None
    assert pids_with(token2) == [] and not info_of(sandbox, "p2").running
    assert host.stop() is None


def test_preview_timeout_names_the_port_the_app_listens_on(
    sandbox: E2BSandbox, cloud: FakeCloud
) -> None:
    fake_ss(cloud, "LISTEN 0      511          0.0.0.0:5173      0.0.0.0:*")
    token = f"cf-e2b-preview-slow-{os.getpid()}-{free_port()}"
    host = e2b_preview(sandbox, 1.0)
    spec = PreviewSpec(command=f"echo 'ready on 5173'; exec -a {token} sleep 60", port=free_port())
    outcome = host.start(spec)
    assert not outcome.ok and outcome.hint is not None
    assert outcome.hint.startswith("no HTTP answer within 1 s")
    assert f"nothing listens on port {spec.port}" in outcome.hint
    assert "listens on port(s) 5173" in outcome.hint
    assert outcome.output_tail == "ready on 5173\n"
    assert pids_with(token) == []  # the failed preview's process is stopped
    assert any(c.args[0] == LISTENERS_COMMAND for c in cloud.current.commands.run.call_args_list)


def test_preview_timeout_names_the_wrong_interface(sandbox: E2BSandbox, cloud: FakeCloud) -> None:
    port = free_port()
    fake_ss(cloud, f"LISTEN 0 511 10.11.0.2%eth0:{port} 0.0.0.0:*")
    host = e2b_preview(sandbox, 0.5)
    outcome = host.start(PreviewSpec(command="sleep 60", port=port))
    assert outcome.hint is not None and "only on 10.11.0.2" in outcome.hint


def test_screenshot_loads_the_public_url_after_pushing_edits(
    sandbox: E2BSandbox, ws: Path, cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def fake_capture(url: str, **kwargs: Any) -> list[Screenshot]:
        calls.append((url, kwargs))
        return [Screenshot(DESKTOP, b"png", 200)]

    monkeypatch.setattr(screenshot, "capture", fake_capture)
    monkeypatch.setattr(screenshot, "find_chromium", lambda configured: "/opt/chromium")
    host = e2b_preview(sandbox)
    with pytest.raises(ScreenshotError, match="no preview is running"):
        host.screenshot()
    port, token = free_port(), f"cf-e2b-shot-{os.getpid()}-{free_port()}"
    assert host.start(PreviewSpec(command=server_command(port, token), port=port)).ok

    (ws / "about.html").write_text("edited by a file tool\n")  # no exec since: not pushed yet
    shots = host.screenshot("about.html")
    assert shots == [Screenshot(DESKTOP, b"png", 200)]
    url = f"https://{port}-sbx-1.e2b.app/about.html"
    assert calls == [(url, {"chromium": "/opt/chromium", "netns_path": None, "nsenter": None})]
    assert (cloud.remote / "about.html").read_text() == "edited by a file tool\n"

    host.stop()
    with pytest.raises(ScreenshotError, match="no preview is running"):
        host.screenshot()


# --- the probe and the listener parser, run for real ----------------------------------------


@pytest.fixture
def http_port() -> Iterator[int]:
    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404 if self.path == "/missing" else 200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def run_probe(command: str, path_env: str | None = None) -> str:
    env = {"PATH": path_env or os.environ["PATH"]}
    return subprocess.run(
        ["/bin/bash", "-c", command], env=env, capture_output=True, text=True, timeout=20
    ).stdout


@pytest.mark.parametrize("with_curl", [True, False], ids=["curl", "python3-fallback"])
def test_probe_reports_any_http_status(http_port: int, tmp_path: Path, with_curl: bool) -> None:
    path_env = None
    if not with_curl:  # a PATH where only python3 is found
        only_python = tmp_path / "bin"
        only_python.mkdir()
        (only_python / "python3").symlink_to(sys.executable)
        path_env = str(only_python)
        assert run_probe("command -v curl || echo none", path_env) == "none\n"
    assert parse_status(run_probe(probe_command(http_port, "/"), path_env)) == 200
    assert parse_status(run_probe(probe_command(http_port, "/missing"), path_env)) == 404
    assert parse_status(run_probe(probe_command(free_port(), "/"), path_env)) is None


def test_listeners_from_proc_net_tcp_without_ss(tmp_path: Path) -> None:
    """Without `ss` the command reads /proc/net/tcp*: run it here with a real listening socket."""
    only_cat = tmp_path / "bin"
    only_cat.mkdir()
    cat = subprocess.run(["bash", "-c", "command -v cat"], capture_output=True, text=True)
    (only_cat / "cat").symlink_to(cat.stdout.strip())
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = int(listening.getsockname()[1])
        out = run_probe(LISTENERS_COMMAND, path_env=str(only_cat))
        assert out.startswith("#proc\n")
        assert Listener("127.0.0.1", port) in parse_listeners(out)
