#!/usr/bin/env bash
# Installs what Cofounder needs on Debian/Ubuntu: system packages (when root), uv, and the locked
# Python environment in .venv. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
need_pkgs=()
command -v bwrap >/dev/null 2>&1 || need_pkgs+=(bubblewrap)
command -v rg >/dev/null 2>&1 || need_pkgs+=(ripgrep)
command -v pasta >/dev/null 2>&1 || need_pkgs+=(passt)     # sandbox network mode `egress`
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)     # its block rules
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium) # take_screenshot
# The sandbox's seccomp filter: pyseccomp finds libseccomp this way at run time.
python3 -c 'import ctypes.util as u, sys; sys.exit(not u.find_library("seccomp"))' \
  || need_pkgs+=(libseccomp2)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_pkgs+=(python3-venv)
if ((${#need_pkgs[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${need_pkgs[*]} with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "bootstrap: missing system packages. Run:  sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 2
  fi
fi

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: Python 3.11 or newer is required (found $(python3 --version))" >&2
  exit 2
fi

if [[ ! -x .tools/uv/bin/uv ]]; then
  echo "bootstrap: installing uv ${UV_VERSION} into .tools/uv" >&2
  python3 -m venv .tools/uv
  .tools/uv/bin/pip install -q --disable-pip-version-check "uv==${UV_VERSION}"
fi
# Compiled bytecode: without it every command recompiles each module it imports at every start
# (about 2 s instead of a fraction of one where PYTHONDONTWRITEBYTECODE=1 forbids caching it).
# uv compiles all of site-packages on every sync, so a re-run on an existing .venv compiles too;
# the project itself is installed editable from src/, which uv leaves alone: compile it here.
.tools/uv/bin/uv sync --frozen --quiet --compile-bytecode
.venv/bin/python -m compileall -q -j 0 src/cofounder
