"""Network mode `egress`: outside reachable, host and private ranges not; helpers die with it.

The outside is a test-owned pair of network namespaces (see sandbox_netns_rig), so nothing
here sends a packet off this machine. Tests on the real host network only ever target the
host's own addresses and loopback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_netns_rig import (
    A_ADDR,
    A_PORT,
    A_SECRET,
    B_ADDR,
    B_PORT,
    METADATA,
    PRIVATE,
    REGISTRY,
    Rig,
    probe_command,
)

from cofounder.sandbox import BwrapSandbox, SandboxLimits, egress_available
from cofounder.sandbox.local.availability import require_egress_tools
from cofounder.sandbox.local.network import DNS_ADDRESS, host_addresses
from cofounder.sandbox.protocol import SandboxError

pytestmark = pytest.mark.skipif(
    not egress_available(), reason="network mode egress needs root, pasta (passt) and iproute2"
)

PROBES = {
    "registry": probe_command(REGISTRY, B_PORT),
    "registry_by_name": probe_command("registry.test", B_PORT, "dns"),
    "metadata": probe_command(METADATA, B_PORT),
    "metadata_udp": probe_command(METADATA, 53, "udp"),
    "private_range": probe_command(PRIVATE, B_PORT),
    "host_gateway": probe_command(B_ADDR, B_PORT),
    "host_loopback": probe_command("127.0.0.1", A_PORT),
    "host_address": probe_command(A_ADDR, A_PORT),
    "dns_address_tcp": probe_command(DNS_ADDRESS, 53),
    "change_rules": "ip rule del priority 200 2>&1; ip route del default 2>&1; ip rule | wc -l",
    "interfaces": "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


@pytest.fixture(scope="module")
def report(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ws = tmp_path_factory.mktemp("egress-ws")
    return rig.run_worker({"workspace": str(ws), "commands": PROBES})


def out(report: dict[str, Any], name: str) -> str:
    return str(report["results"][name]["stdout"]).strip()


def test_outside_addresses_are_reachable(report: dict[str, Any]) -> None:
    assert out(report, "registry") == f"CONNECTED hello from {REGISTRY}"


def test_names_resolve_through_the_hosts_resolver(report: dict[str, Any]) -> None:
    assert out(report, "registry_by_name") == (
        f"RESOLVED {REGISTRY}\nCONNECTED hello from {REGISTRY}"
    )


@pytest.mark.parametrize(
    ("probe", "target"),
    [("metadata", METADATA), ("private_range", PRIVATE), ("host_gateway", B_ADDR)],
)
def test_metadata_private_and_gateway_are_refused_locally(
    rig: Rig, report: dict[str, Any], probe: str, target: str
) -> None:
    assert rig.host_can_reach(target, B_PORT) == f"hello from {target}"  # it is really there
    assert out(report, probe) == "ERR EACCES"  # refused by rule: no packet was sent


def test_udp_to_metadata_is_refused_too(report: dict[str, Any]) -> None:
    assert out(report, "metadata_udp") == "ERR EACCES"


def test_the_dns_address_carries_nothing_but_dns(report: dict[str, Any]) -> None:
    assert out(report, "dns_address_tcp") == "ERR EACCES"


@pytest.mark.parametrize("probe", ["host_loopback", "host_address"])
def test_host_services_are_not_reachable(rig: Rig, report: dict[str, Any], probe: str) -> None:
    assert rig.host_can_reach("127.0.0.1", A_PORT) == A_SECRET
    assert out(report, probe) == "ERR ECONNREFUSED"
    assert A_SECRET not in json.dumps(report["results"])


def test_the_sandbox_cannot_change_its_network_rules(report: dict[str, Any]) -> None:
    lines = out(report, "change_rules").splitlines()
    assert lines[:2] == ["RTNETLINK answers: Operation not permitted"] * 2
    assert int(lines[2]) > 10  # every rule still there


def test_one_tap_interface_plus_loopback(report: dict[str, Any]) -> None:
    assert sorted(out(report, "interfaces").split()) == ["cfa0", "lo"]


def test_pasta_and_its_holder_are_gone_after_close(report: dict[str, Any]) -> None:
    assert len(report["helpers"]) == 2
    assert report["alive_after_close"] == []
    assert "network: egress through pasta" in report["describe"]


def test_helpers_die_when_the_worker_is_killed(rig: Rig, tmp_path: Path) -> None:
    worker = rig.start_worker({"workspace": str(tmp_path), "commands": {}, "hang": True})
    assert worker.stdout is not None
    helpers = json.loads(worker.stdout.readline())["helpers"]
    assert all(alive(pid) for pid in helpers)
    worker.send_signal(signal.SIGKILL)  # no close(), no finally: the process is just gone
    worker.wait()
    deadline = time.monotonic() + 60  # only bounds the wait: they go at once
    while any(alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [pid for pid in helpers if alive(pid)] == []


# --- on the real host network: only loopback and the host's own addresses are targeted --------


@pytest.fixture
def egress_sandbox(tmp_path: Path) -> Iterator[BwrapSandbox]:
    ws = tmp_path / "ws"
    ws.mkdir()
    sb = BwrapSandbox(ws, SandboxLimits(), network="egress")
    yield sb
    sb.close()


def test_real_host_loopback_and_own_addresses_are_unreachable(
    egress_sandbox: BwrapSandbox,
) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("0.0.0.0", 0))
    server.listen()
    port = server.getsockname()[1]
    own = [a for a in host_addresses(require_egress_tools().ip).addresses if ":" not in a]
    try:
        results = {a: egress_sandbox.exec(probe_command(a, port), timeout_s=30) for a in own}
    finally:
        server.close()
    assert "127.0.0.1" in results
    for address, r in results.items():
        assert r.stdout.strip() in ("ERR ECONNREFUSED", "ERR EACCES"), (address, r)


def test_egress_reports_its_mode_and_namespace(egress_sandbox: BwrapSandbox) -> None:
    assert egress_sandbox.network == "egress"
    assert egress_sandbox.netns_path is not None
    assert egress_sandbox.active_limits().network == "egress"
    r = egress_sandbox.exec("cat /etc/resolv.conf", timeout_s=30)
    assert r.stdout.startswith(f"nameserver {DNS_ADDRESS}\n")


def test_none_mode_has_no_resolver_and_only_loopback(tmp_path: Path) -> None:
    with BwrapSandbox(tmp_path) as sb:
        # One namespace for the sandbox's life (background servers), with nothing but `lo`.
        assert sb.netns_path is not None
        r = sb.exec(
            "test -e /etc/resolv.conf; echo $?; tail -n +3 /proc/net/dev | cut -d: -f1",
            timeout_s=30,
        )
    assert r.stdout.split() == ["1", "lo"]


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown network mode"):
        BwrapSandbox(tmp_path, network="bridge")  # type: ignore[arg-type]


def test_egress_as_non_root_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxError, match="needs the worker to run as root"):
        BwrapSandbox(tmp_path, network="egress")
