"""The workspaces as a filesystem of their own: an ext4 image in the data dir, loop-mounted.

Why: a bind mount's line in /proc/self/mountinfo names the bound directory by its path within
its filesystem, and no sandbox flag hides it. With the workspaces folder the root of its own
filesystem, a sandboxed process reads `/<session>` there, nothing of the host; and all builds
together cannot fill the host's disk (or the engine's own files beside it) beyond its size.

The mount outlives any crash of ours (the kernel holds it until unmounted or reboot), so the
lifecycle is: make the image once, mount it when it is not mounted, never unmount. Every step
is idempotent and runs under a lock, so processes starting together mount it once.

What is refused, each with the fix in the message: a symlink (or anything but a regular file)
at the image's path — an operator's redirect or an attack, either way not ours to follow or
replace; an image deleted while mounted (see `_deleted_image`); and a filesystem at
the mount point, the operator's own included, mounted without nosuid and nodev.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shlex
import shutil
import stat
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
REQUIRED_OPTIONS = ("nosuid", "nodev")
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
    """Where the image lives, where it is mounted, and how large it should be (None: as the
    data dir's image was made, when the setting is unset)."""

    image: Path
    mount_point: Path
    size_bytes: int | None

    def ensure(self) -> VolumeAction:
        """Make `mount_point` the root of the image's filesystem, however little that takes.

        Raises VolumeError naming the problem and its fix."""
        if self.size_bytes is not None and self.size_bytes < MIN_SIZE_BYTES:
            raise VolumeError(f"{self.size_bytes} bytes is too small; at least 64 MiB")
        self.image.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self._beside(".lock")):
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
        had_image = _image_exists(self.image)  # first: a symlink is refused, mounted or not
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
        created = not had_image
        if created:
            if self.size_bytes is None:
                raise VolumeError(f"there is no {self.image} to mount, nor a size to make one")
            self._create_image(self.size_bytes)
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
        ours = str(self._beside(""))
        if backing == f"{ours} (deleted)":
            raise self._deleted_image(mount.source)
        _refuse_without_required_options(self.mount_point, mount)
        if backing != ours:
            return VolumeAction.OWN_FILESYSTEM  # the operator's own disk: fine as it is
        if os.stat(self.mount_point).st_dev != mount.device:
            raise VolumeError(
                f"{self.mount_point} is listed as the volume's mount, but the path reaches "
                "another filesystem (something is mounted over it or over the data dir); "
                "unmount that so the workspaces land on the volume"
            )
        self._report_size()
        return VolumeAction.NOTHING

    def _beside(self, suffix: str) -> Path:
        """The image's path (with `suffix`) through its folder's real path, the image itself
        not followed: as a loop device's backing_file names it."""
        return self.image.parent.resolve() / (self.image.name + suffix)

    def _deleted_image(self, device: str) -> VolumeError:
        """The image was deleted (or replaced) while mounted. The volume still works: the loop
        device holds the deleted file until it is unmounted, and then its files are gone, at
        the latest at the next reboot. Carrying on would keep writing workspaces into a file
        nothing can reach after that, and the next start would make an empty image (or, the
        setting unset, put workspaces back on the host). So it is refused, at a process's start
        only (a running one carries on), with how to save the files while they still exist."""
        image, mount_point = shlex.quote(str(self.image)), shlex.quote(str(self.mount_point))
        return VolumeError(
            f"{self.image} was deleted or replaced while mounted at {self.mount_point}; "
            f"{device} still holds the volume, until it is unmounted or the machine reboots. "
            f"To keep its workspaces, stop every process of this data dir, then run "
            f"`mount -o remount,ro {mount_point} && cp --sparse=always {device} {image} && "
            f"umount {mount_point}`, and start again; to give them up instead (sessions come "
            f"back from their snapshots), `umount {mount_point}`"
        )

    def _create_image(self, size_bytes: int) -> None:
        """Sparse, then formatted, then linked at the image's path: a crash leaves no half-made
        image behind. Nothing is followed or replaced: the `.partial` is made afresh
        (O_EXCL|O_NOFOLLOW), mkfs formats it through this process's descriptor (not a path
        that could be swapped for a link to a disk), and that file is linked at the image's
        path, which fails if anything appeared there."""
        folder = os.open(self.image.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        partial = self.image.name + ".partial"
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial, dir_fd=folder)  # a crash's leftover; a symlink goes itself
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(partial, flags, 0o600, dir_fd=folder)
            try:
                os.ftruncate(fd, size_bytes)
                made = f"/proc/self/fd/{fd}"
                _run(
                    _tool("mkfs.ext4"),
                    *("-q", "-F", "-b", "4096", "-m", "0", "-i", "8192", "-L", "cofounder-ws"),
                    *("-E", "lazy_itable_init=1,lazy_journal_init=1"),
                    made,
                    pass_fds=(fd,),
                )
                try:  # linkat(AT_SYMLINK_FOLLOW) of the descriptor's file: no replacing
                    os.link(made, self.image.name, src_dir_fd=folder, dst_dir_fd=folder)
                except FileExistsError:
                    raise VolumeError(
                        f"{self.image} appeared while the volume was being made; "
                        "remove it if it is not a volume of this data dir, and start again"
                    ) from None
            finally:
                os.close(fd)
            os.unlink(partial, dir_fd=folder)
        finally:
            os.close(folder)

    def _report_size(self) -> None:
        """A size changed in the settings is not applied to a made image: growing ext4 online
        needs CAP_SYS_RESOURCE, which containers often lack, and it cannot shrink while
        mounted. Say so, with the steps."""
        have = os.lstat(self.image).st_size
        if self.size_bytes is not None and have != self.size_bytes:
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


