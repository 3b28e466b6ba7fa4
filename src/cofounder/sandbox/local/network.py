"""The `egress` network: outside addresses through pasta, never the host or private networks.

pasta (Debian `passt`) gives a network namespace a tap interface whose traffic it turns into
ordinary sockets on the host, so the sandbox reaches what the host reaches, with no bridge,
NAT or iptables. We start one pasta per sandbox, with a tiny holder process as the namespace's
only resident, and every command of the sandbox runs in that namespace. Before any command
runs, policy routing rules in the namespace (which nothing inside can change: the sandbox has
no capabilities there) refuse, locally and before any packet leaves, every destination that
is the host or behind it: private, shared and link-local ranges (cloud metadata lives at
169.254.169.254), the host's own addresses and its gateways. Host loopback is not reachable
at all: the namespace has its own `lo`, and pasta's host-loopback forwarding is disabled
(`--no-map-gw`, `-T none -U none`). DNS goes to one fixed address that pasta maps to the
host's resolver, and only UDP port 53 is let through to it.

Lifetime: the holder reads a pipe whose write end only this process holds; when we close it,
or when this process dies for any reason, the holder exits and pasta exits with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cofounder.sandbox.local.netns import HOLDER_SCRIPT, START_TIMEOUT_S, await_ready_line
from cofounder.sandbox.protocol import SandboxError

# Refused from inside the sandbox (RFC 6890 special-purpose ranges that can reach the host or
# its neighbours, plus multicast). Loopback is local to the namespace and needs no rule.
BLOCKED_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
BLOCKED_V6 = ("64:ff9b::/96", "64:ff9b:1::/48", "fc00::/7", "fe80::/10", "ff00::/8")

# The sandbox's only name server; pasta maps UDP port 53 here to the host's resolver. It sits
# inside a blocked range, so nothing but DNS can ever be sent to it.
DNS_ADDRESS = "169.254.0.53"
RESOLV_CONF = f"nameserver {DNS_ADDRESS}\noptions timeout:2 attempts:2\n".encode()

_ALLOW_PRIORITY = 100
_BLOCK_PRIORITY = 200


@dataclass(frozen=True)
class HostAddresses:
    """Addresses of the host itself and of its default gateways, both families."""

    addresses: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()


def _ip_json(ip: str, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [ip, "-j", *args], capture_output=True, text=True, timeout=10, check=False, env={}
    )
    if done.returncode != 0:
        raise SandboxError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")
    parsed = json.loads(done.stdout or "[]")
    return parsed if isinstance(parsed, list) else []


def host_addresses(ip: str) -> HostAddresses:
    """Every address on this host's interfaces and its default gateways (from `ip -j`)."""
    addresses = [
        str(info["local"])
        for link in _ip_json(ip, "addr", "show")
        for info in link.get("addr_info", [])
        if info.get("local")
    ]
    gateways = [
        str(route["gateway"])
        for family in ("-4", "-6")
        for route in _ip_json(ip, family, "route", "show", "default")
        if route.get("gateway")
    ]
    return HostAddresses(tuple(dict.fromkeys(addresses)), tuple(dict.fromkeys(gateways)))


def rule_batches(host: HostAddresses) -> tuple[str, str]:
    """`ip -batch` input for IPv4 and for IPv6: allow DNS to DNS_ADDRESS, refuse the rest.

    `prohibit` makes connect() fail at once with EACCES, so no packet is ever sent.
    """
    allow_dns = f"to {DNS_ADDRESS}/32 ipproto udp dport 53 table main"
    v4 = [f"rule add priority {_ALLOW_PRIORITY} {allow_dns}"]
    v6: list[str] = []
    singles = [*host.addresses, *host.gateways]
    v4_targets = [*BLOCKED_V4, *(f"{a}/32" for a in singles if ":" not in a)]
    v6_targets = [*BLOCKED_V6, *(f"{a}/128" for a in singles if ":" in a)]
    v4 += [f"rule add priority {_BLOCK_PRIORITY} to {t} prohibit" for t in v4_targets]
    v6 += [f"rule add priority {_BLOCK_PRIORITY} to {t} prohibit" for t in v6_targets]
    return "\n".join(v4) + "\n", "\n".join(v6) + "\n"


@dataclass(frozen=True)
class NetworkTools:
    pasta: str
    ip: str
    nsenter: str
    unshare: str = "unshare"


