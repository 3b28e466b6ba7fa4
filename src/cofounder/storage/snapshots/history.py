"""The build's history as a git repository: one commit per iteration, its narration as message.

Driven through `git fast-import` (one process, blobs written once however many iterations share
them, exact modes, dates and messages). Every git call runs with a scrubbed environment and
`-c` options, so the user's global or system config, hooks and templates never apply.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from cofounder.storage.snapshots.export import FetchVerified, chunks
from cofounder.storage.snapshots.manifest import Manifest, ManifestEntry, decode_name

AGENT_NAME, AGENT_EMAIL = "Cofounder agent", "agent@cofounder.invalid"
AUTHOR = f"{AGENT_NAME} <{AGENT_EMAIL}>"
BRANCH = "main"
TAG_PREFIX = "iteration-"
SUMMARY_CHARS = 72
_GIT_OPTIONS = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "core.autocrlf=false",
    "-c", "gc.auto=0",
    "-c", "core.logAllRefUpdates=false",  # a reflog would name the exporting user
    "-c", f"init.defaultBranch={BRANCH}",
)  # fmt: skip


class HistoryError(Exception):
    """git is missing or refused to build the history (its own message is kept)."""


@dataclass(frozen=True)
class IterationRecord:
    """What one committed iteration contributes: its code, its words, its time."""

    iteration: int
    snapshot_id: str
    narration: tuple[str, ...]
    committed_at: datetime


@dataclass(frozen=True)
class History:
    """A built repository (`git_dir` is its `.git` folder) and which iterations it holds."""

    git_dir: Path
    iterations: tuple[int, ...]


def git_program() -> str:
    found = shutil.which("git")
    if found is None:
        raise HistoryError(
            "--git-history needs the git program, which is not on PATH "
            "(on Debian or Ubuntu: apt install git)"
        )
    return found


def commit_message(iteration: int, narration: Sequence[str]) -> str:
    """First line a clipped summary, then the full narration; "iteration N" when it said
    nothing. Control characters (other than newlines and tabs) are dropped: it is model text."""
    parts = [_printable(text).strip() for text in narration]
    full = "\n\n".join(part for part in parts if part)
    if not full:
        return f"iteration {iteration}\n"
    first = " ".join(full.split("\n", 1)[0].split())
    summary = first if len(first) <= SUMMARY_CHARS else first[: SUMMARY_CHARS - 1].rstrip() + "…"
    if summary == full:
        return f"{summary}\n"
    return f"{summary}\n\n{full}\n"


def _printable(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c for c in text if c in "\n\t" or (ord(c) >= 0x20 and ord(c) != 0x7F))


def build_history(
    records: Sequence[IterationRecord],
    load: Callable[[str], Manifest],
    fetch: FetchVerified,
    workdir: Path,
    ignore: Sequence[str] = (),
) -> History:
    """Write a repository at `workdir/.git` whose branch `main` has one commit per record, in
    order, each tagged `iteration-N` (an iteration that changed nothing still gets its, empty,
    commit, so every iteration can be checked out by name), with an index matching the last
    one so the unpacked folder is clean. `ignore` names top-level folders the export adds
    beside the code (written to info/exclude)."""
    git = git_program()
    git_dir = workdir / ".git"
    with tempfile.TemporaryDirectory(prefix="cofounder-git-home-") as home:
        env = _env(Path(home))
        _run("init", [git, *_GIT_OPTIONS, "init", "-q", "--template=", str(workdir)], env)
        in_repo = [git, *_GIT_OPTIONS, f"--git-dir={git_dir}"]
        _fast_import([*in_repo, "fast-import", "--quiet", "--done"], env, records, load, fetch)
        _run("read-tree", [*in_repo, "read-tree", f"refs/heads/{BRANCH}"], env)
    (git_dir / "info").mkdir(exist_ok=True)
    (git_dir / "info" / "exclude").write_text("".join(f"/{name}/\n" for name in ignore))
    return History(git_dir=git_dir, iterations=tuple(r.iteration for r in records))


def _env(home: Path) -> dict[str, str]:
    """The caller's environment without any GIT_* (GIT_DIR, GIT_INDEX_FILE… would redirect
    git), with no system or global config and a throwaway HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_COMMITTER_NAME=AGENT_NAME,
        GIT_COMMITTER_EMAIL=AGENT_EMAIL,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home),
        LC_ALL="C",
    )
    return env


