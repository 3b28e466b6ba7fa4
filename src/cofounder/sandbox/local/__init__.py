"""The local backend: bubblewrap namespaces, cgroups, a private network, and the preview's
host-loopback forward. Needs Linux with bwrap; everything here is this machine's business."""

from cofounder.sandbox.local.availability import bwrap_available, egress_available, require_bwrap
from cofounder.sandbox.local.bwrap import SANDBOX_WORKSPACE, BwrapSandbox
from cofounder.sandbox.local.capabilities import ActiveLimits, probe_active_limits

__all__ = [
    "SANDBOX_WORKSPACE",
    "ActiveLimits",
    "BwrapSandbox",
    "bwrap_available",
    "egress_available",
    "probe_active_limits",
    "require_bwrap",
]
