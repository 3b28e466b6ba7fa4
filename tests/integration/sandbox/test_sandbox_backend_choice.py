"""`COFOUNDER_SANDBOX` picks the backend each batch runs in; the network mode reaches it.
(E2B's cloud cannot be reached here: its sandbox is created lazily, on the first command, so
constructing one is safe and needs only a key.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from cofounder.config import Settings
from cofounder.engine.runtime import Runtime
from cofounder.sandbox import BwrapSandbox, SandboxError
from cofounder.sandbox.e2b.backend import E2BSandbox


def _runtime(tmp_path: Path, **settings: object) -> Runtime:
    return Runtime.open(Settings(home=tmp_path / "data", **settings))  # type: ignore[arg-type]


def test_bwrap_is_the_default(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    sandbox = rt.open_sandbox(tmp_path, "none")
    try:
        assert isinstance(sandbox, BwrapSandbox)
        assert sandbox.exec("echo hi", timeout_s=30).stdout == "hi\n"
    finally:
        sandbox.close()
        rt.close()


def test_e2b_is_chosen_by_setting_and_needs_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _runtime(tmp_path, sandbox="e2b", e2b_template="cofounder-node")
    try:
        monkeypatch.delenv("E2B_API_KEY", raising=False)
        with pytest.raises(SandboxError, match="E2B_API_KEY"):
            rt.open_sandbox(tmp_path, "egress")
        monkeypatch.setenv("E2B_API_KEY", "e2b_test_not_real")
        sandbox = rt.open_sandbox(tmp_path, "egress")
        assert isinstance(sandbox, E2BSandbox)
        sandbox.close()  # never used: nothing was created in the cloud, nothing to kill
    finally:
        rt.close()


def test_an_unknown_network_mode_is_refused(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    try:
        with pytest.raises(ValueError, match="network"):
            rt.open_sandbox(tmp_path, "everywhere")
    finally:
        rt.close()
