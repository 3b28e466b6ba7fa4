"""`cofounder export` after real builds: the documentation the agent wrote as Markdown files and,
with --git-history, a git repository whose commit for iteration k checks out exactly what
`cofounder restore --iteration k` gives; precise refusals, and nothing left at OUT on failure."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

from cf_support import EXAMPLE, Backend, app_db_url, session_id_from
from cofounder.storage import Database, Documents, LocalSnapshotStore, Transcript
from export_support import files_of, git, unpack

SECTION_FILES = {
    "overview": "1-overview.md",
    "features": "2-features.md",
    "getting_started": "3-getting-started.md",
    "faq": "4-faq.md",
}


def narration_by_iteration(backend: Backend, session_id: str) -> dict[int, list[str]]:
    lines = backend.cli("events", session_id, "--json").stdout.splitlines()
    out: dict[int, list[str]] = {}
    for event in map(json.loads, lines):
        if event["type"] == "narration":
            out.setdefault(event["payload"]["iteration"], []).append(event["payload"]["message"])
    return out


def test_the_example_exports_its_docs_and_its_history(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    backend = sqlite_backend
    result = backend.cli("build", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)
    db = Database(app_db_url(backend))
    try:
        sections = Documents(db).all(session_id)
        checkpoints = Transcript(db)
        last = checkpoints.latest_checkpoint(session_id)
        assert last is not None and last.iteration > 5
        times = {
            k: int(found.created_at.timestamp())
            for k in range(last.iteration + 1)
            if (found := checkpoints.checkpoint(session_id, k))
        }
    finally:
        db.close()
    assert set(sections) == set(SECTION_FILES)  # the example documents every section

    plain = tmp_path / "plain.tar.gz"
    result = backend.cli("export", session_id, str(plain))
    assert result.returncode == 0, result.stderr
    assert "4 Markdown files in habit-tracker/COFOUNDER_DOCS/" in result.stdout
    code = unpack(plain, tmp_path / "plain")
    assert not (code / ".git").exists()
    docs_text = " ".join(backend.cli("docs", session_id).stdout.split())
    for section, name in SECTION_FILES.items():
        written = (code / "COFOUNDER_DOCS" / name).read_text()
        assert written == sections[section]
        assert " ".join(written.split()[:6]) in docs_text  # what `cofounder docs` shows
    assert sorted(p.name for p in (code / "COFOUNDER_DOCS").iterdir()) == sorted(
        SECTION_FILES.values()
    )

    full = tmp_path / "history.tar.gz"
    result = backend.cli("export", session_id, str(full), "--git-history")
    assert result.returncode == 0, result.stderr
    assert f"{last.iteration + 1} commits in habit-tracker/.git" in result.stdout
    repo = unpack(full, tmp_path / "history")
    assert files_of(repo) == files_of(code)  # the same code and docs, plus .git
    assert git(repo, "status", "--porcelain") == ""  # index = last commit; docs ignored
    log = git(repo, "log", "--format=%H %at %an", "main").splitlines()
    assert len(log) == last.iteration + 1 == len(times)

    narration = narration_by_iteration(backend, session_id)
    assert len(narration) >= 3
    for k in range(last.iteration + 1):
        message = git(repo, "log", "-1", "--format=%B", f"iteration-{k}").strip()
        _, when, author = git(repo, "log", "-1", "--format=%H %at %an", f"iteration-{k}").split(
            " ", 2
        )
        assert int(when) == times[k] and author.strip() == "Cofounder agent"
        said = narration.get(k)
        if said is None:
            assert message == f"iteration {k}"
        else:
            subject = message.split("\n", 1)[0]
            assert len(subject) <= 72 and said[0].startswith(subject.rstrip("…"))
            for text in said:
                assert " ".join(text.split()) in " ".join(message.split())

        checkout = tmp_path / f"checkout-{k}"
        git(repo, "worktree", "add", "-q", "--detach", str(checkout), f"iteration-{k}")
        restored = tmp_path / f"restored-{k}"
        result = backend.cli("restore", session_id, str(restored), "--iteration", str(k))
        assert result.returncode == 0, result.stderr
        assert files_of(checkout) == files_of(restored), f"iteration {k}"
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", f"iteration-{last.iteration}")

    upto = tmp_path / "upto.tar.gz"
    result = backend.cli("export", session_id, str(upto), "--git-history", "--iteration", "3")
    assert result.returncode == 0, result.stderr
    early = unpack(upto, tmp_path / "upto")
    assert len(git(early, "log", "--format=%H").splitlines()) == 4
    assert git(early, "status", "--porcelain") == ""


def collision_project(tmp_path: Path) -> Path:
    """Iteration 1 writes notes and a folder named like the docs one (in another case);
    iteration 2 changes the notes; iteration 3 makes a .git of the agent's own."""
    (tmp_path / "trajectory.yaml").write_text(
        textwrap.dedent(
            """\
            turns:
              - tool_calls:
                  - {name: write_file, input: {path: notes.txt, content: "version one\\n"}}
                  - {name: write_file, input: {path: cofounder_docs/mine.txt, content: "app\\n"}}
                  - {name: narrate, input: {message: "Started the notes."}}
                  - {name: document, input: {section: overview, content: "# Notes\\n"}}
              - tool_calls:
                  - {name: write_file, input: {path: notes.txt, content: "version two\\n"}}
              - tool_calls:
                  - {name: write_file, input: {path: .git/HEAD, content: "ref: refs/heads/x\\n"}}
              - text: all done
            """
        )
    )
    project = {
        "name": "Tiny Notes",
        "goal": "Keep notes.",
        "model": "scripted:trajectory.yaml",
        "idea_brief": {"problem": "testing"},
        "understanding_qna": [],
    }
    path = tmp_path / "cofounder.yaml"
    path.write_text(json.dumps(project))  # JSON is YAML too
    return path


