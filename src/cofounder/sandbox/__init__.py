"""Run commands and touch files in an isolated workspace (bubblewrap locally)."""

from cofounder.sandbox.availability import bwrap_available, require_bwrap
from cofounder.sandbox.bwrap import SANDBOX_WORKSPACE, BwrapSandbox
from cofounder.sandbox.limits import SandboxLimits
from cofounder.sandbox.output import Captured, OutputCapture, elision_marker, truncate_text
from cofounder.sandbox.protocol import ExecResult, Sandbox, SandboxError

__all__ = [
    "SANDBOX_WORKSPACE",
    "BwrapSandbox",
    "Captured",
    "ExecResult",
    "OutputCapture",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "bwrap_available",
    "elision_marker",
    "require_bwrap",
    "truncate_text",
]
