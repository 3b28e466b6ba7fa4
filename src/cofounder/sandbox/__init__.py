"""Run commands and touch files in an isolated workspace (bubblewrap locally)."""

from cofounder.sandbox.availability import bwrap_available, egress_available, require_bwrap
from cofounder.sandbox.bwrap import SANDBOX_WORKSPACE, BwrapSandbox
from cofounder.sandbox.capabilities import ActiveLimits, probe_active_limits
from cofounder.sandbox.limits import NETWORK_MODES, NetworkMode, SandboxLimits, parse_network_mode
from cofounder.sandbox.output import Captured, OutputCapture, elision_marker, truncate_text
from cofounder.sandbox.protocol import BackgroundInfo, ExecResult, Sandbox, SandboxError

__all__ = [
    "NETWORK_MODES",
    "SANDBOX_WORKSPACE",
    "ActiveLimits",
    "BackgroundInfo",
    "BwrapSandbox",
    "Captured",
    "ExecResult",
    "NetworkMode",
    "OutputCapture",
    "Sandbox",
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
