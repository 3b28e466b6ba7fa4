"""Keep a host workspace and a remote sandbox's copy of it equal around each command.

The tools read and write files under `sandbox.workspace` on the host, so a remote sandbox
needs a host copy that is current whenever a tool runs. `WorkspaceMirror` does that in two
steps per command, with few round-trips whatever the number of files:

- `push` (before): scan the host tree, diff it against the host state recorded at the last
  sync, and send only what changed as one gzip tar plus one shell step that deletes what was
  removed, unpacks the tar and prints the remote manifest.
- `pull` (after): one shell step prints the remote manifest (`find -printf`: type, mode,
  size, mtime, ctime, inode, link target); the diff against the previous manifest names what
  the command changed; changed files come back as one tar, and removals, directories and
  symlinks are applied from the manifest itself.

Each side is only ever diffed against its own earlier state, so clocks need not agree; ctime
and the inode catch rewrites that keep size and mtime. The remote side is untrusted: what
comes back is written only to the paths the manifest named, never through a symlink, and
only as regular files, directories or symlinks. Rebuildable folders (`node_modules`,
`.venv`, ...) stay remote-only, as they stay out of snapshots; files larger than
`max_file_bytes` stay remote-only too, and a note says so.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from cofounder.sandbox.protocol import SandboxError

DEFAULT_REMOTE_ONLY = frozenset(
    {"node_modules", ".venv", "venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".cache"}
)
_FIELDS = 8  # per entry in the remote manifest, see manifest_command


class RemoteOps(Protocol):
    """The three remote operations the mirror needs; errors surface as SandboxError."""

    def run(self, command: str) -> str: ...

    def write(self, path: str, data: bytes) -> None: ...

    def read(self, path: str) -> bytes: ...


@dataclass(frozen=True)
class Entry:
    kind: str  # "f" regular file, "d" directory, "l" symlink
    mode: int  # permission bits
    size: int
    mtime: float
    stamp: str  # what changes when the entry does: file stat triple, or a link's target

    def same_as(self, other: Entry | None) -> bool:
        if other is None:
            return False
        return (self.kind, self.mode, self.stamp) == (other.kind, other.mode, other.stamp)


Manifest = dict[str, Entry]


def diff(old: Manifest, new: Manifest) -> tuple[list[str], list[str]]:
    """(paths new or changed in `new`, paths to delete first: gone or changed kind), sorted."""
    changed = sorted(p for p, e in new.items() if not e.same_as(old.get(p)))
    gone = {p for p in old if p not in new}
    gone |= {p for p in changed if p in old and old[p].kind != new[p].kind}
    return changed, _outermost(gone)


def _outermost(paths: Iterable[str]) -> list[str]:
    """Drop paths that lie under another path of the set (deleting the parent covers them)."""
    chosen = set(paths)
    return sorted(p for p in chosen if not any(str(a) in chosen for a in PurePosixPath(p).parents))


def scan_host(root: Path, remote_only: frozenset[str]) -> Manifest:
    """Every file, directory and symlink under `root` (not following links), by relative path."""
    found: Manifest = {}
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(os.path.join(root, rel_dir)) as it:
            for de in it:
                if de.name in remote_only or not _utf8(de.name):
                    continue
                rel = f"{rel_dir}/{de.name}" if rel_dir else de.name
                st = de.stat(follow_symlinks=False)
                mode = stat.S_IMODE(st.st_mode)
                if stat.S_ISDIR(st.st_mode):
                    found[rel] = Entry("d", mode, 0, st.st_mtime, "")
                    stack.append(rel)
                elif stat.S_ISREG(st.st_mode):
                    stamp = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
                    found[rel] = Entry("f", mode, st.st_size, st.st_mtime, stamp)
                elif stat.S_ISLNK(st.st_mode):
                    found[rel] = Entry("l", mode, 0, st.st_mtime, os.readlink(de.path))
    return found


def _utf8(name: str) -> bool:
    """Names with undecodable bytes cannot travel through the SDK's text protocol intact."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def manifest_command(remote_root: str, remote_only: frozenset[str]) -> str:
    """A find that prints eight NUL-terminated fields per entry; rebuildable dirs are pruned.

    A missing root fails the step (an empty listing would read as "delete everything"); an
    entry that vanishes or a folder that cannot be read while listing does not.
    """
    root = shlex.quote(remote_root)
    prune = " -o ".join(f"-name {shlex.quote(n)}" for n in sorted(remote_only))
    prune_expr = f"\\( {prune} \\) -prune -o " if prune else ""
    return (
        f"test -d {root} && {{ find {root} -mindepth 1 {prune_expr}"
        "-printf '%y\\0%m\\0%s\\0%T@\\0%C@\\0%i\\0%P\\0%l\\0' 2>/dev/null; true; }"
    )


