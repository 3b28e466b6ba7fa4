"""Is bubblewrap usable here? Checked once, with a precise fix when it is not.

A missing binary and a kernel that forbids user namespaces look the same from far away (every
command fails); we try a real, minimal sandbox once so the error names the actual cause.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

from cofounder.sandbox.local.network import NetworkTools
from cofounder.sandbox.protocol import SandboxError

_lock = threading.Lock()
_checked: dict[str, str] = {}
_features: dict[str, bool] = {}

_PROBE_ARGS = (
    "--unshare-all",
    "--die-with-parent",
    "--as-pid-1",  # bwrap's own pid 1 would outlive it as a zombie (see command.py)
    "--new-session",
    "--uid",
    "1000",
    "--gid",
    "1000",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--",
    "/usr/bin/true",
)


def find_executable(name: str, package: str) -> str:
    """The path of `name`, or SandboxError naming the Debian package that provides it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise SandboxError(
            f"`{name}` was not found on PATH; the local sandbox needs it. "
            f"Install it with `apt-get install -y {package}`."
        )
    return path


def probe_bwrap(bwrap: str, extra: tuple[str, ...] = ()) -> None:
    """Start one minimal sandbox with `bwrap`; raise SandboxError with its stderr if it fails."""
    try:
        probe = subprocess.run(
            [bwrap, *extra, *_PROBE_ARGS],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"could not start bubblewrap ({bwrap}): {exc}") from exc
    if probe.returncode != 0:
        stderr = probe.stderr.decode("utf-8", errors="replace").strip()
        raise SandboxError(
            f"bubblewrap is installed but cannot create a sandbox here "
            f"(exit {probe.returncode}): {stderr or 'no error message'}. "
            "It needs unprivileged user namespaces: enable them "
            "(sysctl -w kernel.unprivileged_userns_clone=1 and "
            "user.max_user_namespaces > 0), or in a container allow unshare/CLONE_NEWUSER "
            "(e.g. a seccomp profile that permits it). The Debian package is "
            "`apt-get install -y bubblewrap`."
        )


def require_bwrap() -> tuple[str, str]:
    """Return the paths of (bwrap, prlimit), or raise SandboxError saying how to fix it.

    The probe runs once per process; later calls are free (failures are retried).
    """
    with _lock:
        if "bwrap" in _checked:
            return _checked["bwrap"], _checked["prlimit"]
        bwrap = find_executable("bwrap", "bubblewrap")
        prlimit = find_executable("prlimit", "util-linux")
        probe_bwrap(bwrap)
        _checked["bwrap"] = bwrap
        _checked["prlimit"] = prlimit
        return bwrap, prlimit


def can_disable_userns() -> bool:
    """Whether this bubblewrap has `--disable-userns` (0.8+); probed once per process."""
    with _lock:
        known = _features.get("disable_userns")
    if known is not None:
        return known
    bwrap, _ = require_bwrap()
    try:
        probe_bwrap(bwrap, ("--unshare-user", "--disable-userns"))
        supported = True
    except SandboxError:
        supported = False
    with _lock:
        _features["disable_userns"] = supported
    return supported


def require_egress_tools() -> NetworkTools:
    """pasta, ip and nsenter for network mode `egress`, or SandboxError naming the packages."""
    with _lock:
        if "pasta" not in _checked:
            _checked["pasta"] = find_executable("pasta", "passt")
            _checked["ip"] = find_executable("ip", "iproute2")
            _checked["nsenter"] = find_executable("nsenter", "util-linux")
        return NetworkTools(_checked["pasta"], _checked["ip"], _checked["nsenter"])


def shared_network_tools() -> NetworkTools | None:
    """unshare, ip and nsenter for a sandbox-wide `none` network, or None when this host
    cannot have one (not root, or a tool is missing): commands then get a fresh namespace each
    and background servers cannot be reached from later commands or the preview."""
    if os.geteuid() != 0:
        return None
    try:
        with _lock:
            for name, package in (("unshare", "util-linux"), ("ip", "iproute2")):
                if name not in _checked:
                    _checked[name] = find_executable(name, package)
            if "nsenter" not in _checked:
                _checked["nsenter"] = find_executable("nsenter", "util-linux")
    except SandboxError:
        return None
    return NetworkTools(
        pasta="", ip=_checked["ip"], nsenter=_checked["nsenter"], unshare=_checked["unshare"]
    )


def egress_available() -> bool:
    """True when network mode `egress` can be set up here (tools present, running as root)."""
    try:
        require_egress_tools()
    except SandboxError:
        return False
    return os.geteuid() == 0


def bwrap_available() -> bool:
    """True when `require_bwrap` would succeed (for skipping tests or choosing a backend)."""
    try:
        require_bwrap()
    except SandboxError:
        return False
    return True
