"""Calling raw syscalls from inside the sandbox, C-free: python3 with ctypes' libc.syscall.

A probe is a list of (label, syscall number, arguments); the command prints one JSON object
mapping each label to the errno name the call failed with, or "ok". Numbers are resolved on
the host by libseccomp, so the probe and the filter agree on them.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence

import pyseccomp

Call = tuple[str, int, Sequence[int]]

_PROBE = r"""
import ctypes, errno, json, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {}
for label, nr, args in json.loads(sys.argv[1]):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a) for a in args])
    err = ctypes.get_errno()
    out[label] = errno.errorcode.get(err, str(err)) if rc == -1 else "ok"
print(json.dumps(out))
"""


def number(name: str) -> int | None:
    """The syscall's number on this machine, or None where this architecture lacks it."""
    nr = int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name))
    return nr if nr >= 0 else None


def plain_calls(names: Sequence[str]) -> list[Call]:
    """Each syscall this machine has, called with all-zero arguments (harmless either way:
    with no capabilities the kernel refuses or ignores every one of them)."""
    return [(n, nr, [0] * 6) for n in names if (nr := number(n)) is not None]


def probe_command(calls: Sequence[Call]) -> str:
    payload = [[label, nr, list(args)] for label, nr, args in calls]
    return f"python3 -c {shlex.quote(_PROBE)} {shlex.quote(json.dumps(payload))}"


def one_call(name: str, *args: int) -> str:
    """A command printing just the errno name (or "ok") of one call of `name`."""
    nr = number(name)
    assert nr is not None, name
    return probe_command([(name, nr, args)]) + f" | python3 -c {shlex.quote(_PICK)} {name}"


_PICK = "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])"


def parse(stdout: str) -> dict[str, str]:
    result = json.loads(stdout)
    assert isinstance(result, dict)
    return {str(k): str(v) for k, v in result.items()}
