"""One parametrized fixture: every contract test runs against each backend.

`bwrap` is the local bubblewrap backend (skipped where bwrap cannot run). `e2b-fake` is the
E2B backend driven through the real `e2b` SDK against `tests/fakes/e2b_cloud.py` (`FakeCloud`),
the same fake the E2B backend's own tests use: E2B's cloud cannot be reached from here, so its
commands run with real bash in a local folder that plays the VM's /workspace. Both are opened
through `cofounder.sandbox.backends`, as the engine opens them. A test that runs a preview's
deadline out on purpose passes `app_ready`: the preview's sandbox then returns from starting
the app only once the app is that far (see preview_support), so what the deadline finds does
not depend on how fast this machine starts it.

(This `backend` is a sandbox backend; it shadows tests/conftest.py's database `backend`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from pydantic import SecretStr

from cofounder.sandbox.backends import Backend, E2BSandboxConfig, LocalSandboxConfig
from cofounder.sandbox.limits import SandboxLimits
from cofounder.sandbox.preview import Preview
from fakes.e2b_cloud import ME, patched_cloud
from preview_support import AppReady, StartsWhenReady

OpenBackend = Callable[..., Backend]
READY_TIMEOUT_S = 60.0  # only bounds the wait for an app that answers: never run out on purpose


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    d = tmp_path / "ws"
    d.mkdir()
    return d


@pytest.fixture(params=["bwrap", "e2b-fake"])
def open_backend(request: pytest.FixtureRequest, ws: Path, tmp_path: Path) -> Iterator[OpenBackend]:
    """Opens the parametrized backend on `ws` with the given limits; all closed afterwards."""
    with ExitStack() as stack:
        if request.param == "bwrap":
            from cofounder.sandbox.local import bwrap_available

            if not bwrap_available():
                pytest.skip("bubblewrap is not usable here")

            def config(limits: SandboxLimits, ready_timeout_s: float) -> LocalSandboxConfig:
                return LocalSandboxConfig(limits=limits, ready_timeout_s=ready_timeout_s)

        else:
            (tmp_path / "cloud").mkdir()
            cloud = stack.enter_context(patched_cloud(tmp_path / "cloud"))

            def config(limits: SandboxLimits, ready_timeout_s: float) -> E2BSandboxConfig:  # type: ignore[misc]
                return E2BSandboxConfig(
                    limits=limits,
                    ready_timeout_s=ready_timeout_s,
                    api_key=SecretStr("e2b_test_key"),
                    remote_workspace=str(cloud.remote),
                    remote_scratch=str(cloud.scratch),
                    user=ME,
                )

        def opener(
            limits: SandboxLimits | None = None,
            ready_timeout_s: float = READY_TIMEOUT_S,
            app_ready: AppReady | None = None,
        ) -> Backend:
            chosen = config(limits or SandboxLimits(), ready_timeout_s)
            if app_ready is None:
                backend = chosen.open(ws, "none")
                stack.callback(backend.sandbox.close)
                return backend
            sandbox = chosen.open_sandbox(ws, "none")
            stack.callback(sandbox.close)
            exposure = chosen.exposure(sandbox)
            gated = StartsWhenReady(sandbox, exposure, app_ready)
            return Backend(sandbox, Preview(gated, exposure, ready_timeout_s=ready_timeout_s))

        yield opener


@pytest.fixture
def backend(open_backend: OpenBackend) -> Backend:
    """The parametrized backend with default limits."""
    return open_backend()
