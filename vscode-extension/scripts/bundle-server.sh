#!/usr/bin/env bash
# Puts the language server and its pure-Python dependencies into bundled/libs, the directory the extension adds to
# PYTHONPATH when the user's environment has no server. Usage: PYTHON=/path/to/python scripts/bundle-server.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
oldest_supported_python=3.10

wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$wheels" ..
rm -rf bundled
# Any platform and the oldest supported Python, so one .vsix serves every user: pip refuses any dependency that is
# not pure Python or that drops that Python. pip evaluates environment markers for the Python running it, though,
# so the back-ports older Pythons need are named here.
backports=(exceptiongroup)
"$python" -m pip install --quiet --no-compile --target bundled/libs \
  --python-version "$oldest_supported_python" --implementation py --abi none --platform any --only-binary=:all: \
  "$(ls "$wheels"/autometrics_lsp-*.whl)[server]" "${backports[@]}" 2> >(grep -v "^WARNING: Location" >&2)
rm -rf bundled/libs/bin
# jedi's stubs of third-party libraries are two thirds of the bundle's files and play no part in finding which
# function a call site names; without them the .vsix installs in a third of the time.
rm -rf bundled/libs/jedi/third_party/typeshed/stubs
