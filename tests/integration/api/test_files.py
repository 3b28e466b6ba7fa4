"""What a build left the founder, over HTTP: documentation in reading order, the code as a
streamed tar.gz that holds what `cofounder export` writes, screenshots (listed, then fetched as
verified PNG bytes), the preview's state, and the model table. Another owner gets a 404 that
reads exactly like one for an id nobody has."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from api_support import API, Api, Owned, api_settings, bearer, make_owned, serve
from files_support import add_events, add_screenshots, png, preview_ready, preview_stopped

from cf_support import Backend
from cofounder.events import PreviewFailed
from cofounder.storage import Checkpoint
from cofounder.storage.documents import upsert_document_in
from cofounder.storage.sessions import row_in
from cofounder.storage.snapshots.export import tar_stream
from cofounder.storage.transcript import save_checkpoint_in


def _get(api: Api, path: str, owner: str = "alice", **kwargs: Any) -> Any:
    return api.client.get(f"{API}{path}", headers=bearer(api.token(owner)), **kwargs)


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def _same_404(api: Api, theirs: str, nobodys: str) -> None:
    """bob asking for alice's thing reads like asking for a thing that never was."""
    mine, missing = _get(api, theirs, "bob"), _get(api, nobodys, "bob")
    assert mine.status_code == missing.status_code == 404
    assert mine.json()["title"] == missing.json()["title"]
    assert mine.json()["detail"].replace(theirs.split("/")[2], "X") == missing.json()[
        "detail"
    ].replace(nobodys.split("/")[2], "X")


# --- documentation --------------------------------------------------------------------------


def test_docs_in_reading_order(api_on: Api) -> None:
    owned = make_owned(api_on.engine, "alice")
    assert _get(api_on, f"/sessions/{owned.session_id}/docs").json() == {
        "session_id": owned.session_id,
        "sections": [],
    }
    written = {"faq": "Q?", "zeta": "last", "overview": "# Hi\n", "features": "- one"}
    with api_on.engine.rt.db.transaction() as session:
        for section, text in written.items():
            upsert_document_in(session, owned.session_id, section, text, iteration=1)
    body = _get(api_on, f"/sessions/{owned.session_id}/docs").json()
    assert [(s["section"], s["markdown"]) for s in body["sections"]] == [
        ("overview", "# Hi\n"),
        ("features", "- one"),
        ("faq", "Q?"),
        ("zeta", "last"),
    ]
    _same_404(api_on, f"/sessions/{owned.session_id}/docs", "/sessions/0123456789ab/docs")


# --- export ---------------------------------------------------------------------------------


def _commit_files(
    api: Api,
    owned: Owned,
    files: dict[str, bytes],
    iteration: int,
    overview: str = "It tracks habits.",
) -> str:
    """The workspace holds `files` and iteration `iteration` committed it, writing `overview`;
    its snapshot id."""
    workspace = api.engine.workspace_path(owned.session_id)
    for name, data in files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (workspace / "run.sh").chmod(0o755)
    snapshot_id = api.engine.snapshots.take(workspace)
    checkpoint = Checkpoint(
        session_id=owned.session_id,
        iteration=iteration,
        message_count=1,
        snapshot_id=snapshot_id,
        guard_state={},
        phase=None,
        elapsed_seconds=1.0,
    )
    with api.engine.rt.db.transaction() as session:
        save_checkpoint_in(session, checkpoint)
        upsert_document_in(session, owned.session_id, "overview", overview, iteration=iteration)
    return snapshot_id


FILES = {
    "app.py": b"print('hi')\n",
    "run.sh": b"#!/bin/sh\npython3 app.py\n",
    "static/logo.bin": bytes(range(256)) * 40,
    "node_modules/left-pad/index.js": b"module.exports = 1\n",  # rebuildable: left out
}


