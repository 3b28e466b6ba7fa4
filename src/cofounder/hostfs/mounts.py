"""This process's mount table, read from /proc/self/mountinfo (proc(5)), fields unescaped."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mount:
    """One mountinfo line: `root` is the mounted directory's path within its own filesystem
    ("/" when the whole filesystem is mounted), `mount_point` where it appears to us.
    `flags` are this mount's own options (nosuid, nodev, ro: each mount of a filesystem has
    its own), `super_options` the filesystem's."""

    device: int  # as os.stat's st_dev: a path reaches this mount only if they are equal
    root: str
    mount_point: str
    fstype: str
    source: str
    flags: frozenset[str]
    super_options: frozenset[str]


def unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal."""
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _device(major_minor: str) -> int:
    major, _, minor = major_minor.partition(":")
    try:
        return os.makedev(int(major), int(minor))
    except ValueError:
        return -1


def parse_mounts(mountinfo: str) -> list[Mount]:
    """Every well-formed line of `mountinfo`, in order (a later mount hides an earlier one at
    the same mount point)."""
    found = []
    for line in mountinfo.splitlines():
        pre, sep, post = line.partition(" - ")
        fields, tail = pre.split(), post.split()
        if not sep or len(fields) < 6 or len(tail) < 3:
            continue
        found.append(
            Mount(
                device=_device(fields[2]),
                root=unescape(fields[3]),
                mount_point=unescape(fields[4]),
                fstype=tail[0],
                source=unescape(tail[1]),
                flags=frozenset(fields[5].split(",")),
                super_options=frozenset(tail[2].split(",")),
            )
        )
    return found


def read_mounts(proc_self: Path = Path("/proc/self")) -> list[Mount]:
    """Raises OSError when /proc is not there to read. Bytes that are not UTF-8 (the kernel
    does not escape them) decode as Python decodes such paths, so comparisons still hold."""
    return parse_mounts((proc_self / "mountinfo").read_text(errors="surrogateescape"))


def mount_at(path: Path, proc_self: Path = Path("/proc/self")) -> Mount | None:
    """The mount that `path` (absolute, resolved) is the mount point of, if any: the last one,
    which is the one visible."""
    for mount in reversed(read_mounts(proc_self)):
        if mount.mount_point == str(path):
            return mount
    return None
