"""Ending a bubblewrap sandbox for sure: find its pid 1, kill it, wait for its namespace to empty.

bwrap's pid 1 is the init of the sandbox's pid namespace; when it dies the kernel kills every
other process in that namespace. These helpers make `exec` return only after that happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

from cofounder.sandbox.local.runner import Running, kill_tree


def child_pid(status: bytes) -> int | None:
    """The host pid of the sandbox's pid 1, from bwrap's `--json-status-fd` documents.

    bwrap writes `{"child-pid": N, ...}` once the sandbox is set up; no such document means
    setup failed (or has not finished).
    """
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
        if isinstance(doc, dict) and isinstance(doc.get("child-pid"), int):
            return int(doc["child-pid"])
    return None


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

    bwrap itself exits as soon as it has the command's status, while its pid 1 is still
    killing the rest of the namespace (measured here: in 38 of 50 runs pid 1 was still alive
    when bwrap had exited). The kernel makes pid 1 a zombie only after every other process in
    its namespace is gone, so we wait for that; if it lingers we kill it, which has the same
    effect.
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
