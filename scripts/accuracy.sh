#!/usr/bin/env bash
# Call-edge accuracy of the code graph: precision and recall of `cortex
# callers` against the compiler (Rust: semver from cargo's registry) and the
# TypeScript language service (JavaScript: commander from npm). See
# scripts/accuracy.py.
#
# Usage: scripts/accuracy.sh
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
crate=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/semver-1.0.28 | head -1)
npm=${CORTEX_FIXTURES:-$HOME/.cache/cortex-fixtures}/npm/commander-12.1.0/package
exec python3 scripts/accuracy.py "$cortex" "$crate" "$npm" "$ts_dir"
