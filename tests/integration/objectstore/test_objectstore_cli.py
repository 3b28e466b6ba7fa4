"""`cofounder restore` / `cofounder export` after a real build, with the default local object
store and with S3 on loopback; plus precise errors for a bad object-store setting."""

from __future__ import annotations

import json
import shutil
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cf_support import Backend, session_id_from

# The moto server's credentials (see this folder's conftest), as the AWS_* variables.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
}
GIT = (
    "git init -q && git add -A && "
    "git -c user.email=a@b.c -c user.name=agent commit -qm first && echo committed"
)


def tiny_project(tmp_path: Path) -> Path:
    (tmp_path / "trajectory.yaml").write_text(
        textwrap.dedent(
            f"""\
            turns:
              - tool_calls:
                  - {{name: write_file, input: {{path: notes.txt, content: "version one\\n"}}}}
                  - {{name: write_file, input: {{path: app/main.py, content: "print(1)\\n"}}}}
              - tool_calls:
                  - {{name: write_file, input: {{path: notes.txt, content: "version two\\n"}}}}
                  - {{name: bash, input: {{command: "mkdir -p node_modules/x && {GIT}"}}}}
              - text: all done
            """
        )
    )
    path = tmp_path / "cofounder.yaml"
    path.write_text(
        'name: "Tiny Notes"\ngoal: "Keep notes."\nmodel: "scripted:trajectory.yaml"\n'
        "idea_brief: {problem: testing}\nunderstanding_qna: []\n"
    )
    return path


