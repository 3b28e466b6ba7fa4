"""Host-side access to a directory that hostile processes change while we use it.

Everything here works by directory fd and refuses to follow links out: see `beneath`.
"""

from cofounder.hostfs.beneath import Beneath, Escape, MissingDirectory, Spot
from cofounder.hostfs.files import (
    FileTooLarge,
    NotRegularFile,
    Opened,
    lstat_at,
    open_dir_at,
    open_regular,
    open_regular_at,
    read_all,
    read_bytes,
    sha256_fd,
    write_atomic,
)
from cofounder.hostfs.walk import Entry, walk

__all__ = [
    "Beneath",
    "Entry",
    "Escape",
    "FileTooLarge",
    "MissingDirectory",
    "NotRegularFile",
    "Opened",
    "Spot",
    "lstat_at",
    "open_dir_at",
    "open_regular",
    "open_regular_at",
    "read_all",
    "read_bytes",
    "sha256_fd",
    "walk",
    "write_atomic",
]
