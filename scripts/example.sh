#!/usr/bin/env bash
# Quick start, part 1: build the example habit tracker with the scripted model, in the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/cofounder build examples/habit-tracker/cofounder.yaml "$@"
