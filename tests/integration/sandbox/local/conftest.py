"""Shared by the local backend's tests: a bubblewrap sandbox on the workspace, the egress test
network and the security battery's targets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_battery_support import ENV_SECRET, Host, make_host
from sandbox_netns_rig import Rig, netns_rig

from cofounder.sandbox.local import BwrapSandbox, egress_available


@pytest.fixture
def sandbox(ws: Path) -> Iterator[BwrapSandbox]:
    """A bubblewrap sandbox on `ws`."""
    sb = BwrapSandbox(ws)
    yield sb
    sb.close()


@pytest.fixture(scope="session")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Namespaces A ("the host") and B ("the internet") with their servers; see the rig module."""
    if not egress_available():
        pytest.skip("network mode egress needs root, pasta (passt) and iproute2")
    with netns_rig(tmp_path_factory.mktemp("rig")) as r:
        yield r


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    """The security battery's targets: see sandbox_battery_support."""
    monkeypatch.setenv("COFOUNDER_BATTERY_SECRET", ENV_SECRET)
    with make_host(tmp_path) as h:
        yield h
