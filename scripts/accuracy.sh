#!/usr/bin/env bash
# Call-edge accuracy of the code graph: precision and recall of `cortex
# callers` against the compiler (Rust crates from cargo's registry), the
# TypeScript language service (npm packages) and jedi (PyPI sdists), and the
# share of call edges by confidence. See scripts/accuracy.py for the packages.
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
# jedi, the Python oracle, in a venv of its own, with pytest beside it:
# jedi types a test's parameters from pytest's fixtures only when it can
# import pytest (without it, every `def test_x(app): app.m()` is unseen).
jedi_venv=${CORTEX_FIXTURES:-$HOME/.cache/cortex-fixtures}/jedi-0.19.2
if [[ ! -x $jedi_venv/bin/python ]] || ! "$jedi_venv/bin/python" -c 'import jedi, pytest' 2>/dev/null; then
    python3 -m venv "$jedi_venv"
    "$jedi_venv/bin/pip" install --quiet jedi==0.19.2 parso==0.8.4 pytest==8.3.3
fi
source scripts/build.sh
registry=${CARGO_HOME:-$HOME/.cargo}/registry/src
npm=${CORTEX_FIXTURES:-$HOME/.cache/cortex-fixtures}/npm
exec python3 scripts/accuracy.py "$cortex" "$registry" "$npm" "$ts_dir" "$jedi_venv/bin/python" "$@"
