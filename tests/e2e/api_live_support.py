"""A rig for the live API tests: `cofounder serve` (with its embedded worker) on a loopback port
over a test's data dir, its scripted tier model configured as an operator would, a token for
the founder, and an SSE reader that can hang up anywhere, even inside a message."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import yaml

from cf_support import REPO, Backend

OWNER = "alice"
# What a POST that queues a build answers: a worker may claim it before the answer is read.
JUST_QUEUED = {"queued", "running"}
GATE = "go"  # the file in a build's workspace that lets its `held` call go on
_USAGE = {"input_tokens": 2_000, "output_tokens": 200}
PROJECT = {
    "name": "Streaks",
    "goal": "print a streak",
    "idea_brief": {"what": "streaks"},
    "understanding_qna": [],
}


def call(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "input": args}


def held(command: str, gate: str = GATE) -> dict[str, Any]:
    """A bash call that runs `command` once the test opens `gate` (`Live.open_gate`): what the
    build is doing when the test acts is then a fact, not a guess that a sleep is not over yet
    on a loaded machine."""
    return call("bash", command=f"until [ -e {gate} ]; do sleep 0.05; done; {command}", timeout=600)


# A build that sleeps for its budget within a few turns: each turn costs 2,400 microdollars of
# an allowance of 12,000, in a window of an hour.
SLEEPY_TURNS: list[dict[str, Any]] = [
    {"tool_calls": [call("narrate", message=f"step {n}")], "usage": _USAGE} for n in range(12)
] + [{"text": "done", "usage": _USAGE}]
SLEEPY_BUDGET = {
    "COFOUNDER_PRICES": json.dumps({"scripted:*": {"input": 1, "output": 2}}),
    "COFOUNDER_ALLOWANCES": json.dumps({"bootstrapper": "0.012"}),
    "COFOUNDER_BUDGET_WINDOW_SECONDS": "3600",
    "COFOUNDER_MAX_TOKENS": "1000",
}


@dataclass(frozen=True)
class Message:
    """One complete SSE message."""

    id: int
    event: str
    data: dict[str, Any]


@dataclass
class Reading:
    """What one connection to a stream delivered before it ended or was dropped."""

    messages: list[Message] = field(default_factory=list)
    ended: bool = False  # the server closed it (after session_finished)


@dataclass
class Live:
    base: str
    token: str
    backend: Backend
    http: httpx2.Client

    def api(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        return self.http.request(method, f"{self.base}/api/v1{path}", **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.api(method, path, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def start_build(self, **fields: Any) -> str:
        """POST a project, then a build of it (as a founder's front end would)."""
        project = self.ok("POST", "/projects", json=PROJECT | fields)
        started = self.ok("POST", f"/projects/{project['project_id']}/builds", json={})
        assert started["build_version"] == "build_v0_1" and started["state"] in JUST_QUEUED
        return str(started["session_id"])

    def session(self, session_id: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/sessions/{session_id}"))

    def wait_for(
        self, session_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 90
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not done(status := self.session(session_id)):
            assert time.monotonic() < deadline, f"gave up waiting; the session is {status}"
            time.sleep(0.1)
        return status

    def events(self, session_id: str) -> list[dict[str, Any]]:
        """The whole log through the paged route."""
        out: list[dict[str, Any]] = []
        while True:
            after = out[-1]["seq"] if out else 0
            page = self.ok("GET", f"/sessions/{session_id}/events?after={after}&limit=1000")
            out += page["events"]
            if not page["events"]:
                return out

    def open_gate(self, session_id: str, gate: str = GATE) -> None:
        """Let the session's `held` call go on: the gate is a file in its workspace."""
        found = self.backend.cli("workspace", session_id)
        assert found.returncode == 0, found.stderr
        (Path(found.stdout.strip()) / gate).touch()

    def model_calls(self, session_id: str) -> int:
        """The model requests the session made (the scripted model logs each one)."""
        log = self.backend.home / "sessions" / session_id / "model-requests.jsonl"
        return len(log.read_text().splitlines()) if log.exists() else 0

    def read_stream(
        self,
        session_id: str,
        *,
        last_event_id: int | None = None,
        hang_up_after: int | None = None,
        until: Callable[[Message], bool] = lambda _: False,
    ) -> Reading:
        """Read the SSE stream until it ends, `hang_up_after` bytes have arrived (the
        connection is dropped there, maybe inside a message), or `until` a message."""
        headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
        reading, pending, seen = Reading(), b"", 0
        url = f"{self.base}/api/v1/sessions/{session_id}/events/stream"
        with self.http.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            for chunk in response.iter_raw():
                if hang_up_after is not None and seen + len(chunk) >= hang_up_after:
                    pending += chunk[: hang_up_after - seen]
                    reading.messages += _complete(pending)[0]
                    return reading
                seen += len(chunk)
                done, pending = _complete(pending + chunk)
                for message in done:
                    reading.messages.append(message)
                    if until(message):
                        return reading
            reading.ended = True
            assert pending == b"", f"the stream ended inside a message: {pending!r}"
        return reading


def _complete(buffer: bytes) -> tuple[list[Message], bytes]:
    """The whole messages in `buffer` (heartbeat comments skipped) and the rest."""
    *blocks, rest = buffer.split(b"\n\n")
    messages = []
    for block in blocks:
        fields = {}
        for line in block.decode().split("\n"):
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "id" in fields:  # not the `retry:` advice a stream opens with
            messages.append(Message(int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return messages, rest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(backend: Backend, turns: list[dict[str, Any]], **env: str) -> Iterator[Live]:
    """`cofounder serve` whose bootstrapper coder replays `turns`, until the block ends."""
    trajectory = backend.home.parent / "trajectory.yaml"
    trajectory.parent.mkdir(parents=True, exist_ok=True)
    trajectory.write_text(yaml.safe_dump({"turns": turns}))
    env["COFOUNDER_TIERS"] = json.dumps({"bootstrapper": {"coder": f"scripted:{trajectory}"}})
    created = backend.cli("token", "create", OWNER, "--json", **env)
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)["token"]
    port = _free_port()
    log = backend.home.parent / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cofounder", "serve", "--port", str(port)],
            env=backend.env(**env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx2.Client(headers=headers, timeout=httpx2.Timeout(30.0)) as http:
            _wait_ready(http, base, proc, log)
            yield Live(base, token, backend, http)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(http: httpx2.Client, base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until /readyz says the database and the embedded worker are up."""
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, f"serve exited:\n{log.read_text(errors='replace')}"
        assert time.monotonic() < deadline, f"serve not ready:\n{log.read_text(errors='replace')}"
        try:
            if http.get(f"{base}/readyz").status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
