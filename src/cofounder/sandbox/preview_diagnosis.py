"""Why an app never answered, in words the model can act on, from the sockets the sandbox
listens on; and the `/proc/net/tcp` parsing both wings read those sockets with.

The local wing reads `/proc/PID/net/tcp*` of the sandbox's network namespace, E2B's reads `ss`
or `/proc/net/tcp*` inside the cloud sandbox; the diagnosis is the same.
"""

from __future__ import annotations

from collections.abc import Iterable

from cofounder.sandbox.preview_types import Listener
from cofounder.sandbox.protocol import BackgroundInfo

PROBE_TIMEOUT_S = 2.0  # how long one health probe waits for an answer, in either wing
LISTEN_STATE = "0A"  # TCP_LISTEN in /proc/net/tcp
_LOOPBACK_OR_ANY = {"127.0.0.1", "0.0.0.0", "::", "::1", "::ffff:127.0.0.1"}


def hex_to_address(hex_addr: str) -> str:
    """An address as `/proc/net/tcp` or `tcp6` writes it (little-endian hex), as text."""
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw[::-1])
    # /proc/net/tcp6: four little-endian 32-bit words
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
    full = b"".join(words)
    if full[:12] == b"\x00" * 10 + b"\xff\xff":
        return "::ffff:" + ".".join(str(b) for b in full[12:])
    groups = [f"{int.from_bytes(full[i : i + 2], 'big'):x}" for i in range(0, 16, 2)]
    text = ":".join(groups)
    return {"0:0:0:0:0:0:0:0": "::", "0:0:0:0:0:0:0:1": "::1"}.get(text, text)


def by_port(found: Iterable[Listener]) -> list[Listener]:
    """Each listener once, ordered by port then address (the order the model reads)."""
    return sorted(set(found), key=lambda x: (x.port, x.address))


def proc_net_listeners(lines: Iterable[str]) -> list[Listener]:
    """The listening sockets among lines of `/proc/net/tcp` and `tcp6` (headers, other states
    and malformed lines are skipped)."""
    found: list[Listener] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[3] != LISTEN_STATE:
            continue
        hex_addr, _, hex_port = fields[1].partition(":")
        try:
            found.append(Listener(hex_to_address(hex_addr), int(hex_port, 16)))
        except ValueError:
            continue
    return by_port(found)


def exit_hint(info: BackgroundInfo | None, port: int) -> str:
    """The app's process ended before it answered: say so, with its exit code when known."""
    if info is None or info.exit_code is None:
        return (
            f"the command stopped before anything answered on port {port} and its exit code "
            "is unknown (the cloud sandbox it ran in is gone); its output is below"
        )
    return (
        f"the command exited with code {info.exit_code} before anything answered on port "
        f"{port}; its output is below"
    )


def diagnose(found: list[Listener], port: int) -> str:
    """Why nothing answered on `port`, from what the sandbox listens on."""
    on_port = [x for x in found if x.port == port]
    if on_port and not any(x.address in _LOOPBACK_OR_ANY for x in on_port):
        where = ", ".join(x.address for x in on_port)
        return (
            f"the app listens on port {port} but only on {where}; bind it to 0.0.0.0 "
            "(or 127.0.0.1) so the preview can reach it"
        )
    if on_port:
        return (
            f"something listens on port {port} but did not answer HTTP within "
            f"{PROBE_TIMEOUT_S:g} s; is it an HTTP server, and is it stuck?"
        )
    others = sorted({x.port for x in found})
    if others:
        listed = ", ".join(str(p) for p in others)
        return (
            f"nothing listens on port {port}, but the app listens on port(s) {listed}; "
            "call preview with that port, or make the app use the one you gave"
        )
    return (
        f"nothing listens on port {port}; the command must run the server in the foreground "
        "(not daemonize) and bind 0.0.0.0 or 127.0.0.1"
    )
