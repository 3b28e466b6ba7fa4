"""The live preview end to end through the CLI: the app the agent starts is reachable at the
session's `preview_url` while the build runs; a SIGKILLed build leaves nothing running and
`resume` brings the app back at the same URL; budget sleep stops it and waking restarts it;
after the build `cofounder preview` serves it again until interrupted; the example build's
screenshots are stored and can be saved as PNG files."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cf_support import EXAMPLE, Backend, app_db_url, session_id_from
from cofounder.sandbox import bwrap_available
from cofounder.storage import Database, EventLog, SessionStore

pytestmark = pytest.mark.skipif(
    not bwrap_available() or os.geteuid() != 0,
    reason="the preview needs bubblewrap and a root worker (persistent sandbox network)",
)

SERVER = """\
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<title>Preview e2e</title>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", 8000), H).serve_forever()
"""


def _project(tmp_path: Path, marker: str, middle: list[dict[str, Any]]) -> Path:
    turns: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "write_file", "input": {"path": "server.py", "content": SERVER}}]},
        {
            "tool_calls": [
                {
                    "name": "preview",
                    "input": {"command": f"python3 server.py {marker}", "port": 8000},
                }
            ]
        },
        *middle,
        {"text": "done", "expect": [], "usage": {"input_tokens": 2000, "output_tokens": 200}},
    ]
    for turn in turns:
        turn.setdefault("usage", {"input_tokens": 2000, "output_tokens": 200})
    (tmp_path / "trajectory.yaml").write_text(yaml.safe_dump({"turns": turns}))
    path = tmp_path / "cofounder.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "Previewed",
                "goal": "serve a page",
                "idea_brief": {"what": "a page"},
                "understanding_qna": [],
                "owner": "alice",
                "model": "scripted:trajectory.yaml",
            }
        )
    )
    return path


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return bytes(response.read())
    except OSError:
        return None


def _running(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    return found.stdout.split()


def _until(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _bash_started(db: _Db, session_id: str) -> bool:
    return any(p["name"] == "bash" for p in db.of_type(session_id, "tool_started"))


class _Db:
    def __init__(self, backend: Backend) -> None:
        self.db = Database(app_db_url(backend))
        self.db.migrate()  # the build may not have created the tables yet (migrations lock)
        self.events = EventLog(self.db)
        self.sessions = SessionStore(self.db)

    def of_type(self, session_id: str, kind: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.events.read(session_id, limit=100_000) if e.type == kind]

    def only_session(self) -> str | None:
        rows = self.sessions.list()
        return rows[0].id if rows else None


def test_the_app_is_live_during_the_build_comes_back_after_a_kill_and_is_served_after(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    """The step after the preview runs until the test lets it go (a file in the workspace), so
    the app is up whenever the test looks, and the kill lands in that step: a fixed `sleep 4`
    could be over, and the build and its app gone, before a loaded machine's test looked."""
    marker = f"pv-{uuid.uuid4().hex[:10]}"
    hold = "while [ ! -e go ]; do sleep 0.1; done"
    held = {"tool_calls": [{"name": "bash", "input": {"command": hold, "timeout": 600}}]}
    project = _project(tmp_path, marker, [held])
    build = sqlite_backend.popen("build", str(project))
    resumed: subprocess.Popen[str] | None = None
    db = _Db(sqlite_backend)
    try:
        session_id = _until("the session row", db.only_session)
        record = _until(
            "the preview url", lambda: (r := db.sessions.get(session_id)) and r.preview_url and r
        )
        url = record.preview_url
        assert url.startswith("http://127.0.0.1:")
        assert b"Preview e2e" in (_get(url) or b"")
        _until("the held step", lambda: _bash_started(db, session_id))
        build.send_signal(signal.SIGKILL)
        build.wait(timeout=60)
        _until("the app to die with the build", lambda: not _running(marker) and _get(url) is None)

        resumed = sqlite_backend.popen("resume", session_id)
        back = _until(
            "the restarted preview",
            lambda: [p for p in db.of_type(session_id, "preview_ready") if p["restarted"]],
        )
        assert back[0]["url"] == url  # the founder's bookmark still works
        assert b"Preview e2e" in (_until("the page again", lambda: _get(url)))
        # The held step runs again from the workspace of the last commit, restored before the
        # app restarted: the gate made now lasts.
        assert db.of_type(session_id, "workspace_restored"), "restarted before the restore"
        workspace = sqlite_backend.cli("workspace", session_id).stdout.strip()
        (Path(workspace) / "go").touch()
        out, err = resumed.communicate(timeout=180)
        assert resumed.returncode == 0, out + err
    finally:
        for process in (build, resumed):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()
    assert _get(url) is None and not _running(marker)
    stopped = db.of_type(session_id, "preview_stopped")
    assert stopped[-1]["reason"] == "completed"

    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["preview_url"] is None
    assert status["preview_command"] == f"python3 server.py {marker} (port 8000)"

    serve = sqlite_backend.popen("preview", session_id)
    assert serve.stdout is not None
    line = serve.stdout.readline()
    assert "Serving Previewed at http://127.0.0.1:" in line, line
    served_url = line.split(" at ", 1)[1].split()[0]
    assert b"Preview e2e" in (_get(served_url) or b"")
    serve.send_signal(signal.SIGINT)
    out, err = serve.communicate(timeout=60)  # a loaded CI machine took over 20 s once
    assert serve.returncode == 0, out + err
    assert "preview stopped" in out
    assert _get(served_url) is None and not _running(marker)

    # Ctrl-C the moment the URL shows: a clean stop, not a KeyboardInterrupt (exit 130).
    again = sqlite_backend.popen("preview", session_id)
    assert again.stdout is not None
    assert "Serving" in again.stdout.readline()
    again.send_signal(signal.SIGINT)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, out + err
    assert "preview stopped" in out and not _running(marker)
    db.db.close()


