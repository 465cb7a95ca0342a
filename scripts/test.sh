#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs first (Prometheus, Neovim, code-server, the .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --editors
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
