#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine; safe to run again (it skips what is there).
# Usage: scripts/setup.sh [--editors]   (--editors also installs Neovim, Chromium, Node packages and code-server)
set -euo pipefail
cd "$(dirname "$0")/.."

want_editors=false
[ "${1:-}" = "--editors" ] && want_editors=true

apt_packages=(prometheus victoria-metrics)
$want_editors && apt_packages+=(neovim chromium libkrb5-dev ripgrep)

missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages into .venv" >&2
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[test]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

if $want_editors && [ -x scripts/setup-editors.sh ]; then
  scripts/setup-editors.sh
fi
