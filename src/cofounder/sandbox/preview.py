"""What both previews share: the preview process's name, how much of its output a failure
shows, and the diagnosis of an app that never answered, read from the sockets it listens on.

Each backend finds the listeners its own way (the local one from `/proc/PID/net/tcp*` of the
sandbox's network namespace, E2B's with `ss` or `/proc/net/tcp*` run inside the cloud
sandbox); the words the model reads are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

PREVIEW_PROCESS_NAME = "preview"
TAIL_BYTES = 4000
PROBE_TIMEOUT_S = 2.0
LISTEN_STATE = "0A"  # TCP_LISTEN in /proc/net/tcp
_LOOPBACK_OR_ANY = {"127.0.0.1", "0.0.0.0", "::", "::1", "::ffff:127.0.0.1"}


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket: the address it is bound to and its port."""

    address: str
    port: int


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
