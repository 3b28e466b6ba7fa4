"""Ending a bubblewrap sandbox for sure: find its pid 1, kill it, wait for its namespace to empty.

The sandbox's pid 1 (our init, see `command.SANDBOX_INIT`) is the init of its pid namespace;
when it dies the kernel kills every other process in that namespace, and reports pid 1 dead
only once they are all gone. bwrap waits for it, so a bwrap that reported the exit code has
left nothing behind; these helpers cover the one that was killed before it could.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

from cofounder.sandbox.local.runner import Running, kill_tree


def _status_value(status: bytes, key: str) -> int | None:
    """The first integer `key` among bwrap's `--json-status-fd` documents, if any."""
    decoder = json.JSONDecoder()
    text = status.decode("utf-8", errors="replace")
    idx = 0
    while idx < len(text):
        while idx < len(text) and text[idx].isspace():
            idx += 1
        if idx >= len(text):
            break
        try:
            doc, idx = decoder.raw_decode(text, idx)
        except json.JSONDecodeError:
            return None
        if isinstance(doc, dict) and isinstance(doc.get(key), int):
            return int(doc[key])
    return None


def child_pid(status: bytes) -> int | None:
    """The host pid of the sandbox's pid 1, from bwrap's `--json-status-fd` documents.

    bwrap writes `{"child-pid": N, ...}` once the sandbox is set up; no such document means
    setup failed (or has not finished).
    """
    return _status_value(status, "child-pid")


def settle(status: bytes) -> None:
    """Once bwrap has exited: return only when its sandbox is gone too.

    A bwrap that wrote `{"exit-code": N}` waited for (and reaped) its pid 1, so the namespace
    is empty and that pid may already belong to someone else: leave it alone. One that was
    killed first may have left pid 1 still killing the rest: wait for that.
    """
    child = child_pid(status)
    if child is not None and _status_value(status, "exit-code") is None:
        await_namespace_teardown(child)


def kill_sandbox(run: Running) -> None:
    """Kill the sandbox's pid 1: the kernel then kills everything in its pid namespace.

    This ends the namespace directly instead of relying on `--die-with-parent` to pass the
    kill on, and bwrap then exits by itself with the status. Before pid 1 exists (or once
    bwrap is gone) we fall back to killing bwrap's process group.
    """
    child = child_pid(bytes(run.status))
    if child is not None and run.proc.poll() is None:
        try:
            os.kill(child, signal.SIGKILL)
            return
        except ProcessLookupError:
            pass
    kill_tree(run.proc)


def _proc_state(pid: int) -> str | None:
    """The state letter from /proc/PID/stat (R, S, Z, ...), or None if the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw.rsplit(b")", 1)[-1].split()[0].decode()


def await_namespace_teardown(pid1: int, timeout_s: float = 2.0) -> None:
    """Return only once the sandbox's pid namespace is empty.

    Only for a bwrap that was killed: its pid 1 gets SIGKILL from `--die-with-parent` and may
    still be killing the rest of the namespace. The kernel makes pid 1 a zombie only after
    every other process in its namespace is gone, so we wait for that; if it lingers we kill
    it, which has the same effect.
    """
    deadline = time.monotonic() + timeout_s
    killed = False
    while _proc_state(pid1) not in (None, "Z", "X"):
        if time.monotonic() >= deadline:
            if killed:
                return
            killed = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid1, signal.SIGKILL)
            deadline = time.monotonic() + timeout_s
        time.sleep(0.001)
