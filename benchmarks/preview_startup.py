"""The preview path, measured: starting the app, requests through the host-loopback forward,
and screenshots, each beside a baseline from the same run.

- preview ready: the local preview's `start` (background bwrap + forward + HTTP health
  check) until the app answers, vs. starting the same server as a plain host process until
  it answers.
- request: one HTTP GET through the forward (relay inside the sandbox's namespace) vs. the
  same GET to the same server run on the host directly.
- screenshot: desktop + mobile captures through the sandbox's namespace (Chromium via nsenter)
  vs. the same captures of the host-run server without a namespace.

    .venv/bin/python benchmarks/preview_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cofounder.sandbox import BwrapSandbox, LocalSandboxConfig
from cofounder.sandbox.local.exposure import probe_http
from cofounder.sandbox.preview_types import PreviewSpec
from cofounder.sandbox.screenshot import capture, find_chromium

SERVER = """\
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<title>bench</title><h1>hello</h1>" * 20
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def until_up(url: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while probe_http(url) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} never answered")
        time.sleep(0.005)


def host_server_ready(workspace: Path, port: int) -> tuple[float, subprocess.Popen[bytes]]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(workspace / "server.py"), str(port)])
    until_up(f"http://127.0.0.1:{port}/")
    return time.perf_counter() - started, proc


def get_once(host: str, port: int) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("GET", "/")
    conn.getresponse().read()
    conn.close()
    return time.perf_counter() - started


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the preview needs a root worker (persistent sandbox network)")
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        (workspace / "server.py").write_text(SERVER)
        spec = PreviewSpec(command="python3 server.py 8000", port=8000)

        base_ready, preview_ready = [], []
        for _ in range(args.runs):
            seconds, proc = host_server_ready(workspace, free_port())
            base_ready.append(seconds)
            proc.kill()
            proc.wait()
            with BwrapSandbox(workspace) as sb:
                started = time.perf_counter()
                outcome = LocalSandboxConfig().preview(sb).start(spec)
                preview_ready.append(time.perf_counter() - started)
                assert outcome.ok, outcome.hint
        rows.append(("app ready (start → first HTTP answer)", median_ms(base_ready),
                     median_ms(preview_ready)))  # fmt: skip

        port = free_port()
        _, host_proc = host_server_ready(workspace, port)
        try:
            with BwrapSandbox(workspace) as sb:
                preview = LocalSandboxConfig().preview(sb)
                outcome = preview.start(spec)
                assert outcome.ok and outcome.url is not None
                forward_port = int(outcome.url.rsplit(":", 1)[1])
                direct = timed(lambda: get_once("127.0.0.1", port), args.runs * 20)
                forwarded = timed(lambda: get_once("127.0.0.1", forward_port), args.runs * 20)
                rows.append(("one GET (new connection)", median_ms(direct), median_ms(forwarded)))
                chromium = find_chromium(None)
                plain_shots = timed(
                    lambda: capture(f"http://127.0.0.1:{port}/", chromium=chromium),
                    max(3, args.runs // 2),
                )
                sandboxed_shots = timed(preview.screenshot, max(3, args.runs // 2))
                rows.append(("screenshots (desktop + mobile)", median_ms(plain_shots),
                             median_ms(sandboxed_shots)))  # fmt: skip
        finally:
            host_proc.kill()
            host_proc.wait()
    print(f"runs: {args.runs} (GETs: {args.runs * 20}); medians in ms")
    print(f"{'what':<40}{'host, no sandbox':>18}{'sandboxed preview':>19}{'ratio':>8}")
    for what, base, ours in rows:
        print(f"{what:<40}{base:>18.1f}{ours:>19.1f}{ours / base:>7.2f}x")


if __name__ == "__main__":
    main()
