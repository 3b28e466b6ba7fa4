"""bash in the background, `processes`, `preview` and `take_screenshot` as the model sees them,
over a real bubblewrap sandbox (and real Chromium for the screenshots)."""

from __future__ import annotations

import os
import shutil
import struct
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from cofounder.tools import ToolBox, ToolRun, tool_specs

Call = Callable[..., ToolRun]  # the `call` fixture (tools/conftest.py)

SERVER = """\
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<title>Tool preview</title><h1 style='color:#036'>Hello</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        print("request", self.path, flush=True)
print("listening", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
"""

needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None and os.environ.get("CI") != "true",
    reason="Debian chromium is not installed (CI installs it)",
)


def test_the_new_tools_are_offered() -> None:
    names = {t.name for t in tool_specs()}
    assert {"processes", "preview", "take_screenshot"} <= names
    bash = next(t for t in tool_specs() if t.name == "bash")
    assert "background" in bash.input_schema["properties"]


def test_bash_background_keeps_running_across_calls(ws: Path, call: Call) -> None:
    (ws / "server.py").write_text(SERVER)
    started = call(
        "bash", **{"command": "python3 server.py 8000", "background": True, "name": "api"}
    )
    assert started.result.ok, started.result.content
    assert "p1 (api)" in started.result.content and "listening" in started.result.content
    probe = call(
        "bash",
        command='python3 -c "import urllib.request as u; '
        "print(u.urlopen('http://127.0.0.1:8000/x').read().decode())\"",
    )
    assert probe.result.ok and "Tool preview" in probe.result.content
    listed = call("processes", action="list")
    assert "p1" in listed.result.content and "running" in listed.result.content
    out = call("processes", action="output", id="p1")
    assert "request /x" in out.result.content
    stopped = call("processes", action="stop", id="p1")
    assert stopped.result.ok and "exited" in stopped.result.content
    again = call(
        "bash",
        command="python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:8000/')\"",
    )
    assert not again.result.ok  # the server is gone


def test_a_background_command_that_fails_at_once_says_so(call: Call) -> None:
    run = call("bash", command="echo 'no such app' >&2; exit 4", background=True)
    assert not run.result.ok and run.result.exit_code == 4
    assert "exited at once with code 4" in run.result.content
    assert "no such app" in run.result.content


def test_bad_process_requests_are_precise(call: Call) -> None:
    missing = call("processes", action="stop")
    assert not missing.result.ok and "needs the process `id`" in missing.result.content
    unknown = call("processes", action="output", id="p9")
    assert not unknown.result.ok and "no background process 'p9'" in unknown.result.content
    bad = call("bash", command="true", timeout=5, background=True)
    assert not bad.result.ok and "timeout" in bad.result.content
    named = call("bash", **{"command": "true", "name": "x"})
    assert not named.result.ok and "only for background" in named.result.content


def test_preview_publishes_the_app_and_leaves_the_url_out_of_the_text(ws: Path, call: Call) -> None:
    (ws / "server.py").write_text(SERVER)
    run = call("preview", command="python3 server.py 8000", port=8000)
    assert run.result.ok, run.result.content
    assert "answers HTTP 200 at / on port 8000" in run.result.content
    assert "127.0.0.1:" not in run.result.content  # the founder's URL is not the model's
    (effect,) = run.effects
    assert effect.kind == "preview" and effect.outcome.ok
    url = effect.outcome.url
    assert url is not None and url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=5) as response:
        assert b"Tool preview" in response.read()


def test_a_failing_preview_explains_itself(ws: Path, call: Call) -> None:
    (ws / "server.py").write_text(SERVER)
    run = call("preview", command="python3 server.py 8001", port=8000)
    assert not run.result.ok
    assert "8001" in run.result.content and "listening" in run.result.content
    (effect,) = run.effects
    assert effect.kind == "preview"
    assert not effect.outcome.ok and effect.outcome.url is None


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@needs_chromium
def test_take_screenshot_returns_desktop_and_mobile_images(
    ws: Path, call: Call, toolbox: ToolBox
) -> None:
    early = call("take_screenshot")
    assert not early.result.ok and "preview" in early.result.content
    (ws / "server.py").write_text(SERVER)
    assert call("preview", command="python3 server.py 8000", port=8000).result.ok
    shot = call("take_screenshot", path="/")
    assert shot.result.ok, shot.result.content
    assert "desktop 1280x800 and mobile 390x844" in shot.result.content
    assert [(i.width, i.height) for i in shot.images] == [(1280, 800), (390, 844)]
    assert [_png_size(i.data) for i in shot.images] == [(1280, 800), (390, 844)]
    assert all(i.media_type == "image/png" for i in shot.images)