def _members(data: bytes) -> dict[str, tuple[str, int, bytes]]:
    """name: (kind, mode, bytes) of every archive member; times aside (the export's own
    folders are stamped with the time it ran)."""
    found: dict[str, tuple[str, int, bytes]] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            content = tar.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            kind = "dir" if member.isdir() else "link" if member.issym() else "file"
            found[member.name] = (kind, member.mode, content)
    return found


def test_export_streams_what_the_cli_writes(api: Api, tmp_path: Path) -> None:
    owned = make_owned(api.engine, "alice")
    _commit_files(api, owned, FILES, iteration=1)
    response = _get(api, f"/sessions/{owned.session_id}/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gzip"
    assert "content-length" not in response.headers  # sent as it is made
    disposition = response.headers["content-disposition"]
    assert disposition == 'attachment; filename="habit-tracker-iteration-1.tar.gz"'
    served = _members(response.content)
    assert served["habit-tracker/app.py"] == ("file", 0o644, FILES["app.py"])
    assert served["habit-tracker/run.sh"][1] == 0o755
    assert served["habit-tracker/static/logo.bin"][2] == FILES["static/logo.bin"]
    assert served["habit-tracker/COFOUNDER_DOCS/1-overview.md"][2] == b"It tracks habits."
    assert not any("node_modules" in name for name in served)

    cli = Backend("sqlite", api.engine.settings.home, None)
    out = tmp_path / "cli.tar.gz"
    done = cli.cli("export", owned.session_id, str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert served == _members(out.read_bytes())

    first = _get(api, f"/sessions/{owned.session_id}/export?iteration=0")
    assert first.status_code == 200
    assert set(_members(first.content)) == {"habit-tracker"}  # nothing written by then


def test_an_iterations_export_has_the_documentation_of_that_iteration(
    api: Api, tmp_path: Path
) -> None:
    owned = make_owned(api.engine, "alice")
    _commit_files(api, owned, FILES, iteration=1, overview="First take.")
    _commit_files(api, owned, {"app.py": b"print('bye')\n"}, iteration=2, overview="Second.")
    cli = Backend("sqlite", api.engine.settings.home, None)
    doc = "habit-tracker/COFOUNDER_DOCS/1-overview.md"
    for iteration, wanted in [(1, b"First take."), (2, b"Second.")]:
        served = _get(api, f"/sessions/{owned.session_id}/export?iteration={iteration}")
        assert _members(served.content)[doc][2] == wanted
        out = tmp_path / f"cli-{iteration}.tar.gz"
        done = cli.cli("export", owned.session_id, str(out), "--iteration", str(iteration))
        assert done.returncode == 0, done.stdout + done.stderr
        assert _members(out.read_bytes())[doc][2] == wanted
    latest = _get(api, f"/sessions/{owned.session_id}/export")
    assert _members(latest.content)[doc][2] == b"Second."


def test_export_refusals(api: Api) -> None:
    owned = make_owned(api.engine, "alice")
    sid = owned.session_id
    missing = _problem(_get(api, f"/sessions/{sid}/export?iteration=7"), 404)
    assert missing["detail"] == f"session {sid} has no iteration 7 (recorded: 0 to 0)"
    assert _problem(_get(api, f"/sessions/{sid}/export?iteration=-1"), 422)["errors"][0][
        "path"
    ] == ("query.iteration")
    checkpoint = api.engine.checkpoint(sid)
    assert checkpoint is not None
    with api.engine.rt.db.transaction() as session:  # the object store was down then
        save_checkpoint_in(
            session, checkpoint.model_copy(update={"iteration": 1, "snapshot_id": ""})
        )
    assert "no stored workspace" in _problem(_get(api, f"/sessions/{sid}/export"), 409)["detail"]
    _same_404(api, f"/sessions/{sid}/export", "/sessions/0123456789ab/export")


def test_a_corrupt_blob_is_an_error_before_any_byte(api: Api) -> None:
    owned = make_owned(api.engine, "alice")
    _commit_files(api, owned, FILES, iteration=1)
    sha = hashlib.sha256(FILES["app.py"]).hexdigest()
    (blob,) = [p for p in api.engine.settings.home.rglob(sha) if p.is_file()]
    blob.write_bytes(b"print('tampered')\n")
    problem = _problem(_get(api, f"/sessions/{owned.session_id}/export"), 500)
    assert problem["detail"] == "iteration 1's stored workspace could not be read"
    assert str(api.engine.settings.home) not in problem["detail"]


def test_a_large_export_is_sent_in_pieces(api: Api) -> None:
    """Hundreds of files: the archive leaves in several pieces, each slice of blobs as soon
    as it is fetched, and unpacks to every file."""
    owned = make_owned(api.engine, "alice")
    files = {f"data/{n:03d}.bin": os.urandom(2048) for n in range(300)}
    snapshot_id = _commit_files(api, owned, {**files, "run.sh": b"#!/bin/sh\n"}, iteration=1)
    store = api.engine.snapshots
    pieces = list(tar_stream(store.load(snapshot_id), store.fetch_verified, "app"))
    assert len(pieces) > 3
    served = _members(_get(api, f"/sessions/{owned.session_id}/export").content)
    for name, data in files.items():
        assert served[f"habit-tracker/{name}"][2] == data


# --- screenshots ----------------------------------------------------------------------------


def test_screenshots_listed_then_fetched(api_on: Api) -> None:
    owned = make_owned(api_on.engine, "alice")
    sid = owned.session_id
    assert _get(api_on, f"/sessions/{sid}/screenshots").json() == []
    desktop, mobile = add_screenshots(api_on.engine, sid, iteration=3)
    listed = _get(api_on, f"/sessions/{sid}/screenshots").json()
    assert [(s["screenshot_id"], s["viewport"], s["iteration"], s["page"]) for s in listed] == [
        (desktop, "desktop", 3, "/"),
        (mobile, "mobile", 3, "/"),
    ]
    assert (listed[0]["width"], listed[0]["height"]) == (8, 5)
    shot = api_on.client.get(listed[1]["url"], headers=bearer(api_on.token("alice")))
    assert shot.status_code == 200
    assert shot.headers["content-type"] == "image/png"
    assert shot.content == png(4, 7, 0x90) and listed[1]["bytes"] == len(shot.content)
    assert shot.headers["etag"] == f'"{hashlib.sha256(shot.content).hexdigest()}"'
    admin = api_on.client.get(listed[0]["url"], headers=bearer(api_on.token("root", admin=True)))
    assert admin.content == png(8, 5, 0x20)
    _same_404(api_on, f"/screenshots/{desktop}", "/screenshots/0123456789ab-5-0")
    _same_404(api_on, f"/sessions/{sid}/screenshots", "/sessions/0123456789ab/screenshots")


@pytest.mark.parametrize(
    "suffix", ["-1-0", "-{seq}-2", "-{seq}", "-x-0", "-{seq}-a", "-99999999999-0", "", "-0-0"]
)
def test_screenshot_ids_that_name_no_screenshot(api: Api, suffix: str) -> None:
    """Past the last picture, an event that is no screenshot (seq 1: session_started), a
    malformed or huge number: all "no such screenshot"."""
    owned = make_owned(api.engine, "alice")
    desktop, _ = add_screenshots(api.engine, owned.session_id)
    seq = desktop.split("-")[1]
    shot_id = owned.session_id + suffix.format(seq=seq)
    detail = _problem(_get(api, f"/screenshots/{shot_id}"), 404)["detail"]
    assert detail == f"no screenshot with id {shot_id!r}"


# --- preview --------------------------------------------------------------------------------


def _hold(api: Api, session_id: str, url: str) -> None:
    """The session as a worker running it with a live preview leaves it: a serving worker of
    this process, named on the running session with the preview's URL."""
    name = f"w-{session_id}"
    api.engine.rt.workers.register(
        name,
        host=socket.gethostname(),
        pid=os.getpid(),
        concurrency=1,
        version="test",
        dead_after=60,
    )
    with api.engine.rt.db.transaction() as session:
        row = row_in(session, session_id)
        row.state, row.worker, row.preview_url = "running", name, url
        row.updated_at = datetime.now(UTC)


def test_preview_follows_its_events_and_the_running_worker(api: Api) -> None:
    owned = make_owned(api.engine, "alice")
    sid, path = owned.session_id, f"/sessions/{owned.session_id}/preview"
    assert _get(api, path).json() == {
        "session_id": sid,
        "status": "none",
        "url": None,
        "command": None,
        "port": None,
        "http_status": None,
        "iteration": None,
        "hint": None,
    }
    add_events(api.engine, sid, preview_ready(2))
    stopped = _get(api, path).json()  # ready, but no worker runs the session: gone with it
    assert (stopped["status"], stopped["url"], stopped["command"]) == (
        "stopped",
        None,
        "python3 -m app",
    )
    _hold(api, sid, "http://127.0.0.1:41234/")
    live = _get(api, path).json()
    assert (live["status"], live["url"], live["port"], live["http_status"], live["iteration"]) == (
        "live",
        "http://127.0.0.1:41234/",
        8000,
        200,
        2,
    )
    failed = PreviewFailed(iteration=4, hint="port 8000 never answered", restarted=True)
    add_events(api.engine, sid, failed)
    now = _get(api, path).json()
    assert (now["status"], now["hint"], now["command"], now["url"]) == (
        "failed",
        "port 8000 never answered",
        "python3 -m app",  # the last command that ran
        None,
    )
    add_events(api.engine, sid, preview_ready(5, command="npm start", port=3000))
    add_events(api.engine, sid, preview_stopped(6))
    final = _get(api, path).json()
    assert (final["status"], final["command"], final["iteration"]) == ("stopped", "npm start", 6)
    _same_404(api, path, "/sessions/0123456789ab/preview")


# --- models ---------------------------------------------------------------------------------


def test_models_for_an_owner_and_for_the_admin(tmp_path: Path) -> None:
    owners = {"alice": {"coder": "anthropic:claude-sonnet-4-5"}}
    with serve(api_settings(tmp_path / "data", owners=owners)) as api:
        mine = _get(api, "/models").json()
        bobs = _get(api, "/models", "bob").json()
        admin = api.client.get(f"{API}/models", headers=bearer(api.token("root", admin=True)))
    table = {(r["tier"], r["role"]): r for r in mine["tiers"]}
    assert mine["owner"] == "alice" and mine["providers"] is None
    assert table[("bootstrapper", "coder")]["model"] == "anthropic:claude-sonnet-4-5"
    assert table[("bootstrapper", "coder")]["source"] == "owner"
    # An owner layer that names only a coder makes it summarize too.
    assert table[("bootstrapper", "summarizer")]["model"] == "anthropic:claude-sonnet-4-5"
    bob = {(r["tier"], r["role"]): r for r in bobs["tiers"]}
    # The operator's file-backed model, without the path it has on the server.
    assert bob[("bootstrapper", "coder")]["model"] == "scripted:trajectory.yaml"
    assert bob[("partner", "coder")] == {
        "tier": "partner",
        "role": "coder",
        "model": "anthropic:claude-sonnet-4-5",
        "source": "bundled",
        "priced": True,
    }
    prices = {p["model"]: p for p in mine["prices"]}
    assert prices["anthropic:claude-sonnet-4-5"]["usd_per_mtok"]["output"] == "15"
    assert prices["anthropic:claude-sonnet-4-5"]["source"] == "bundled"
    everything = admin.json()
    assert everything["owner"] is None
    assert {p["provider"] for p in everything["providers"]} == {"anthropic", "openai"}
    operator = {(r["tier"], r["role"]): r for r in everything["tiers"]}
    assert operator[("bootstrapper", "coder")]["model"].startswith("scripted:/")