def test_collisions_missing_git_and_bad_blobs_are_handled_precisely(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    backend = sqlite_backend
    result = backend.cli("build", str(collision_project(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)

    # The agent's own .git is kept as is; --git-history would replace it, so it is refused.
    out = tmp_path / "out.tar.gz"
    result = backend.cli("export", session_id, str(out), "--git-history")
    assert result.returncode == 2 and "its own .git" in result.stderr, result.stderr
    assert not out.exists()
    result = backend.cli("export", session_id, str(out))
    assert result.returncode == 0, result.stderr
    code = unpack(out, tmp_path / "plain")
    assert (code / ".git" / "HEAD").read_text() == "ref: refs/heads/x\n"
    # The app's own cofounder_docs/ stays; the docs step aside to a precise, announced name.
    assert (code / "cofounder_docs" / "mine.txt").read_text() == "app\n"
    assert (code / "COFOUNDER_DOCS-2" / "1-overview.md").read_text() == "# Notes\n"
    assert "tiny-notes/COFOUNDER_DOCS-2/" in result.stdout

    # Without git on PATH, --git-history is refused before anything is written.
    early = tmp_path / "early.tar.gz"
    result = backend.cli(
        "export", session_id, str(early), "--git-history", "-i", "2", PATH=str(tmp_path)
    )
    assert result.returncode == 2 and "needs the git program" in result.stderr
    assert not early.exists()

    # A corrupt blob that only iteration 1 used: the code of iteration 2 still exports, its
    # history does not, and nothing is left at OUT.
    db = Database(app_db_url(backend))
    try:
        first = Transcript(db).checkpoint(session_id, 1)
    finally:
        db.close()
    assert first is not None
    store = LocalSnapshotStore(backend.home / "objects")
    (sha,) = [e.sha256 for e in store.load(first.snapshot_id).entries if e.path == "notes.txt"]
    assert sha is not None
    (backend.home / "objects" / "blobs" / sha[:2] / sha).write_bytes(b"tampered")
    assert backend.cli("export", session_id, str(early), "-i", "2").returncode == 0
    broken = tmp_path / "broken.tar.gz"
    result = backend.cli("export", session_id, str(broken), "--git-history", "-i", "2")
    assert result.returncode == 1 and "notes.txt" in result.stderr and "corrupt" in result.stderr
    assert not broken.exists() and not list(tmp_path.glob(".broken*"))

    # An iteration whose snapshot the store failed to take has no commit, and the output says so.
    with sqlite3.connect(backend.home / "cofounder.sqlite") as conn:
        conn.execute(
            "UPDATE checkpoints SET snapshot_id = '' WHERE session_id = ? AND iteration = 1",
            (session_id,),
        )
    result = backend.cli("export", session_id, str(broken), "--git-history", "-i", "2")
    assert result.returncode == 0, result.stderr
    assert "2 commits" in result.stdout and "no commit for iteration(s) 1:" in result.stdout
    repo = unpack(broken, tmp_path / "skipped")
    assert git(repo, "tag").split() == ["iteration-0", "iteration-2"]
    assert (repo / "notes.txt").read_text() == "version two\n"
