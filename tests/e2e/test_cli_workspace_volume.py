"""COFOUNDER_WORKSPACE_VOLUME_SIZE: the workspaces live in an ext4 image loop-mounted at the
data dir's `workspaces/`, so a sandboxed process reads no host path anywhere — the
workspace's line in /proc/self/mountinfo names it `/<session>`, its path within the volume —
and a build that fills the volume fills neither the host's disk nor the engine's own files.

Real mounts: these run where the tests run as root with loop devices (CI does), and skip
elsewhere saying why. Each test unmounts what it mounted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cf_support import REPO, Backend, scripted_project, session_id_from, transcript_of
from cofounder.hostfs.mounts import read_mounts

SIZE = "128MiB"


def _bash(command: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "bash", "input": {"command": command}}]}


def _build_on_volume(backend: Backend, tmp_path: Path, turns: list[dict[str, Any]]) -> str:
    """A completed build with the volume on; its session id."""
    project = scripted_project(tmp_path / "p", turns)
    built = backend.cli("build", str(project), COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE)
    assert built.returncode == 0, built.stdout + built.stderr
    return session_id_from(built.stdout)


def _mounted_at(path: Path) -> list[str]:
    """The sources of every mount whose mount point is `path` (stacked mounts count twice)."""
    return [m.source for m in read_mounts() if m.mount_point == str(path.resolve())]


def _unmount_all(path: Path) -> None:
    while _mounted_at(path):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def volume_backend(sqlite_backend: Backend, tmp_path: Path) -> Iterator[Backend]:
    """A data dir whose sessions folder can be a loop-mounted volume here, or a skip."""
    if os.geteuid() != 0 or not Path("/dev/loop-control").exists():
        pytest.skip("mounting a loop image needs root and /dev/loop-control")
    if shutil.which("mkfs.ext4", path="/usr/sbin:/sbin:" + os.environ.get("PATH", "")) is None:
        pytest.skip("mkfs.ext4 (e2fsprogs) is not installed")
    probe = tmp_path / "probe"
    probe.mkdir()
    image = tmp_path / "probe.img"
    image.write_bytes(b"")
    os.truncate(image, 64 * 1024**2)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    tried = subprocess.run(["mount", "-o", "loop", str(image), str(probe)], capture_output=True)
    if tried.returncode != 0:
        pytest.skip(f"cannot loop-mount here: {tried.stderr.decode().strip()}")
    _unmount_all(probe)
    try:
        yield sqlite_backend
    finally:
        _unmount_all(sqlite_backend.home / "workspaces")


def test_a_build_on_the_volume_reads_no_host_path_and_its_files_survive_a_remount(
    volume_backend: Backend, tmp_path: Path
) -> None:
    home = volume_backend.home
    read_all = "cat /proc/self/mountinfo /proc/1/cmdline /proc/self/environ > seen.txt"
    session = _build_on_volume(volume_backend, tmp_path, [_bash(read_all), {"text": "done"}])
    volume = home / "workspaces"
    assert len(_mounted_at(volume)) == 1
    assert _mounted_at(volume)[0].startswith("/dev/loop")

    workspace = volume / session
    shown = volume_backend.cli("workspace", session, COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE)
    assert shown.stdout.strip() == str(workspace)
    seen = (workspace / "seen.txt").read_text(errors="replace")
    assert str(home) not in seen and str(tmp_path) not in seen
    lines = [line.split() for line in seen.splitlines() if " /workspace " in line]
    assert [fields[3] for fields in lines] == [f"/{session}"]

    # Another command finds it mounted and mounts nothing more.
    listed = volume_backend.cli("sessions", COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE)
    assert listed.returncode == 0, listed.stderr
    assert session[:8] in listed.stdout and len(_mounted_at(volume)) == 1

    # As after a reboot: unmounted, the folder is empty; the next command mounts the image
    # again, and the session's files are back.
    _unmount_all(volume)
    assert not any(volume.iterdir())
    status = volume_backend.cli("status", session, COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE)
    assert status.returncode == 0, status.stderr
    assert "completed" in status.stdout
    assert len(_mounted_at(volume)) == 1
    assert (workspace / "seen.txt").read_text(errors="replace") == seen


def test_processes_starting_together_mount_the_volume_once(volume_backend: Backend) -> None:
    started = [
        volume_backend.popen("sessions", COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE) for _ in range(4)
    ]
    for process in started:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert len(_mounted_at(volume_backend.home / "workspaces")) == 1


def test_a_build_that_fills_the_volume_fills_only_the_volume(
    volume_backend: Backend, tmp_path: Path
) -> None:
    home = volume_backend.home
    fill = "head -c 300M /dev/zero > big; echo status=$?; df -k . | tail -1"
    after = "rm big; echo hello > after.txt && cat after.txt"
    session = _build_on_volume(
        volume_backend, tmp_path, [_bash(fill), _bash(after), {"text": "done"}]
    )
    told = "\n".join(m.model_dump_json() for m in transcript_of(volume_backend, session))
    # The model is told, and the engine went on: by the write's ENOSPC, or by the workspace
    # guard, which stops a command still writing once the disk is nearly full, when its poll
    # lands before the write fails (a race a loaded machine can tip either way).
    assert "No space left on device" in told or "the host disk has only" in told
    assert (home / "workspaces" / session / "after.txt").read_text() == "hello\n"
    # On the host the volume is one file that never takes more than its size.
    image = (home / "workspaces.img").stat()
    assert image.st_size == 128 * 1024**2 and image.st_blocks * 512 <= image.st_size


def test_sessions_from_before_the_volume_continue_on_it(
    volume_backend: Backend, tmp_path: Path
) -> None:
    """Switched on over a data dir with sessions: their workspaces come back from snapshots."""
    turns: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "write_file", "input": {"path": "a.txt", "content": "one"}}]},
        {"text": "done"},
        {"text": "done again"},
    ]
    built = volume_backend.cli("build", str(scripted_project(tmp_path / "p", turns)))
    assert built.returncode == 0, built.stderr
    before = session_id_from(built.stdout)
    forked = volume_backend.cli(
        "fork",
        before,
        "--as",
        "alice",
        "--iteration",
        "1",
        "--model",
        "scripted:" + str(tmp_path / "p" / "trajectory.yaml"),
        COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE,
    )
    assert forked.returncode == 0, forked.stdout + forked.stderr
    fork = session_id_from(forked.stdout)
    assert (volume_backend.home / "workspaces" / fork / "a.txt").read_text() == "one"


def test_a_workspaces_folder_holding_files_is_not_hidden_by_the_volume(
    volume_backend: Backend,
) -> None:
    volume = volume_backend.home / "workspaces"
    volume.mkdir(parents=True)
    (volume / "kept.txt").write_text("mine")

    refused = volume_backend.cli("sessions", COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE)
    assert refused.returncode == 2
    assert "COFOUNDER_WORKSPACE_VOLUME_SIZE" in refused.stderr
    assert "already holds 1 entries (kept.txt)" in refused.stderr
    assert _mounted_at(volume) == []
    assert (volume / "kept.txt").read_text() == "mine"


def test_a_size_below_the_floor_is_refused_by_name(volume_backend: Backend) -> None:
    refused = volume_backend.cli("sessions", COFOUNDER_WORKSPACE_VOLUME_SIZE="1MiB")
    assert refused.returncode == 2
    assert "COFOUNDER_WORKSPACE_VOLUME_SIZE" in refused.stderr
    assert _mounted_at(volume_backend.home / "workspaces") == []


def test_the_data_dir_decides_once_it_has_a_volume(volume_backend: Backend, tmp_path: Path) -> None:
    """A process without the setting (a rolling restart, a CLI run from another folder) uses
    the volume the data dir has, mounting it if needed: never a second copy of a workspace."""
    turns = [_bash("echo v1 > app.txt"), {"text": "done"}]
    session = _build_on_volume(volume_backend, tmp_path, turns)
    volume = volume_backend.home / "workspaces"
    shown = volume_backend.cli("workspace", session)  # no COFOUNDER_WORKSPACE_VOLUME_SIZE
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == str(volume / session)
    _unmount_all(volume)
    listed = volume_backend.cli("sessions")
    assert listed.returncode == 0, listed.stderr
    assert len(_mounted_at(volume)) == 1
    assert (volume / session / "app.txt").read_text() == "v1\n"
    assert not (volume_backend.home / "sessions" / session / "workspace").exists()


def test_the_volume_root_takes_the_folders_owner_and_a_shadowed_mount_is_refused(
    volume_backend: Backend,
) -> None:
    volume = volume_backend.home / "workspaces"
    volume.mkdir(parents=True)
    os.chown(volume, 65534, 65534)  # a service that runs as its own user
    volume.chmod(0o750)
    mounted = volume_backend.cli("sessions", COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE)
    assert mounted.returncode == 0, mounted.stderr
    root = volume.stat()
    assert (root.st_uid, root.st_gid, root.st_mode & 0o777) == (65534, 65534, 0o750)
    assert not (volume / "lost+found").exists()

    # A later bind of the data dir over itself hides the volume's mount (still listed in
    # the mount table): the workspaces would land on the host's disk, so it is refused.
    home = str(volume_backend.home)
    hidden = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount --bind "$1" "$1" && exec "$2" -m cofounder sessions',
         "sh", home, sys.executable],
        env=volume_backend.env(COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )  # fmt: skip
    assert hidden.returncode == 2, hidden.stdout + hidden.stderr
    assert "reaches another filesystem" in hidden.stderr


@pytest.mark.parametrize("name", ["workspaces.img", "workspaces.img.lock"])
def test_a_symlink_at_the_image_or_its_lock_is_neither_followed_nor_replaced(
    volume_backend: Backend, name: str
) -> None:
    """A dangling one was replaced by a new image (the lock's: made where it pointed)."""
    home = volume_backend.home
    home.mkdir(parents=True, exist_ok=True)
    link, target = home / name, home / "elsewhere"
    link.symlink_to(target)

    refused = volume_backend.cli("sessions", COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"{link} is a symbolic link" in " ".join(refused.stderr.split())
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert not target.exists()
    assert _mounted_at(home / "workspaces") == []
    if name == "workspaces.img":  # without the setting too: never the host's disk instead
        assert volume_backend.cli("sessions").returncode == 2


def test_an_image_deleted_while_mounted_is_refused_with_how_to_keep_its_files(
    volume_backend: Backend,
) -> None:
    home, volume = volume_backend.home, volume_backend.home / "workspaces"
    mounted = volume_backend.cli("sessions", COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE)
    assert mounted.returncode == 0, mounted.stderr
    (volume / "kept.txt").write_text("mine")
    (home / "workspaces.img").unlink()

    for env in ({"COFOUNDER_WORKSPACE_VOLUME_SIZE": SIZE}, {}):
        refused = volume_backend.cli("sessions", **env)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        said = " ".join(refused.stderr.split())
        assert (
            f"{home / 'workspaces.img'} was deleted or replaced while mounted at {volume}" in said
        )
    assert (volume / "kept.txt").read_text() == "mine"  # the kernel still holds the volume
    assert not (home / "workspaces.img").exists()

    # The way out the message gives: copy the device back, unmount, start again.
    command = said.split("To keep its workspaces")[1].split("`")[1]
    assert command.startswith("mount -o remount,ro ") and "cp --sparse=always /dev/loop" in command
    subprocess.run(["sh", "-c", command], check=True, capture_output=True)
    assert _mounted_at(volume) == []
    again = volume_backend.cli("sessions", COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE)
    assert again.returncode == 0, again.stderr
    assert len(_mounted_at(volume)) == 1
    assert (volume / "kept.txt").read_text() == "mine"


def test_an_own_filesystem_at_the_workspaces_needs_nosuid_and_nodev(
    volume_backend: Backend, tmp_path: Path
) -> None:
    """The operator's own filesystem is used as it is, but a build must not be able to leave a
    setuid program or a device node there that works on the host."""
    volume = volume_backend.home / "workspaces"
    volume.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,nodev", "own", str(volume)], check=True)
    refused = volume_backend.cli("sessions", COFOUNDER_WORKSPACE_VOLUME_SIZE=SIZE)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    said = " ".join(refused.stderr.split())
    assert f"{volume} is mounted without nosuid, so" in said
    assert f"mount -o remount,nosuid,nodev {volume}" in said
    assert volume_backend.cli("sessions").returncode == 2  # the data dir decides: no setting

    subprocess.run(["mount", "-o", "remount,nosuid,nodev", str(volume)], check=True)
    # Without the setting as with it, the workspaces land on it, and no image is made.
    project = scripted_project(tmp_path / "p", [_bash("echo hi > a.txt"), {"text": "done"}])
    built = volume_backend.cli("build", str(project))
    assert built.returncode == 0, built.stdout + built.stderr
    session = session_id_from(built.stdout)
    assert (volume / session / "a.txt").read_text() == "hi\n"
    assert _mounted_at(volume) == ["own"]
    assert not (volume_backend.home / "workspaces.img").exists()