def build(backend: Backend, tmp_path: Path, **env: str) -> str:
    result = backend.cli("build", str(tiny_project(tmp_path)), **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return session_id_from(result.stdout)


def blob_of(backend: Backend, session_id: str, path: str, tmp_path: Path, **env: str) -> str:
    """The sha of `path` in the session's last snapshot, read back through `export`."""
    import hashlib

    out = tmp_path / f"probe-{len(list(tmp_path.glob('probe-*')))}.tar.gz"
    assert backend.cli("export", session_id, str(out), **env).returncode == 0
    with tarfile.open(out) as tar:
        member = tar.extractfile(f"tiny-notes/{path}")
        assert member is not None
        return hashlib.sha256(member.read()).hexdigest()


def test_restore_and_export_from_the_local_store(sqlite_backend: Backend, tmp_path: Path) -> None:
    backend = sqlite_backend
    session_id = build(backend, tmp_path)
    workspace = Path(backend.cli("workspace", session_id).stdout.strip())
    has_git = (workspace / ".git").is_dir()

    first = tmp_path / "first"
    result = backend.cli("restore", session_id, str(first), "--iteration", "1")
    assert result.returncode == 0, result.stderr
    assert "iteration 1" in result.stdout and "verified" in result.stdout
    assert (first / "notes.txt").read_text() == "version one\n"
    assert (first / "app" / "main.py").read_text() == "print(1)\n"
    assert not (first / ".git").exists() and not (first / "node_modules").exists()

    last = tmp_path / "last"
    result = backend.cli("restore", session_id[:8], str(last))
    assert result.returncode == 0, result.stderr
    assert (last / "notes.txt").read_text() == "version two\n"
    assert (last / ".git").is_dir() == has_git
    assert not (last / "node_modules").exists() and "node_modules" in result.stdout

    out = tmp_path / "code.tar.gz"
    result = backend.cli("export", session_id, str(out))
    assert result.returncode == 0, result.stderr
    with tarfile.open(out) as tar:
        names = tar.getnames()
        member = tar.extractfile("tiny-notes/notes.txt")
        assert member is not None and member.read() == b"version two\n"
    assert "tiny-notes/app/main.py" in names and not [n for n in names if "node_modules" in n]
    assert ("tiny-notes/.git/HEAD" in names) == has_git

    # Bad input: a non-empty target, an unknown iteration or session, an existing output.
    for args in (
        ["restore", session_id, str(last)],
        ["restore", session_id, str(tmp_path / "x"), "--iteration", "99"],
        ["restore", "nosuchsession", str(tmp_path / "y")],
        ["export", session_id, str(out)],
    ):
        result = backend.cli(*args)
        assert result.returncode == 2, (args, result.stderr)
    assert (
        "no iteration 99"
        in backend.cli("restore", session_id, str(tmp_path / "x"), "--iteration", "99").stderr
    )

    # Damage in the store is found and named: exit 1, nothing half-written.
    sha = blob_of(backend, session_id, "notes.txt", tmp_path)
    blob = backend.home / "objects" / "blobs" / sha[:2] / sha
    blob.write_bytes(b"tampered")
    broken = tmp_path / "broken"
    result = backend.cli("restore", session_id, str(broken))
    assert result.returncode == 1
    assert "notes.txt" in result.stderr and sha in result.stderr and "corrupt" in result.stderr
    assert not broken.exists()
    result = backend.cli("export", session_id, str(tmp_path / "broken.tar.gz"))
    assert result.returncode == 1 and "notes.txt" in result.stderr
    assert not (tmp_path / "broken.tar.gz").exists()
    blob.unlink()
    result = backend.cli("restore", session_id, str(broken))
    assert result.returncode == 1 and "missing" in result.stderr and "notes.txt" in result.stderr
    # The first iteration did not reference that blob, so it still restores.
    assert backend.cli("restore", session_id, str(broken), "--iteration", "1").returncode == 0


def test_a_build_snapshots_to_s3_and_restores_anywhere(
    sqlite_backend: Backend, s3_endpoint: Any, tmp_path: Path
) -> None:
    bucket = s3_endpoint.new_bucket()
    env = {
        **CREDENTIALS,
        "COFOUNDER_OBJECT_STORE": f"s3://{bucket}/cofounder",
        "COFOUNDER_S3_ENDPOINT": s3_endpoint.url,
    }
    session_id = build(sqlite_backend, tmp_path, **env)
    assert not (sqlite_backend.home / "objects").exists()
    listed = s3_endpoint.client.list_objects_v2(Bucket=bucket, Prefix="cofounder/manifests/")
    assert listed["KeyCount"] >= 3  # the empty start, and one per committed tool batch

    # Another machine: the workspace is gone, only the database and the bucket remain.
    shutil.rmtree(sqlite_backend.home / "sessions")
    target = tmp_path / "elsewhere"
    result = sqlite_backend.cli("restore", session_id, str(target), **env)
    assert result.returncode == 0, result.stderr
    assert (target / "notes.txt").read_text() == "version two\n"
    result = sqlite_backend.cli("export", session_id, str(tmp_path / "out.tgz"), **env)
    assert result.returncode == 0, result.stderr

    sha = blob_of(sqlite_backend, session_id, "notes.txt", tmp_path, **env)
    s3_endpoint.client.delete_object(Bucket=bucket, Key=f"cofounder/blobs/{sha[:2]}/{sha}")
    result = sqlite_backend.cli("restore", session_id, str(tmp_path / "again"), **env)
    assert result.returncode == 1 and "missing" in result.stderr and sha in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COFOUNDER_OBJECT_STORE", "ftp://host/x", "unsupported scheme 'ftp'"),
        ("COFOUNDER_OBJECT_STORE", "s3://", "names no bucket"),
        ("COFOUNDER_OBJECT_STORE", "s3://Bad_Bucket/x", "not a valid S3 bucket name"),
        ("COFOUNDER_OBJECT_STORE", "s3://key:secret@bucket/x", "AWS_* variables"),
        ("COFOUNDER_OBJECT_STORE", "file://relative/path", "absolute path"),
        ("COFOUNDER_S3_ENDPOINT", "127.0.0.1:9000", "not an http(s) URL"),
    ],
)
def test_a_bad_object_store_setting_is_refused_precisely(
    sqlite_backend: Backend, variable: str, value: str, message: str
) -> None:
    result = sqlite_backend.cli("sessions", "--json", **{variable: value})
    assert result.returncode == 2
    assert variable in result.stderr and message in result.stderr, result.stderr


def test_default_and_explicit_local_stores(sqlite_backend: Backend, tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared-objects"
    session_id = build(sqlite_backend, tmp_path, COFOUNDER_OBJECT_STORE=f"file://{elsewhere}")
    assert (elsewhere / "manifests").is_dir() and not (sqlite_backend.home / "objects").exists()
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["outcome"] == "completed"
    result = sqlite_backend.cli(
        "restore", session_id, str(tmp_path / "r"), COFOUNDER_OBJECT_STORE=str(elsewhere)
    )
    assert result.returncode == 0, result.stderr