def parse_manifest(out: str) -> Manifest:
    fields = out.split("\0")
    if fields[-1] != "" or (len(fields) - 1) % _FIELDS:
        raise SandboxError("the remote workspace listing was cut short or malformed")
    found: Manifest = {}
    for i in range(0, len(fields) - 1, _FIELDS):
        kind, mode, size, mtime, ctime, ino, rel, link = fields[i : i + _FIELDS]
        if kind not in ("f", "d", "l") or not _is_relative(rel):
            continue  # sockets, fifos, devices: nothing the tools could use
        stamp = {"f": f"{size}:{mtime}:{ctime}:{ino}", "l": link}.get(kind, "")
        found[rel] = Entry(kind, int(mode, 8), int(size), float(mtime), stamp)
    return found


def _is_relative(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return bool(parts) and not rel.startswith("/") and ".." not in parts and "\x00" not in rel


def _null_list(paths: Iterable[str]) -> str:
    """A shell pipeline head that emits `paths` NUL-separated (printf is a builtin: no ARG_MAX)."""
    return "printf '%s\\0' " + " ".join(shlex.quote(p) for p in paths)


class WorkspaceMirror:
    """The sync state of one host workspace and one remote copy; not thread-safe."""

    def __init__(
        self,
        host_root: Path,
        remote_root: str,
        *,
        remote_only: frozenset[str] = DEFAULT_REMOTE_ONLY,
        max_file_bytes: int = 64 * 1024 * 1024,
        scratch_dir: str = "/tmp",
    ) -> None:
        self.host_root = host_root
        self.remote_root = remote_root
        self.remote_only = remote_only
        self.max_file_bytes = max_file_bytes
        # Where the transfer archives sit in the sandbox, outside the mirrored tree.
        self.push_tar = f"{scratch_dir.rstrip('/')}/.cofounder-push.tar.gz"
        self.pull_tar = f"{scratch_dir.rstrip('/')}/.cofounder-pull.tar.gz"
        self._host_seen: Manifest = {}
        self._remote_seen: Manifest = {}

    def reset(self) -> None:
        """Forget both sides: the next push sends the whole host tree (a fresh remote)."""
        self._host_seen = {}
        self._remote_seen = {}

    def push(self, remote: RemoteOps) -> int:
        """Send host changes since the last sync; returns how many entries were sent."""
        now = scan_host(self.host_root, self.remote_only)
        changed, gone = diff(self._host_seen, now)
        if not changed and not gone:
            return 0
        root = shlex.quote(self.remote_root)
        steps = [f"cd {root}"]
        if gone:
            steps.append(f"{_null_list(gone)} | xargs -0 -r rm -rf --")
        if changed:
            remote.write(self.push_tar, self._pack(changed))
            archive = shlex.quote(self.push_tar)
            steps.append(f"tar -xzf {archive} -C {root} --no-same-owner && rm -f {archive}")
        steps.append(manifest_command(self.remote_root, self.remote_only))
        self._remote_seen = parse_manifest(remote.run(" && ".join(steps)))
        self._host_seen = now
        return len(changed) + len(gone)

    def pull(self, remote: RemoteOps, *, prelude: str = "") -> list[str]:
        """Bring remote changes to the host; returns notes about what could not be mirrored.

        `prelude` runs first in the same round-trip (the caller's cleanup of stray processes).
        """
        archives = f"{shlex.quote(self.push_tar)} {shlex.quote(self.pull_tar)}"
        listing = f"rm -f {archives}; " + manifest_command(self.remote_root, self.remote_only)
        now = parse_manifest(remote.run(f"{prelude}; {listing}" if prelude else listing))
        changed, gone = diff(self._remote_seen, now)
        self._remote_seen = now
        if not changed and not gone:
            return []
        notes: list[str] = []
        files = []
        for rel in changed:
            entry = now[rel]
            if entry.kind == "f" and entry.size > self.max_file_bytes:
                notes.append(
                    f"[workspace mirror: {rel} ({entry.size} bytes) is over "
                    f"{self.max_file_bytes} bytes and stays only in the cloud sandbox]"
                )
                gone.append(rel)  # a stale host copy would be worse than none
            elif entry.kind == "f":
                files.append(rel)
        for rel in _outermost(gone):
            self._remove_host(rel)
        for rel in changed:
            entry = now[rel]
            if entry.kind == "d":
                self._make_host_dir(rel, entry.mode)
            elif entry.kind == "l":
                target = self._host_path(rel)
                _clear(target)
                os.symlink(entry.stamp, target)
        if files:
            self._fetch(remote, files, now)
        self._host_seen = scan_host(self.host_root, self.remote_only)
        return notes

    def _pack(self, paths: list[str]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
            for rel in paths:
                info = tar.gettarinfo(os.path.join(self.host_root, rel), arcname=rel)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if info.isreg():
                    with open(os.path.join(self.host_root, rel), "rb") as fh:
                        tar.addfile(info, fh)
                else:
                    tar.addfile(info)
        return buf.getvalue()

    def _fetch(self, remote: RemoteOps, files: list[str], wanted: Manifest) -> None:
        root = shlex.quote(self.remote_root)
        # tar exits 1 when a file changed or vanished while read: still a usable archive.
        archive = shlex.quote(self.pull_tar)
        remote.run(
            f"{_null_list(files)} | tar -C {root} --null --no-recursion -T - -czf {archive}"
            "; rc=$?; [ $rc -le 1 ]"
        )
        with tarfile.open(fileobj=io.BytesIO(remote.read(self.pull_tar)), mode="r:gz") as tar:
            for member in tar:
                entry = wanted.get(member.name)
                if entry is None or entry.kind != "f" or not member.isreg():
                    continue  # only what the manifest announced, and only as a regular file
                if member.size > self.max_file_bytes:
                    continue
                src = tar.extractfile(member)
                if src is not None:
                    self._write_host_file(member.name, src.read(), entry)

    def _host_path(self, rel: str, *, create: bool = True) -> Path:
        """The host path for `rel` (parents created if `create`); never passes a symlink."""
        if not _is_relative(rel):
            raise SandboxError(f"workspace mirror refused the path {rel!r}")
        parts = PurePosixPath(rel).parts
        current = self.host_root
        for part in parts[:-1]:
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                if not create:
                    raise SandboxError(f"workspace mirror: {rel} is not on the host") from None
                os.mkdir(current, 0o755)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise SandboxError(f"workspace mirror: {rel} is under a non-directory on the host")
        return current / parts[-1]

    def _make_host_dir(self, rel: str, mode: int) -> None:
        target = self._host_path(rel)
        if not (target.is_dir() and not target.is_symlink()):
            _clear(target)
            os.mkdir(target)
        os.chmod(target, mode | 0o700)  # the host copy must stay writable for the tools

    def _write_host_file(self, rel: str, data: bytes, entry: Entry) -> None:
        target = self._host_path(rel)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".sync")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, (entry.mode & 0o777) | 0o600)
            os.utime(tmp, (entry.mtime, entry.mtime))
            os.replace(tmp, target)  # the tools never see half a file
        except BaseException:
            _clear(Path(tmp))
            raise

    def _remove_host(self, rel: str) -> None:
        try:
            target = self._host_path(rel, create=False)
        except SandboxError:
            return  # its parent is missing or not a directory: nothing of ours is there
        _clear(target)


def _clear(path: Path) -> None:
    """Remove whatever is at `path` (a directory tree is removed without following links)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)
