#!/usr/bin/env bash
# Sets up what the benchmarks need and runs them; each prints its own table.
# Usage: scripts/bench.sh [all|decorator|hover|memory] [options of that one benchmark]
#   decorator: benchmarks/decorator_overhead.py (--iterations N --repeats N); also creates a venv holding the older
#              autometrics package, whose pinned dependencies clash with ours
#   hover:     benchmarks/hover_latency.py (--positions N --seed N --lens-rounds N); needs /usr/bin/prometheus and
#              creates its own venv for jedi-language-server
#   memory:    benchmarks/memory_report.py (--hovers N --positions N --seed N): server RSS over 1,000 hovers
set -euo pipefail
cd "$(dirname "$0")/.."

which=all
case "${1:-}" in all|decorator|hover|memory) which=$1; shift ;; esac
if [ "$which" = all ] && [ $# -gt 0 ]; then
  echo "bench: options go with one benchmark: scripts/bench.sh decorator|hover|memory OPTIONS" >&2
  exit 2
fi

scripts/setup.sh

if [ "$which" = all ] || [ "$which" = decorator ]; then
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
  .venv/bin/python benchmarks/decorator_overhead.py --old-python "$old_venv/bin/python" "$@"
fi
if [ "$which" = all ] || [ "$which" = hover ]; then
  .venv/bin/python benchmarks/hover_latency.py "$@"
fi
if [ "$which" = all ] || [ "$which" = memory ]; then
  .venv/bin/python benchmarks/memory_report.py "$@"
fi
