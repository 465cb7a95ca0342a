#!/usr/bin/env bash
# Sets up what the decorator overhead benchmark needs (the project's .venv, and a separate venv holding the
# older autometrics package, whose pinned dependencies clash with ours), then runs it and prints its table.
# Usage: scripts/bench.sh [--iterations N] [--repeats N]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

old_venv=.cache/bench-venvs/old-autometrics
requirements=benchmarks/old-autometrics-requirements.txt
stamp=$old_venv/.installed-$(sha1sum "$requirements" | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "bench: creating $old_venv with the older autometrics package" >&2
  rm -rf "$old_venv"
  python3 -m venv "$old_venv"
  "$old_venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  touch "$stamp"
fi

exec .venv/bin/python benchmarks/decorator_overhead.py --old-python "$old_venv/bin/python" "$@"
