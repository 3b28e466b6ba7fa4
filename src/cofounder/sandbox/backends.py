"""Which backend a session's commands run in, chosen once from a typed config.

After SWE-ReX's `deployment/config.py`: one frozen config per backend, discriminated by
`type`, each opening its own `Backend` (the sandbox and its preview) and importing its wing
only then, so the bubblewrap code never loads for an E2B run and the `e2b` SDK never loads
for a local one. Callers hold a `SandboxConfig` and call `open`; nothing above the sandbox
asks which backend it got.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from cofounder.sandbox.limits import NetworkMode, SandboxLimits
from cofounder.sandbox.preview import Preview
from cofounder.sandbox.preview_types import Exposure, PreviewHost
from cofounder.sandbox.protocol import Sandbox, SandboxError


@dataclass(frozen=True)
class Backend:
    """An open sandbox and the preview that runs the app in it; closing the sandbox ends both."""

    sandbox: Sandbox
    preview: PreviewHost


class _BackendConfig(BaseModel, ABC):
    model_config = ConfigDict(frozen=True, extra="forbid")

    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    chromium: str | None = Field(default=None, description="Chromium for screenshots")
    ready_timeout_s: float = Field(default=30.0, gt=0, description="how long a preview may take")

    def check(self) -> None:
        """Refuse early (SandboxError, saying what to do) when this backend cannot be opened
        here, before a session is created; opening checks again."""

    @abstractmethod
    def open_sandbox(
        self, workspace: Path, network: NetworkMode, log_dir: Path | None = None
    ) -> Sandbox:
        """The sandbox alone; SandboxError when it cannot be set up."""

    @abstractmethod
    def exposure(self, sandbox: Sandbox) -> Exposure:
        """How `sandbox`, which this config opened (SandboxError otherwise), makes a port
        reachable from the host: all a wing adds to the one preview."""

    def preview(self, sandbox: Sandbox) -> PreviewHost:
        """The preview over `sandbox`, which this config opened (SandboxError otherwise)."""
        return Preview(
            sandbox,
            self.exposure(sandbox),
            chromium=self.chromium,
            ready_timeout_s=self.ready_timeout_s,
        )

    def open(self, workspace: Path, network: NetworkMode, log_dir: Path | None = None) -> Backend:
        """The sandbox over `workspace` and its preview; the caller closes the sandbox.

        Background processes log to `log_dir` where the backend keeps logs on this host."""
        sandbox = self.open_sandbox(workspace, network, log_dir)
        try:
            return Backend(sandbox, self.preview(sandbox))
        except BaseException:
            sandbox.close()
            raise


class LocalSandboxConfig(_BackendConfig):
    """Bubblewrap on this host (`cofounder.sandbox.local`)."""

    type: Literal["bwrap"] = "bwrap"

    def open_sandbox(
        self, workspace: Path, network: NetworkMode, log_dir: Path | None = None
    ) -> Sandbox:
        from cofounder.sandbox.local import BwrapSandbox

        return BwrapSandbox(workspace, self.limits, network=network, log_dir=log_dir)

    def exposure(self, sandbox: Sandbox) -> Exposure:
        from cofounder.sandbox.local import BwrapSandbox
        from cofounder.sandbox.local.exposure import LocalExposure

        if not isinstance(sandbox, BwrapSandbox):
            raise SandboxError(f"a local preview needs a local sandbox, not {type(sandbox)}")
        return LocalExposure(sandbox)


class E2BSandboxConfig(_BackendConfig):
    """An E2B cloud microVM over a mirrored host workspace (`cofounder.sandbox.e2b`).

    Of `limits` it honours the timeouts and the output cap (the VM sets its own memory and
    process limits). `api_key` falls back to E2B_API_KEY; the remote paths and user are E2B's
    defaults and change only for a stand-in cloud (the tests' fake)."""

    type: Literal["e2b"] = "e2b"
    template: str | None = None
    api_key: SecretStr | None = None
    max_ttl_s: int = Field(default=3600, ge=60)
    remote_workspace: str = "/workspace"
    remote_scratch: str = "/tmp"
    user: str = "user"

    def check(self) -> None:
        """The SDK is installed and an API key is given or in E2B_API_KEY."""
        from cofounder.sandbox.e2b.remote import API_KEY_ENV, load_sdk

        load_sdk()
        key = self.api_key.get_secret_value() if self.api_key else os.environ.get(API_KEY_ENV)
        if not (key or "").strip():
            raise SandboxError(
                f"it needs {API_KEY_ENV} (your E2B API key) in the environment; set it, or "
                "use the local sandbox (COFOUNDER_SANDBOX=bwrap)"
            )

    def open_sandbox(
        self, workspace: Path, network: NetworkMode, log_dir: Path | None = None
    ) -> Sandbox:
        from cofounder.sandbox.e2b.backend import E2BOptions, E2BSandbox

        options = E2BOptions(
            template=self.template,
            api_key=self.api_key,
            internet=network == "egress",
            max_ttl_s=self.max_ttl_s,
            default_timeout_s=self.limits.default_timeout_s,
            max_timeout_s=self.limits.max_timeout_s,
            output_limit_bytes=self.limits.output_limit_bytes,
            remote_workspace=self.remote_workspace,
            remote_scratch=self.remote_scratch,
            user=self.user,
        )
        return E2BSandbox(workspace, options)

    def exposure(self, sandbox: Sandbox) -> Exposure:
        from cofounder.sandbox.e2b.backend import E2BSandbox
        from cofounder.sandbox.e2b.exposure import E2BExposure

        if not isinstance(sandbox, E2BSandbox):
            raise SandboxError(f"an E2B preview needs an E2B sandbox, not {type(sandbox)}")
        return E2BExposure(sandbox)


SandboxConfig = Annotated[LocalSandboxConfig | E2BSandboxConfig, Field(discriminator="type")]
