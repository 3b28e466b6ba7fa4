"""The E2B SDK's side of the cloud backend: options, loading the optional SDK, and the calls
the workspace mirror makes (SDK errors become SandboxError naming what was being done)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from cofounder.sandbox.e2b.mirror import DEFAULT_REMOTE_ONLY
from cofounder.sandbox.e2b.processes import sdk_error as _sdk_error
from cofounder.sandbox.protocol import SandboxError

if TYPE_CHECKING:
    from e2b import Sandbox as RemoteSandbox

API_KEY_ENV = "E2B_API_KEY"
INSTALL_HINT = "pip install 'cofounder[e2b]'"
SYNC_TIMEOUT_S = 300.0


class E2BOptions(BaseModel):
    """How to reach E2B and how long its sandbox may live; `api_key` falls back to E2B_API_KEY."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template: str | None = Field(default=None, description="template name or id; None: 'base'")
    api_key: SecretStr | None = None
    internet: bool = Field(default=False, description="allow outbound traffic (egress mode)")
    idle_ttl_s: int = Field(default=300, ge=30, description="life left after a command's timeout")
    max_ttl_s: int = Field(default=3600, ge=60, description="E2B's cap: 1 h Hobby, 24 h Pro")
    default_timeout_s: float = Field(default=120.0, gt=0)
    max_timeout_s: float = Field(default=600.0, gt=0)
    output_limit_bytes: int = Field(default=64 * 1024, ge=1024)
    remote_workspace: str = "/workspace"
    remote_scratch: str = Field(default="/tmp", description="where transfer archives sit")
    user: str = Field(default="user", description="E2B's default unprivileged user")
    remote_only: frozenset[str] = DEFAULT_REMOTE_ONLY
    max_mirror_file_bytes: int = Field(default=64 * 1024 * 1024, ge=1)


def load_sdk() -> None:
    """Fail with an actionable message when the optional SDK is missing."""
    try:
        import e2b  # noqa: F401
    except ImportError as exc:
        raise SandboxError(
            f"the E2B sandbox backend needs the e2b SDK, which is not installed: {INSTALL_HINT}"
        ) from exc


class MirrorOps:
    """The SDK calls the workspace mirror makes, with SDK errors turned into SandboxError."""

    def __init__(self, remote: RemoteSandbox, user: str) -> None:
        self._remote = remote
        self._user = user

    def run(self, command: str) -> str:
        from e2b import CommandExitException

        try:
            result = self._remote.commands.run(command, user=self._user, timeout=SYNC_TIMEOUT_S)
        except CommandExitException as exc:
            raise SandboxError(
                f"syncing the workspace with E2B failed (exit {exc.exit_code}): "
                f"{(exc.stderr or '').strip()[-2000:] or 'no error message'}"
            ) from exc
        except Exception as exc:
            raise _sdk_error("syncing the workspace", exc) from exc
        return result.stdout

    def write(self, path: str, data: bytes) -> None:
        try:
            self._remote.files.write(path, data, user=self._user)
        except Exception as exc:
            raise _sdk_error(f"uploading {path}", exc) from exc

    def read(self, path: str) -> bytes:
        try:
            return bytes(self._remote.files.read(path, format="bytes", user=self._user))
        except Exception as exc:
            raise _sdk_error(f"downloading {path}", exc) from exc
