"""What a snapshot records: the manifest model, lossless path names, and excluded folders.

Pure data and rules, no I/O: the store, the scanner, the settings and the agent's prompt all
share these definitions, so what is excluded and how a path is written cannot drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

# Rebuildable folders: dependencies and caches that the project's own setup step regenerates.
# Matched by folder name at any depth; their contents are never uploaded.
DEFAULT_EXCLUDES = frozenset(
    {
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".cache",
    }
)

SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SnapshotError(Exception):
    """A snapshot could not be taken, or a stored one is missing or corrupt."""


_RAW = "\x00b64:"  # NUL cannot occur in a POSIX name, so this prefix is unambiguous


def encode_name(name: str) -> str:
    """A JSON-safe, lossless form of a path from os.walk (which may carry non-UTF-8 bytes)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return _RAW + base64.b64encode(os.fsencode(name)).decode()


def decode_name(stored: str) -> str:
    if stored.startswith(_RAW):
        return os.fsdecode(base64.b64decode(stored.removeprefix(_RAW)))
    return stored


def check_exclude_name(raw: str) -> str:
    """A valid excluded-folder name (stripped), or ValueError saying what is wrong with it.

    Excludes are folder *names* matched at any depth, so a path could never match: absolute
    paths, `..`, `.`, slashes and empty names are refused rather than silently ignored.
    """
    name = raw.strip()
    if not name:
        raise ValueError("an excluded folder name is empty (check for a stray comma)")
    if name.startswith("/"):
        raise ValueError(
            f"{name!r} is an absolute path; give a folder name such as 'node_modules', "
            "which is excluded wherever it appears in the workspace"
        )
    if ".." in name.replace("\\", "/").split("/"):
        raise ValueError(
            f"{name!r} points outside the workspace with '..'; give a folder name such as "
            "'node_modules'"
        )
    if name == ".":
        raise ValueError("'.' is the workspace itself, not a folder to leave out")
    if "/" in name or "\\" in name or "\x00" in name:
        raise ValueError(
            f"{name!r} is a path, not a folder name; 'node_modules' (no slashes) excludes that "
            "folder wherever it appears in the workspace"
        )
    return name


def check_exclude_names(names: Iterable[str]) -> list[str]:
    """Validated, de-duplicated and sorted, so equal settings give the same prompt text."""
    return sorted({check_exclude_name(name) for name in names})


class ManifestEntry(BaseModel):
    """`path` and `target` are stored with `encode_name`; "excluded" marks a rebuildable dir
    (its name only), so a restore can remove one that an interrupted batch created.

    `mtime_ns` is restored too (tools such as `glob` list newest first); manifests written
    before it was recorded lack it, and then a restore leaves modification times as they fall.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    kind: Literal["file", "dir", "symlink", "excluded"]
    mode: int = 0
    size: int = 0
    sha256: str | None = None
    target: str | None = None
    mtime_ns: int | None = None

    def same_content(self, other: ManifestEntry | None) -> bool:
        """Equal but for the modification time: nothing needs writing, at most a utime."""
        return other is not None and self._content() == other._content()

    def _content(self) -> tuple[object, ...]:
        return (self.path, self.kind, self.mode, self.size, self.sha256, self.target)


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    entries: list[ManifestEntry]

    def body(self) -> bytes:
        """The stored bytes; their sha256 is the snapshot id. Unset fields are left out."""
        return self.model_dump_json(exclude_none=True).encode()

    def snapshot_id(self) -> str:
        return hashlib.sha256(self.body()).hexdigest()