def _run(what: str, args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HistoryError(f"git {what} failed: {result.stderr.strip()}")


def _fast_import(
    args: list[str],
    env: dict[str, str],
    records: Sequence[IterationRecord],
    load: Callable[[str], Manifest],
    fetch: FetchVerified,
) -> None:
    # stderr goes to a file: a pipe nobody reads could fill and stall git mid-stream.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        assert process.stdin is not None
        try:
            _Stream(process.stdin, fetch).write(records, load)
            process.stdin.write(b"done\n")
            process.stdin.close()
        except BrokenPipeError:
            pass  # git stopped reading: its exit status and stderr say why
        except BaseException:
            process.kill()
            process.wait()
            raise
        if process.wait() != 0:
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace").strip()
            raise HistoryError(f"git fast-import failed: {message[-2000:]}")


class _Stream:
    """Writes fast-import commands; each distinct blob once, under a mark."""

    def __init__(self, out: IO[bytes], fetch: FetchVerified) -> None:
        self._out, self._fetch = out, fetch
        self._marks: dict[str, int] = {}  # blob sha256 -> mark
        self._next_mark = 1

    def write(self, records: Sequence[IterationRecord], load: Callable[[str], Manifest]) -> None:
        commits: dict[int, int] = {}  # iteration -> its commit's mark
        for record in records:
            entries = [e for e in load(record.snapshot_id).entries if _tracked(e)]
            self._blobs([e for e in entries if e.kind == "file"])
            when = f"{int(record.committed_at.timestamp())} +0000"
            self._line(f"commit refs/heads/{BRANCH}")
            commits[record.iteration] = self._mark()
            self._line(f"author {AUTHOR} {when}")
            self._line(f"committer {AUTHOR} {when}")
            self._data(commit_message(record.iteration, record.narration).encode("utf-8"))
            self._line("deleteall")
            for entry in entries:
                path = _quote(os.fsencode(decode_name(entry.path)))
                if entry.kind == "symlink":
                    self._out.write(b"M 120000 inline " + path + b"\n")
                    self._data(os.fsencode(decode_name(entry.target or "")))
                else:
                    mode = "100755" if entry.mode & 0o111 else "100644"
                    assert entry.sha256 is not None
                    mark = self._marks[entry.sha256]
                    self._out.write(f"M {mode} :{mark} ".encode() + path + b"\n")
            self._line("")
        for iteration, mark in commits.items():
            self._line(f"reset refs/tags/{TAG_PREFIX}{iteration}")
            self._line(f"from :{mark}")
            self._line("")

    def _mark(self) -> int:
        mark, self._next_mark = self._next_mark, self._next_mark + 1
        self._line(f"mark :{mark}")
        return mark

    def _blobs(self, files: list[ManifestEntry]) -> None:
        unique = {e.sha256: e for e in files if e.sha256 not in self._marks}
        blobs: dict[int, bytes] = {}
        for chunk in chunks(list(unique.values()), 64):
            blobs.clear()
            self._fetch(chunk, blobs.__setitem__)
            for index, entry in enumerate(chunk):
                assert entry.sha256 is not None
                self._line("blob")
                self._marks[entry.sha256] = self._mark()
                self._data(blobs[index])

    def _line(self, text: str) -> None:
        self._out.write(text.encode("utf-8") + b"\n")

    def _data(self, body: bytes) -> None:
        self._out.write(f"data {len(body)}\n".encode() + body + b"\n")


def _tracked(entry: ManifestEntry) -> bool:
    """Files and links only (git keeps no folders); never a path through a `.git` folder,
    which git refuses to hold (the agent's own repository is metadata, not code)."""
    if entry.kind not in ("file", "symlink"):
        return False
    return all(part.casefold() != ".git" for part in decode_name(entry.path).split("/"))


def _quote(path: bytes) -> bytes:
    """fast-import's C-style quoting, used always: any byte of a file name survives."""
    out = bytearray(b'"')
    for byte in path:
        if byte in (0x22, 0x5C):
            out += b"\\" + bytes([byte])
        elif 0x20 <= byte < 0x7F:
            out.append(byte)
        else:
            out += f"\\{byte:03o}".encode()
    out += b'"'
    return bytes(out)
