"""Run commands and touch files in an isolated workspace: the seam every backend implements.

`protocol` (Sandbox, ExecResult, BackgroundInfo, SandboxError), `preview_types`, `limits`,
`output`, `screenshot`, `processes` and `preview` are shared; the backends live in their wings,
`local/` (bubblewrap) and `e2b/` (E2B's cloud), and `backends` picks one from a typed config,
importing its wing only then.

The local backend's names (`BwrapSandbox`, `require_bwrap`, ...) stay importable from here for
older callers, loaded on first use so that importing the seam never loads a wing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from cofounder.sandbox.backends import (
    Backend,
    E2BSandboxConfig,
    LocalSandboxConfig,
    SandboxConfig,
)
from cofounder.sandbox.limits import NETWORK_MODES, NetworkMode, SandboxLimits, parse_network_mode
from cofounder.sandbox.output import Captured, OutputCapture, elision_marker, truncate_text
from cofounder.sandbox.protocol import BackgroundInfo, ExecResult, Sandbox, SandboxError

if TYPE_CHECKING:
    from cofounder.sandbox.local import (
        SANDBOX_WORKSPACE,
        ActiveLimits,
        BwrapSandbox,
        bwrap_available,
        egress_available,
        probe_active_limits,
        require_bwrap,
    )

_LOCAL_NAMES = frozenset(
    {
        "SANDBOX_WORKSPACE",
        "ActiveLimits",
        "BwrapSandbox",
        "bwrap_available",
        "egress_available",
        "probe_active_limits",
        "require_bwrap",
    }
)


def __getattr__(name: str) -> object:
    if name in _LOCAL_NAMES:
        return getattr(importlib.import_module("cofounder.sandbox.local"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NETWORK_MODES",
    "SANDBOX_WORKSPACE",
    "ActiveLimits",
    "Backend",
    "BackgroundInfo",
    "BwrapSandbox",
    "Captured",
    "E2BSandboxConfig",
    "ExecResult",
    "LocalSandboxConfig",
    "NetworkMode",
    "OutputCapture",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "SandboxLimits",
    "bwrap_available",
    "egress_available",
    "elision_marker",
    "parse_network_mode",
    "probe_active_limits",
    "require_bwrap",
    "truncate_text",
]
