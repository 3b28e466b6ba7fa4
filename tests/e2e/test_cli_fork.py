"""`cofounder fork`: a new session from any committed iteration of another. Before it runs its
workspace equals `restore --iteration N` byte for byte; it then continues on another scripted
path and completes; the original's workspace, transcript and events are unchanged; the owner
is billed for the fork's own model calls only; its first event and its status name the parent.
Only the owner may fork, and only a committed iteration; without --no-run it runs at once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from cf_support import Backend, scripted_project, session_id_from, transcript_of

USAGE = {"input_tokens": 2_000, "output_tokens": 200}  # 2,400 microdollars a call, as priced
PRICES = {"COFOUNDER_PRICES": json.dumps({"scripted:*": {"input": 1, "output": 2}})}


def _call(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "input": args}


def _write(path: str, content: str) -> dict[str, Any]:
    return {"tool_calls": [_call("write_file", path=path, content=content)], "usage": USAGE}


PARENT = [
    _write("app.txt", "one\n"),
    _write("app.txt", "two\n"),  # the path the founder did not like
    _write("extra.txt", "more\n"),
    {"text": "done", "usage": USAGE},
]
FORK = [
    PARENT[0],  # played by the parent before the fork point: never asked again
    _write("fork.txt", "another way\n"),
    {"text": "done differently", "usage": USAGE},
]


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }


def _json(backend: Backend, *args: str) -> Any:
    done = backend.cli(*args, "--json", **PRICES)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _transcript(backend: Backend, session_id: str) -> list[str]:
    return [m.model_dump_json() for m in transcript_of(backend, session_id)]


def _own_status(backend: Backend, session_id: str) -> dict[str, Any]:
    """The session's status less the owner's budget (which the fork's spend moves)."""
    status: dict[str, Any] = _json(backend, "status", session_id)[0]
    return {k: v for k, v in status.items() if not k.startswith("budget_")}


def _workspace(backend: Backend, session_id: str) -> Path:
    return Path(backend.cli("workspace", session_id).stdout.strip())


def test_a_fork_starts_from_the_iteration_and_leaves_the_original_alone(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    built = sqlite_backend.cli("build", str(scripted_project(tmp_path / "p", PARENT)), **PRICES)
    assert built.returncode == 0, built.stdout + built.stderr
    parent = session_id_from(built.stdout)
    before = (
        _files(_workspace(sqlite_backend, parent)),
        _json(sqlite_backend, "events", parent),
        _own_status(sqlite_backend, parent),
        _transcript(sqlite_backend, parent),
    )
    restored = tmp_path / "restored"
    assert sqlite_backend.cli("restore", parent, str(restored), "--iteration", "1").returncode == 0

    other = tmp_path / "fork.yaml"
    other.write_text(yaml.safe_dump({"turns": FORK}))
    queued = sqlite_backend.cli(
        "fork", parent, "--iteration", "1", "--model", f"scripted:{other}", "--no-run",
        "--as", "alice", **PRICES,
    )  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    fork = session_id_from(queued.stdout)
    assert _files(_workspace(sqlite_backend, fork)) == _files(restored)
    assert _files(restored)["app.txt"] == b"one\n"

    ran = sqlite_backend.cli("resume", fork, **PRICES)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    status = _json(sqlite_backend, "status", fork)[0]
    assert status["state"] == "completed"
    assert status["parent_session_id"] == parent and status["forked_from_iteration"] == 1
    first = _json(sqlite_backend, "events", fork)[0]
    assert first["type"] == "session_started"
    assert first["payload"]["parent_session_id"] == parent
    assert first["payload"]["forked_from_iteration"] == 1
    files = _files(_workspace(sqlite_backend, fork))
    assert files["app.txt"] == b"one\n" and files["fork.txt"] == b"another way\n"
    assert "extra.txt" not in files

    after = (
        _files(_workspace(sqlite_backend, parent)),
        _json(sqlite_backend, "events", parent),
        _own_status(sqlite_backend, parent),
        _transcript(sqlite_backend, parent),
    )
    assert after == before  # the original: files, events, status (spend too), transcript
    shared = _transcript(sqlite_backend, fork)
    assert shared[: len(before[3])] != before[3] and shared[:3] == before[3][:3]  # up to it
    # Billed once: the parent's four calls and the fork's own two, nothing copied.
    assert before[2]["spend_microdollars"] == 4 * 2_400
    assert status["spend_microdollars"] == 2 * 2_400
    (budget,) = _json(sqlite_backend, "budget", "alice")
    assert budget["spent_microdollars"] == 6 * 2_400


def test_only_the_owner_forks_and_only_a_committed_iteration(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    built = sqlite_backend.cli("build", str(scripted_project(tmp_path / "p", PARENT)))
    parent = session_id_from(built.stdout)
    theirs = sqlite_backend.cli("fork", parent, "--iteration", "1", "--as", "mallory")
    assert theirs.returncode == 2 and "only the session's owner" in theirs.stderr
    beyond = sqlite_backend.cli("fork", parent, "--iteration", "99", "--as", "alice")
    assert beyond.returncode == 2 and "no committed iteration 99" in beyond.stderr
    sessions = sqlite_backend.cli("sessions", "--json").stdout.splitlines()
    assert len(sessions) == 1  # nothing was created
    # Without --no-run the fork runs here, like `build`, and exits as the build ends.
    ran = sqlite_backend.cli("fork", parent, "--iteration", "2", "--as", "alice")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"forked from {parent} at iteration 2" in ran.stdout
    fork = session_id_from(ran.stdout)
    status = _json(sqlite_backend, "status", fork)[0]
    assert status["state"] == "completed" and status["forked_from_iteration"] == 2
    assert "extra.txt" in _files(_workspace(sqlite_backend, fork))


def test_a_running_build_forks_from_its_last_committed_iteration_or_earlier(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    """The second step runs until the test lets it go (a file in the workspace), so the forks
    land while it runs however slow the machine: a fixed `sleep 8` could be over before a
    loaded machine's two `cofounder fork` calls. The fork ends at once on a model of its own:
    the build's worker may run it too, and on the parent's model it would wait for a gate of
    its own."""
    hold = "while [ ! -e go ]; do sleep 0.1; done; echo slow"
    turns = [
        _write("app.txt", "one\n"),
        {"tool_calls": [_call("bash", command=hold, timeout=600)]},
        {"text": "done"},
    ]
    quick = tmp_path / "fork.yaml"
    quick.write_text(yaml.safe_dump({"turns": [turns[0], {"text": "done"}]}))
    run = sqlite_backend.popen("build", str(scripted_project(tmp_path / "p", turns)))
    try:
        assert run.stdout is not None
        parent = run.stdout.readline().removeprefix("session: ").strip()
        deadline = time.monotonic() + 120
        while not any(
            e["type"] == "tool_started" and e["payload"]["iteration"] == 2
            for e in _json(sqlite_backend, "events", parent)
        ):  # iteration 1 is committed, iteration 2's slow step under way
            assert time.monotonic() < deadline, "the build never reached its second step"
            time.sleep(0.1)

        early = sqlite_backend.cli("fork", parent, "--iteration", "2", "--no-run", "--as", "alice")
        assert early.returncode == 2
        assert f"session {parent} has no committed iteration 2 (its iterations are 0 to 1)" in (
            early.stderr
        )
        queued = sqlite_backend.cli(
            "fork", parent, "--iteration", "1", "--model", f"scripted:{quick}", "--no-run",
            "--as", "alice",
        )  # fmt: skip
        assert queued.returncode == 0, queued.stderr
        fork = session_id_from(queued.stdout)
        assert _files(_workspace(sqlite_backend, fork)) == {"app.txt": b"one\n"}
        (_workspace(sqlite_backend, parent) / "go").touch()
        out, err = run.communicate(timeout=180)
        assert run.returncode == 0, out + err  # the original runs on, untouched
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert _json(sqlite_backend, "status", parent)[0]["state"] == "completed"


def _doc(text: str) -> dict[str, Any]:
    return _call("document", section="overview", content=text)


def _serve(port: int, path: str = "/") -> dict[str, Any]:
    return _call("preview", command=f"python3 -m http.server {port}", port=port, path=path)


# Iteration 1 writes the first overview and starts the app; 2 rewrites the overview; 3 moves
# the app to another port and page.
DOCUMENTED: list[dict[str, Any]] = [
    {"tool_calls": [_doc("first draft"), _serve(8000)]},
    {"tool_calls": [_doc("second draft")]},
    {"tool_calls": [_serve(8001, "/index")]},
    {"text": "done"},
]


def test_a_fork_carries_the_documentation_and_the_preview_as_they_stood_at_its_iteration(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    built = sqlite_backend.cli("build", str(scripted_project(tmp_path / "p", DOCUMENTED)))
    assert built.returncode == 0, built.stdout + built.stderr
    parent = session_id_from(built.stdout)
    parent_docs = sqlite_backend.cli("docs", parent).stdout
    parent_status = _json(sqlite_backend, "status", parent)[0]

    seen: dict[int, tuple[str, str | None]] = {}
    for iteration in range(4):
        queued = sqlite_backend.cli(
            "fork", parent, "--iteration", str(iteration), "--no-run", "--as", "alice"
        )
        assert queued.returncode == 0, queued.stderr
        fork = session_id_from(queued.stdout)
        docs = sqlite_backend.cli("docs", fork)
        assert docs.returncode == 0, docs.stderr
        seen[iteration] = (docs.stdout, _json(sqlite_backend, "status", fork)[0]["preview_command"])

    def has(iteration: int, text: str) -> bool:
        return text in seen[iteration][0]

    assert not has(0, "draft") and seen[0][1] is None  # nothing written or served yet
    assert has(1, "first draft") and not has(1, "second draft")
    assert seen[1][1] == seen[2][1] == "python3 -m http.server 8000 (port 8000)"
    assert has(2, "second draft") and not has(2, "first draft")
    assert seen[3] == (parent_docs, parent_status["preview_command"])
    assert seen[3][1] == "python3 -m http.server 8001 (port 8001)"
    # The parent is untouched by its forks.
    assert sqlite_backend.cli("docs", parent).stdout == parent_docs
