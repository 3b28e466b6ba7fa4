"""The workspaces as a filesystem of their own: an ext4 image in the data dir, loop-mounted.

Why: a bind mount's line in /proc/self/mountinfo names the bound directory by its path within
its filesystem, and no sandbox flag hides it. With the workspaces folder the root of its own
filesystem, a sandboxed process reads `/<session>` there, nothing of the host; and all builds
together cannot fill the host's disk (or the engine's own files beside it) beyond its size.

The mount outlives any crash of ours (the kernel holds it until unmounted or reboot), so the
lifecycle is: make the image once, mount it when it is not mounted, never unmount. Every step
is idempotent and runs under a lock, so processes starting together mount it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import structlog

from cofounder.hostfs.mounts import Mount, mount_at

log = structlog.get_logger(__name__)

MIN_SIZE_BYTES = 64 * 1024**2
MOUNT_OPTIONS = "loop,nosuid,nodev,noatime"
_LEFT_BY_MKFS = "lost+found"


class VolumeError(RuntimeError):
    """The volume cannot be set up; the message says what to do."""


class VolumeAction(Enum):
    """What `WorkspaceVolume.ensure` had to do (for the log and the tests)."""

    NOTHING = "already mounted"
    OWN_FILESYSTEM = "already the root of a filesystem of its own"
    MOUNTED = "mounted"
    CREATED = "created and mounted"


@dataclass(frozen=True)
class WorkspaceVolume:
    """Where the image lives, where it is mounted, and how large it should be."""

    image: Path
    mount_point: Path
    size_bytes: int

    def ensure(self) -> VolumeAction:
        """Make `mount_point` the root of the image's filesystem, however little that takes.

        Raises VolumeError naming the problem and its fix."""
        if self.size_bytes < MIN_SIZE_BYTES:
            raise VolumeError(f"{self.size_bytes} bytes is too small; at least 64 MiB")
        self.image.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.image.with_name(self.image.name + ".lock")):
            action = self._ensure_locked()
        if action is not VolumeAction.NOTHING:
            log.info(
                "workspace_volume",
                action=action.value,
                image=str(self.image),
                mount_point=str(self.mount_point),
            )
        return action

    def _ensure_locked(self) -> VolumeAction:
        mount_point = self.mount_point.resolve()
        current = _visible_mount(mount_point)
        if current is not None:
            return self._check_existing(current)
        mount_point.mkdir(parents=True, exist_ok=True)
        held = sorted(p.name for p in mount_point.iterdir())
        if held:
            raise VolumeError(
                f"{mount_point} already holds {len(held)} entries ({', '.join(held[:3])}"
                f"{', …' if len(held) > 3 else ''}), which mounting the volume over it would "
                "hide; move them out, start once to mount the volume, and move them back in "
                "(or leave the volume unset)"
            )
        created = not self.image.exists()
        if created:
            self._create_image()
        folder = mount_point.stat()
        _run(_tool("mount"), "-o", MOUNT_OPTIONS, str(self.image), str(mount_point))
        # Redone at every mount, so a crash between the mount and these leaves nothing behind:
        # mkfs's empty lost+found goes, and the volume's root takes the folder's owner and
        # permissions (a service mounted once by root may then run as its own user).
        with contextlib.suppress(OSError):
            (mount_point / _LEFT_BY_MKFS).rmdir()
        os.chown(mount_point, folder.st_uid, folder.st_gid)
        os.chmod(mount_point, folder.st_mode & 0o7777)
        self._report_size()
        return VolumeAction.CREATED if created else VolumeAction.MOUNTED

    def _check_existing(self, mount: Mount) -> VolumeAction:
        if mount.root != "/":
            raise VolumeError(
                f"{self.mount_point} is a bind mount of a folder within its filesystem, so "
                "sandboxed processes would still read its path there; mount a filesystem's "
                "root there instead, or unmount it and let the volume be mounted"
            )
        backing = _loop_backing_file(mount.source)
        if backing is None or Path(backing) != self.image.resolve():
            return VolumeAction.OWN_FILESYSTEM  # the operator's own disk: fine as it is
        if os.stat(self.mount_point).st_dev != mount.device:
            raise VolumeError(
                f"{self.mount_point} is listed as the volume's mount, but the path reaches "
                "another filesystem (something is mounted over it or over the data dir); "
                "unmount that so the workspaces land on the volume"
            )
        self._report_size()
        return VolumeAction.NOTHING

    def _create_image(self) -> None:
        """Sparse, then formatted, then renamed: a crash leaves no half-made image behind."""
        partial = self.image.with_name(self.image.name + ".partial")
        partial.unlink(missing_ok=True)
        with partial.open("wb") as f:
            f.truncate(self.size_bytes)
        _run(
            _tool("mkfs.ext4"),
            *("-q", "-F", "-b", "4096", "-m", "0", "-i", "8192", "-L", "cofounder-ws"),
            *("-E", "lazy_itable_init=1,lazy_journal_init=1"),
            str(partial),
        )
        os.chmod(partial, 0o600)
        partial.rename(self.image)

    def _report_size(self) -> None:
        """A size changed in the settings is not applied to a made image: growing ext4 online
        needs CAP_SYS_RESOURCE, which containers often lack, and it cannot shrink while
        mounted. Say so, with the steps."""
        have = self.image.stat().st_size
        if have != self.size_bytes:
            log.warning(
                "workspace_volume_size_differs",
                image=str(self.image),
                size_bytes=have,
                asked_bytes=self.size_bytes,
                to_grow="truncate -s SIZE IMAGE && losetup -c DEVICE && resize2fs DEVICE",
            )


def _visible_mount(path: Path) -> Mount | None:
    try:
        return mount_at(path)
    except OSError as exc:
        raise VolumeError(f"cannot read this process's mounts: {exc}") from exc


def _loop_backing_file(source: str) -> str | None:
    """The file behind a loop device (/sys/block/loopN/loop/backing_file), if it is one."""
    name = Path(source).name
    if not source.startswith("/dev/loop") or not name.startswith("loop"):
        return None
    try:
        text = Path("/sys/block", name, "loop", "backing_file").read_text().rstrip("\n")
    except OSError:
        return None
    return text.removesuffix(" (deleted)")


def _tool(name: str) -> str:
    """sbin tools are often off an ordinary user's PATH."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise VolumeError(f"{name} is not installed (Debian: util-linux and e2fsprogs)")
    return path


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # util-linux says why first and "dmesg(1) may have more information" last: keep all.
        said = " ".join((done.stderr or done.stdout).split())
        hint = (
            "; mounting an image needs root (CAP_SYS_ADMIN) and a free loop device"
            if Path(argv[0]).name == "mount"
            else ""
        )
        raise VolumeError(f"{Path(argv[0]).name} failed ({done.returncode}): {said}{hint}")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` for the block: one process sets the volume up at a time."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock
