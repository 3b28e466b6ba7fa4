"""ActiveLimits: what is enforced, said plainly."""

from __future__ import annotations

from cofounder.sandbox import ActiveLimits, SandboxLimits


def test_cgroup_limits_are_described_with_their_mechanism() -> None:
    active = ActiveLimits.build(
        SandboxLimits(), cgroup_version="v1", controllers=("memory", "pids"), note="",
        network="egress",
    )  # fmt: skip
    assert active.summary == "cgroup v1 (memory, pids) + rlimits"
    text = active.describe()
    assert "whole sandbox (cgroup v1): memory 4096 MiB, 1024 processes/threads" in text
    assert "network: egress through pasta" in text and "169.254.0.0/16" in text
    assert active.memory_bytes == 4 * 1024**3 and active.max_processes == 1024


def test_without_cgroups_it_says_rlimits_only_and_why() -> None:
    active = ActiveLimits.build(
        SandboxLimits(), cgroup_version=None, controllers=(), note="read-only cgroupfs",
        network="none",
    )  # fmt: skip
    assert active.summary == "rlimits only"
    assert active.memory_bytes is None and active.max_processes is None
    text = active.describe()
    assert "not limited (no cgroup: read-only cgroupfs)" in text
    assert "network: none (loopback only)" in text


def test_partial_controllers_only_claim_what_is_there() -> None:
    active = ActiveLimits.build(
        SandboxLimits(), cgroup_version="v2", controllers=("pids",), note="no memory",
        network="none",
    )  # fmt: skip
    assert active.memory_bytes is None and active.max_processes == 1024
    assert "no memory" in active.describe()