def _image_exists(image: Path) -> bool:
    """Whether there is an image, a symlink not followed; anything there but a regular file is
    refused by name."""
    try:
        found = os.lstat(image)
    except FileNotFoundError:
        return False
    if stat.S_ISREG(found.st_mode):
        return True
    what = "a symbolic link" if stat.S_ISLNK(found.st_mode) else "not a regular file"
    raise VolumeError(
        f"{image} is {what}, and the volume's image must be a regular file (nothing at that "
        "path is followed or replaced); remove it, or put the image itself there, and start "
        "again"
    )


def _refuse_without_required_options(mount_point: Path, mount: Mount) -> None:
    """Builds run hostile code there: without nosuid a setuid program a build leaves (owned
    by root when the sandbox maps root) runs as its owner for whoever on the host starts it,
    and without nodev a device node it leaves opens the host's disks. The volume made here
    has both; the operator's own filesystem must too, so that choosing it does not quietly
    weaken the host. Refused rather than warned: a warning in a service's log does not stop
    the first build from leaving such a file."""
    missing = [option for option in REQUIRED_OPTIONS if option not in mount.flags]
    if missing:
        at = shlex.quote(str(mount_point))
        raise VolumeError(
            f"{mount_point} is mounted without {' and '.join(missing)}, so a build could "
            "leave setuid programs or device nodes there that work on the host; remount it "
            f"with `mount -o remount,nosuid,nodev {at}` (and add nosuid,nodev to its fstab "
            "line), and start again"
        )


def _loop_backing_file(source: str) -> str | None:
    """The file behind a loop device (/sys/block/loopN/loop/backing_file), if it is one: its
    path, followed by " (deleted)" when it has been deleted since."""
    name = Path(source).name
    if not source.startswith("/dev/loop") or not name.startswith("loop"):
        return None
    try:
        return Path("/sys/block", name, "loop", "backing_file").read_text().rstrip("\n")
    except OSError:
        return None


def _tool(name: str) -> str:
    """sbin tools are often off an ordinary user's PATH."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise VolumeError(f"{name} is not installed (Debian: util-linux and e2fsprogs)")
    return path


def _run(*argv: str, pass_fds: tuple[int, ...] = ()) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, pass_fds=pass_fds)
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
    """An exclusive flock on `path` for the block: one process sets the volume up at a time.
    A symlink there is not followed (O_CREAT would make the file it names)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise VolumeError(
            f"{path} is a symbolic link, which is not followed; remove it and start again"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock
