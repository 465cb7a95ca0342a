#!/usr/bin/env bash
# The demo: a sample instrumented service, a real Prometheus scraping it, live hovers printed in the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/autometrics-lsp demo "$@"