def test_budget_sleep_stops_the_app_and_waking_restarts_it(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    marker = f"pv-{uuid.uuid4().hex[:10]}"
    narrate = [
        {"tool_calls": [{"name": "narrate", "input": {"message": f"step {n}"}}]} for n in range(4)
    ]
    env = {
        "COFOUNDER_PRICES": json.dumps({"scripted:*": {"input": 1, "output": 2}}),
        "COFOUNDER_ALLOWANCES": json.dumps({"bootstrapper": 0.009}),
        "COFOUNDER_BUDGET_WINDOW_SECONDS": "2",
        "COFOUNDER_MAX_TOKENS": "1000",
    }
    result = sqlite_backend.cli_within(
        180, "build", str(_project(tmp_path, marker, narrate)), **env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)
    db = _Db(sqlite_backend)
    events = [(e.type, e.payload) for e in db.events.read(session_id, limit=100_000)]
    kinds = [t for t, _ in events]
    assert "sleeping" in kinds
    first_sleep = kinds.index("sleeping")
    ready = [i for i, (t, p) in enumerate(events) if t == "preview_ready" and not p["restarted"]]
    assert ready and ready[0] < first_sleep
    stop_on_sleep = [
        i for i, (t, p) in enumerate(events) if t == "preview_stopped" and p["reason"] == "sleeping"
    ]
    assert stop_on_sleep, kinds
    restarted = [
        i
        for i, (t, p) in enumerate(events)
        if t == "preview_ready" and p["restarted"] and i > stop_on_sleep[0]
    ]
    assert restarted and kinds.index("waking", stop_on_sleep[0]) < restarted[0]
    assert not _running(marker)
    db.db.close()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists() and os.environ.get("CI") != "true",
    reason="Debian chromium is not installed (CI installs it)",
)
def test_the_example_is_reachable_while_it_builds_and_its_screenshots_can_be_saved(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    build = sqlite_backend.popen("build", str(EXAMPLE))
    db = _Db(sqlite_backend)
    session_id = _until("the session row", db.only_session)
    ready = _until("the preview", lambda: db.of_type(session_id, "preview_ready"))
    page = _get(ready[0]["url"])  # the screenshots run right after: the app is still up
    out, err = build.communicate(timeout=180)
    assert build.returncode == 0, out + err
    assert page is not None and b"<title>Habit Tracker</title>" in page
    (taken,) = db.of_type(session_id, "screenshot_taken")
    assert [(s["width"], s["height"]) for s in taken["screenshots"]] == [(1280, 800), (390, 844)]
    saved = sqlite_backend.cli("screenshots", session_id, "--out", str(tmp_path / "shots"))
    assert saved.returncode == 0, saved.stdout + saved.stderr
    files = sorted((tmp_path / "shots").glob("*.png"))
    assert [_png_size(f.read_bytes()) for f in files] == [(1280, 800), (390, 844)]
    # The conversation holds references, not the bytes, and the model saw both images.
    db.db.close()


def test_preview_of_a_session_without_one_is_refused(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    project = tmp_path / "cofounder.yaml"
    (tmp_path / "trajectory.yaml").write_text(yaml.safe_dump({"turns": [{"text": "done"}]}))
    project.write_text(
        yaml.safe_dump(
            {
                "name": "Plain",
                "goal": "nothing",
                "idea_brief": {"what": "x"},
                "understanding_qna": [],
                "model": "scripted:trajectory.yaml",
            }
        )
    )
    built = sqlite_backend.cli("build", str(project))
    assert built.returncode == 0, built.stdout + built.stderr
    refused = sqlite_backend.cli("preview", session_id_from(built.stdout))
    assert refused.returncode == 2
    assert "never started a preview" in refused.stdout + refused.stderr


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists() and os.environ.get("CI") != "true",
    reason="Debian chromium is not installed (CI installs it)",
)
def test_two_pages_photographed_in_one_turn_are_saved_apart(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    shots = {
        "tool_calls": [
            {"name": "take_screenshot", "input": {"path": "/"}},
            {"name": "take_screenshot", "input": {"path": "/other"}},
        ]
    }
    project = _project(tmp_path, f"pv-{uuid.uuid4().hex[:10]}", [shots])
    built = sqlite_backend.cli("build", str(project))
    assert built.returncode == 0, built.stdout + built.stderr
    saved = sqlite_backend.cli(
        "screenshots", session_id_from(built.stdout), "--out", str(tmp_path / "out")
    )
    assert saved.returncode == 0, saved.stdout + saved.stderr
    files = sorted((tmp_path / "out").glob("*.png"))
    assert len(files) == 4, [f.name for f in files]
    assert sorted(_png_size(f.read_bytes()) for f in files) == [(390, 844)] * 2 + [(1280, 800)] * 2
