#!/usr/bin/env bash
# Call-edge accuracy of the code graph: precision and recall of `cortex
# callers` against the compiler (Rust crates from cargo's registry) and the
# TypeScript language service (npm packages), and the share of call edges
# by confidence. See scripts/accuracy.py for the packages.
#
# Usage: scripts/accuracy.sh [PACKAGE...]   (default: all, e.g. tokio-1.54.1)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fixtures.sh
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
ts_dir=${CORTEX_FIXTURES:-$HOME/.cache/cortex-fixtures}/typescript-5.6.3
if [[ ! -d $ts_dir/node_modules/typescript ]]; then
    mkdir -p "$ts_dir"
    npm install --prefix "$ts_dir" --no-save --silent typescript@5.6.3 >/dev/null
fi
source scripts/build.sh
registry=${CARGO_HOME:-$HOME/.cargo}/registry/src
npm=${CORTEX_FIXTURES:-$HOME/.cache/cortex-fixtures}/npm
exec python3 scripts/accuracy.py "$cortex" "$registry" "$npm" "$ts_dir" "$@"
