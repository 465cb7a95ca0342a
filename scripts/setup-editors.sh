#!/usr/bin/env bash
# Installs what the editor tests need (called by `scripts/setup.sh --editors`, after the Debian packages and the .venv):
# the VS Code extension's npm packages and its .vsix, puppeteer-core for the browser driver, and code-server.
# Everything lands under the gitignored .cache/editors/ or next to its package.json; a second run only checks stamps.
# Quiet on success; on failure it prints the log of the step that failed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

code_server_version=4.100.3
# @vscode/ripgrep (a code-server dependency) downloads rg from GitHub at install time; it looks in this cache first.
ripgrep_cache_name=vscode-ripgrep-cache-1.15.11
ripgrep_tarball=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

cache=$repo/.cache/editors
logs=$cache/logs
mkdir -p "$cache" "$logs"
export npm_config_cache=$cache/npm
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false npm_config_loglevel=error

python=${PYTHON:-$repo/.venv/bin/python}

for tool in node npm rg; do
  command -v "$tool" >/dev/null || { echo "setup-editors: $tool is missing; run scripts/setup.sh --editors" >&2; exit 1; }
done

run_logged() {  # run_logged NAME COMMAND...: output goes to a log that is shown only if the step fails
  local log=$logs/$1.log
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "setup-editors: '$*' failed; its log ($log):" >&2
    tail -n 60 "$log" >&2
    exit 1
  fi
}

hash_of() {  # a short hash of the named files and of every file below the named directories
  find "$@" -type f -not -path '*/node_modules/*' -not -path '*/__pycache__/*' -print0 2>/dev/null \
    | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-16
}

npm_ci_once() {  # npm_ci_once DIR: `npm ci` in DIR unless its lockfile is unchanged since the last install
  local dir=$1 stamp
  stamp=$dir/node_modules/.installed-$(hash_of "$dir/package-lock.json")
  [ -f "$stamp" ] && return 0
  echo "setup-editors: installing npm packages in ${dir#"$repo"/}" >&2
  (cd "$dir" && run_logged "npm-ci-$(basename "$dir")" npm ci --no-progress)
  rm -f "$dir"/node_modules/.installed-*
  touch "$stamp"
}

# 1. The extension and its .vsix (rebuilt when the extension or the Python sources it bundles change).
npm_ci_once "$repo/vscode-extension"
vsix=$repo/vscode-extension/autometrics-lsp.vsix
vsix_stamp=$cache/vsix-$(hash_of vscode-extension/src vscode-extension/package.json vscode-extension/scripts \
  vscode-extension/.vscodeignore vscode-extension/README.md pyproject.toml autometrics_lsp)
if [ ! -f "$vsix" ] || [ ! -f "$vsix_stamp" ]; then
  echo "setup-editors: building ${vsix#"$repo"/}" >&2
  (cd vscode-extension && PYTHON=$python run_logged vsix npm run --silent package)
  rm -f "$cache"/vsix-*
  touch "$vsix_stamp"
fi

# 2. puppeteer-core for the test driver (it uses Debian's /usr/bin/chromium, so it downloads no browser).
npm_ci_once "$repo/tests/e2e/editors/vscode"

# 3. code-server, a real VS Code in the browser.
code_server_dir=$cache/code-server-$code_server_version
if [ ! -x "$code_server_dir/node_modules/.bin/code-server" ] || [ ! -f "$code_server_dir/.installed" ]; then
  echo "setup-editors: installing code-server $code_server_version (about a minute)" >&2
  rm -rf "$code_server_dir"
  mkdir -p "$code_server_dir/tmp/$ripgrep_cache_name"
  rg_stage=$(mktemp -d)
  cp /usr/bin/rg "$rg_stage/rg"
  tar -czf "$code_server_dir/tmp/$ripgrep_cache_name/$ripgrep_tarball" -C "$rg_stage" rg
  rm -rf "$rg_stage"
  echo '{"private": true}' >"$code_server_dir/package.json"
  # code-server's postinstall runs `npm install` for its bundled VS Code, whose native modules need their
  # install scripts; npm 11 blocks dependency scripts unless told otherwise.
  (cd "$code_server_dir" && TMPDIR=$code_server_dir/tmp npm_config_unsafe_perm=true npm_config_yes=true \
    npm_config_dangerously_allow_all_scripts=true \
    run_logged code-server npm install --no-progress "code-server@$code_server_version")
  rm -rf "$code_server_dir/tmp"
  touch "$code_server_dir/.installed"
fi