class EgressNetwork:
    """One pasta-backed network namespace with the host and private ranges blocked.

    Construct it, run commands under `nsenter --net=<netns_path>`, then `close()`.
    Raises SandboxError (with pasta's own message) when it cannot be set up.
    """

    def __init__(self, tools: NetworkTools) -> None:
        if os.geteuid() != 0:
            raise SandboxError(
                "network mode `egress` needs the worker to run as root (pasta attaches to the "
                "sandbox's network namespace); use network mode `none` otherwise"
            )
        self._tools = tools
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as pasta)
        read_end, self._keepalive = os.pipe()
        try:
            self._pasta = subprocess.Popen(
                self._pasta_argv(),
                stdin=read_end,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                start_new_session=True,
                close_fds=True,
                env={},
            )
        except OSError as exc:
            os.close(self._keepalive)
            self._stderr.close()
            raise SandboxError(f"could not start pasta ({tools.pasta}): {exc}") from exc
        finally:
            os.close(read_end)
        try:
            host = host_addresses(tools.ip)  # while pasta starts
            self._await_ready()
            self.holder_pid = self._find_holder()
            self.netns_path = f"/proc/{self.holder_pid}/ns/net"
            self._await_routes()
            self._install_rules(host)
        except BaseException:
            self.close()
            raise

    @property
    def pasta_pid(self) -> int:
        return self._pasta.pid

    def _pasta_argv(self) -> list[str]:
        return [
            self._tools.pasta,
            "--foreground",
            "--quiet",
            "--runas", "0:0",  # as nobody it could not open /dev/net/tun (mode 0600)
            "--config-net",
            "--no-map-gw",  # the gateway address must not lead to host loopback
            "-t", "none", "-u", "none",  # no ports forwarded into the sandbox
            "-T", "none", "-U", "none",  # and none from the sandbox to host loopback
            "--dns-forward", DNS_ADDRESS,
            "--",
            "/bin/sh", "-c", HOLDER_SCRIPT,
        ]  # fmt: skip

    def _failure(self, what: str) -> SandboxError:
        with contextlib.suppress(OSError):
            self._stderr.seek(0)
            lines = self._stderr.read().decode("utf-8", errors="replace").splitlines()
            detail = "; ".join(x for x in lines if "syslog" not in x).strip()
            if detail:
                what += f": {detail}"
        return SandboxError(f"network mode `egress`: {what}")

    def _await_ready(self) -> None:
        assert self._pasta.stdout is not None
        state = await_ready_line(self._pasta.stdout.fileno())
        if state == "timeout":
            raise self._failure(f"pasta did not start within {START_TIMEOUT_S:g} s")
        if state == "eof":
            self._pasta.wait(timeout=5)
            raise self._failure(f"pasta exited ({self._pasta.returncode}) during setup")
        self._pasta.stdout.close()

    def _find_holder(self) -> int:
        pid = self._pasta.pid
        with contextlib.suppress(OSError, ValueError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            if children:
                return int(children[0])
        raise self._failure("could not find the namespace holder started by pasta")

    def _nsenter(self, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self._tools.nsenter, f"--net={self.netns_path}", "--", *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            env={},
        )

    def _await_routes(self) -> None:
        """pasta configures routes as it starts the holder; rules must come after them.

        (A `prohibit` rule for the gateway added first would make pasta's own default route
        invalid.)
        """
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            done = self._nsenter(self._tools.ip, "-j", "route", "show", "default")
            if done.returncode == 0 and json.loads(done.stdout or "[]"):
                return
            if self._pasta.poll() is not None:
                raise self._failure(f"pasta exited ({self._pasta.returncode}) during setup")
            time.sleep(0.005)
        raise self._failure("pasta did not configure a default route")

    def _install_rules(self, host: HostAddresses) -> None:
        v4, v6 = rule_batches(host)
        for family, batch in (("-4", v4), ("-6", v6)):
            done = self._nsenter(self._tools.ip, family, "-batch", "-", stdin=batch)
            unsupported = "not supported" in done.stderr.lower()
            if done.returncode != 0 and not (family == "-6" and unsupported):
                raise SandboxError(
                    f"network mode `egress`: could not install the block rules: "
                    f"{done.stderr.strip()}"
                )

    def alive(self) -> bool:
        return self._pasta.poll() is None

    def ensure_alive(self) -> None:
        if not self.alive():
            raise self._failure(f"pasta exited unexpectedly ({self._pasta.returncode})")

    def close(self) -> None:
        """End the holder and pasta and reap pasta; safe to call more than once.

        Closing the pipe alone would do (the holder exits, then pasta notices, ~30 ms later);
        pasta keeps no state worth a graceful exit, so it is killed at once.
        """
        with contextlib.suppress(OSError):
            os.close(self._keepalive)  # EOF: the holder exits
        self._keepalive = -1
        if self._pasta.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pasta.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._pasta.wait(timeout=5)
        if self._pasta.stdout is not None:
            self._pasta.stdout.close()
        self._stderr.close()
