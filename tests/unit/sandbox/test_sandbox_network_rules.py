"""The egress block rules and network-mode parsing (pure; no namespaces needed)."""

from __future__ import annotations

import pytest

from cofounder.sandbox import NETWORK_MODES, parse_network_mode
from cofounder.sandbox.local.network import (
    BLOCKED_V4,
    BLOCKED_V6,
    DNS_ADDRESS,
    RESOLV_CONF,
    HostAddresses,
    rule_batches,
)

HOST = HostAddresses(
    addresses=("127.0.0.1", "::1", "192.0.2.2", "fd00::2", "203.0.113.9"),
    gateways=("192.0.2.1", "fd00::1"),
)


def test_issue_ranges_are_all_blocked() -> None:
    required_v4 = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                   "100.64.0.0/10"}  # fmt: skip
    assert required_v4 <= set(BLOCKED_V4)
    assert {"fc00::/7", "fe80::/10"} <= set(BLOCKED_V6)


def test_dns_is_the_only_exception_and_comes_first() -> None:
    v4, _ = rule_batches(HOST)
    lines = v4.splitlines()
    assert lines[0] == (
        f"rule add priority 100 to {DNS_ADDRESS}/32 ipproto udp dport 53 table main"
    )
    assert all(" prohibit" in line and "priority 200" in line for line in lines[1:])
    assert "nameserver 169.254.0.53" in RESOLV_CONF.decode()


def test_host_addresses_and_gateways_are_blocked_per_family() -> None:
    v4, v6 = rule_batches(HOST)
    for addr in ("192.0.2.2/32", "203.0.113.9/32", "192.0.2.1/32", "127.0.0.1/32"):
        assert f"to {addr} prohibit" in v4
    for addr in ("fd00::2/128", "fd00::1/128", "::1/128"):
        assert f"to {addr} prohibit" in v6
    assert ":" not in v4.replace("::", "")  # no IPv6 in the IPv4 batch
    assert all(":" in line.split(" to ")[1] for line in v6.splitlines())


@pytest.mark.parametrize(("raw", "mode"), [("none", "none"), (" Egress ", "egress")])
def test_network_modes_parse(raw: str, mode: str) -> None:
    assert parse_network_mode(raw) == mode
    assert mode in NETWORK_MODES


def test_unknown_network_mode_names_the_choices() -> None:
    with pytest.raises(ValueError, match="use one of: none, egress"):
        parse_network_mode("bridge")
