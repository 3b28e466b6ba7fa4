"""The export's extras on a real store and the real git binary: a history with one commit per
iteration whose checkout equals that iteration's restore, messages from the narration, the
user's git setup never applying; and documentation files with safe, stable names."""

from __future__ import annotations

import os
import shutil
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cofounder.storage import LocalSnapshotStore, SnapshotError
from cofounder.storage.snapshots.export import (
    ExtraFile,
    ExtraTree,
    doc_files,
    docs_folder,
    write_tar,
)
from cofounder.storage.snapshots.history import (
    HistoryError,
    IterationRecord,
    build_history,
    commit_message,
)
from cofounder.storage.snapshots.manifest import Manifest, ManifestEntry
from export_support import files_of, git

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
ODD_NAME = 'odd "name"\\ with\ttab and é.txt'


@pytest.fixture
def store(tmp_path: Path) -> LocalSnapshotStore:
    return LocalSnapshotStore(tmp_path / "store")


def take_iterations(store: LocalSnapshotStore, ws: Path) -> list[IterationRecord]:
    """Five states: empty; files, an executable, a link, odd names; unchanged; edits and a
    deletion plus the agent's own .git; then the link, odd names and .git removed."""
    ws.mkdir()
    states: list[tuple[str, tuple[str, ...]]] = [(store.take(ws), ())]
    (ws / "app").mkdir()
    (ws / "app" / "main.py").write_text("print('v1')\n")
    (ws / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (ws / "run.sh").chmod(0o755)
    (ws / "latest").symlink_to("app/main.py")
    (ws / ODD_NAME).write_bytes(b"odd\n")
    (ws / os.fsdecode(b"raw-\xff.bin")).write_bytes(b"\x00\x01")
    (ws / "empty").mkdir()
    states.append((store.take(ws), ("Wrote the app.\nIt prints v1.", "Also a \x1b[31mscript")))
    states.append((store.take(ws), ()))
    (ws / "app" / "main.py").write_text("print('v2')\n")
    (ws / "run.sh").unlink()
    (ws / ".git").mkdir()
    (ws / ".git" / "HEAD").write_text("ref: refs/heads/agent\n")
    states.append((store.take(ws), ("Now it prints v2. " * 10,)))
    for path in ("latest", ODD_NAME, os.fsdecode(b"raw-\xff.bin"), ".git/HEAD"):
        (ws / path).unlink()
    (ws / ".git").rmdir()
    states.append((store.take(ws), ("Trimmed.",)))
    return [
        IterationRecord(
            iteration=n, snapshot_id=sid, narration=words, committed_at=T0.replace(minute=n)
        )
        for n, (sid, words) in enumerate(states)
    ]


def test_each_commit_checks_out_exactly_its_iteration(
    store: LocalSnapshotStore, tmp_path: Path
) -> None:
    records = take_iterations(store, tmp_path / "ws")
    work = tmp_path / "repo"
    work.mkdir()
    history = build_history(records, store.load, store.fetch_verified, work, ignore=["DOCS"])
    assert history.git_dir == work / ".git" and history.iterations == (0, 1, 2, 3, 4)

    log = git(work, "log", "--format=%H %at %an <%ae> %cn", "main").splitlines()
    assert len(log) == 5  # the unchanged iteration 2 still has its (empty) commit
    for line, record in zip(reversed(log), records, strict=True):
        _, when, *who = line.split(" ")
        assert int(when) == int(record.committed_at.timestamp())
        assert " ".join(who) == "Cofounder agent <agent@cofounder.invalid> Cofounder agent"
    assert git(work, "rev-parse", "iteration-1^{tree}") == git(
        work, "rev-parse", "iteration-2^{tree}"
    )

    for record in records:
        checkout = tmp_path / f"checkout-{record.iteration}"
        git(
            work,
            "worktree",
            "add",
            "-q",
            "--detach",
            str(checkout),
            f"iteration-{record.iteration}",
        )
        restored = tmp_path / f"restored-{record.iteration}"
        store.restore(record.snapshot_id, restored)
        assert files_of(checkout) == files_of(restored)
    assert files_of(tmp_path / "checkout-1")["run.sh"][0] == "file1"
    assert files_of(tmp_path / "checkout-1")["latest"] == ("link", b"app/main.py")
    # The agent's own .git (iteration 3 on) is metadata git cannot hold: not in any tree.
    assert ".git/HEAD" not in git(work, "ls-tree", "-r", "--name-only", "iteration-3")

    # The index matches the last commit and the export's own folder is ignored: clean.
    shutil.copytree(tmp_path / "restored-4", work, symlinks=True, dirs_exist_ok=True)
    (work / "DOCS").mkdir()
    (work / "DOCS" / "1-overview.md").write_text("hi")
    assert git(work, "status", "--porcelain", "--ignored=no") == ""


def test_commit_messages_come_from_the_narration(store: LocalSnapshotStore, tmp_path: Path) -> None:
    records = take_iterations(store, tmp_path / "ws")
    work = tmp_path / "repo"
    work.mkdir()
    build_history(records, store.load, store.fetch_verified, work)
    messages = [git(work, "log", "-1", "--format=%B", f"iteration-{n}") for n in range(5)]
    assert messages[0] == "iteration 0\n\n" and messages[2] == "iteration 2\n\n"
    assert messages[1] == "Wrote the app.\n\nWrote the app.\nIt prints v1.\n\nAlso a [31mscript\n\n"
    summary, _, body = messages[3].partition("\n\n")
    assert (
        len(summary) == 72
        and summary.endswith("…")
        and body.strip() == records[3].narration[0].strip()
    )
    assert messages[4] == "Trimmed.\n\n"


def test_commit_message_rules() -> None:
    assert commit_message(7, ()) == "iteration 7\n"
    assert commit_message(7, ("  ", "\x00\x07")) == "iteration 7\n"
    assert commit_message(1, ("Short.",)) == "Short.\n"
    assert commit_message(1, ("A\r\nB",)) == "A\n\nA\nB\n"
    assert commit_message(1, ("one", "two")) == "one\n\none\n\ntwo\n"


def test_the_users_git_setup_never_applies(
    store: LocalSnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A global config with a template (holding a hook), an identity and a hooks path, plus a
    GIT_DIR pointing elsewhere: none of it reaches the exported repository."""
    home = tmp_path / "home"
    template = home / "template"
    (template / "hooks").mkdir(parents=True)
    (template / "planted").write_text("from the user's template\n")
    (template / "hooks" / "post-commit").write_text("#!/bin/sh\ntouch /tmp/never\n")
    (home / ".gitconfig").write_text(
        f"[init]\n\ttemplateDir = {template}\n\tdefaultBranch = trunk\n"
        "[user]\n\tname = Founder Laptop\n\temail = me@example.com\n"
        f"[core]\n\thooksPath = {template / 'hooks'}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Someone Else")
    records = take_iterations(store, tmp_path / "ws")[:2]
    work = tmp_path / "repo"
    work.mkdir()
    build_history(records, store.load, store.fetch_verified, work)
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_AUTHOR_NAME")
    assert not (work / ".git" / "planted").exists() and not (work / ".git" / "hooks").exists()
    assert not (tmp_path / "elsewhere").exists()
    assert (work / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert "Founder" not in git(work, "log", "--format=%an %cn %ae %ce")
    assert "me@example.com" not in "".join(
        p.read_text(errors="replace") for p in (work / ".git").rglob("*") if p.is_file()
    )


def test_without_git_history_is_refused_precisely(
    store: LocalSnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = take_iterations(store, tmp_path / "ws")[:1]
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    with pytest.raises(HistoryError, match="needs the git program"):
        build_history(records, store.load, store.fetch_verified, tmp_path)


def test_a_bad_blob_in_an_earlier_iteration_fails_the_history(
    store: LocalSnapshotStore, tmp_path: Path
) -> None:
    records = take_iterations(store, tmp_path / "ws")
    sha = next(e.sha256 for e in store.load(records[1].snapshot_id).entries if e.path == "run.sh")
    assert sha is not None
    (tmp_path / "store" / "blobs" / sha[:2] / sha).write_bytes(b"tampered")
    work = tmp_path / "repo"
    work.mkdir()
    with pytest.raises(SnapshotError, match=r"run\.sh"):
        build_history(records, store.load, store.fetch_verified, work)


def test_doc_files_have_safe_stable_names() -> None:
    sections = {
        "faq": "Q?",
        "overview": "# Habits\n",
        "../../etc/passwd": "x",
        "Über\x00/..\n": "y",
        "über": "z",
        "": "empty",
        "getting_started": "run it",
    }
    files = doc_files("COFOUNDER_DOCS", sections)
    names = [f.path for f in files]
    assert names[:3] == [
        "COFOUNDER_DOCS/1-overview.md",
        "COFOUNDER_DOCS/3-getting-started.md",
        "COFOUNDER_DOCS/4-faq.md",
    ]
    assert len(set(names)) == len(names) == len(sections)
    for name in names:
        leaf = name.removeprefix("COFOUNDER_DOCS/")
        assert "/" not in leaf and ".." not in leaf and leaf.isprintable() and leaf.isascii()
    assert doc_files("D", sections) == doc_files("D", dict(reversed(sections.items())))
    assert {f.data for f in files} == {v.encode() for v in sections.values()}


def test_docs_folder_steps_aside_for_the_apps_own_files() -> None:
    def manifest(*paths: str) -> Manifest:
        return Manifest(entries=[ManifestEntry(path=p, kind="file") for p in paths])

    assert docs_folder(manifest("src/COFOUNDER_DOCS/x", "README.md")) == "COFOUNDER_DOCS"
    assert docs_folder(manifest("cofounder_docs/x")) == "COFOUNDER_DOCS-2"
    assert docs_folder(manifest("COFOUNDER_DOCS", "COFOUNDER_DOCS-2/a")) == "COFOUNDER_DOCS-3"


def test_extras_land_under_the_root_and_nothing_is_left_on_failure(
    store: LocalSnapshotStore, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "sub" / "f.txt").write_text("f\n")
    manifest = store.load(store.take(ws))
    (tmp_path / "tree" / "inner").mkdir(parents=True)
    (tmp_path / "tree" / "inner" / "g").write_text("g\n")
    out = tmp_path / "out.tar.gz"
    extras: list[ExtraFile | ExtraTree] = [
        ExtraFile("D/1-overview.md", b"# hi\n"),
        ExtraTree(tmp_path / "tree", ".git"),
    ]
    assert write_tar(manifest, store.fetch_verified, out, "app", extras) == 1
    with tarfile.open(out) as tar:
        names = tar.getnames()
        doc = tar.extractfile("app/D/1-overview.md")
        assert doc is not None and doc.read() == b"# hi\n"
        assert all(m.uid == 0 and m.uname == "" for m in tar.getmembers())
    assert {"app", "app/sub/f.txt", "app/D", "app/.git", "app/.git/inner/g"} <= set(names)

    broken = tmp_path / "broken.tar.gz"
    with pytest.raises(FileNotFoundError):
        write_tar(
            manifest, store.fetch_verified, broken, "app", [ExtraTree(tmp_path / "gone", ".git")]
        )
    assert not broken.exists() and not list(tmp_path.glob(".broken*"))
