#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test against the in-memory
# engine, then the core suite again against SurrealKV on disk.
#
# Honours CARGO_TARGET_DIR, so repeated runs reuse one build.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/fixtures.sh
# The embedding model and the NumPy reference its vectors are checked against.
CORTEX_MODEL_DIR="$(scripts/model.sh)"
CORTEX_PYTHON="$(scripts/pyenv.sh)"
export CORTEX_MODEL_DIR CORTEX_PYTHON

step() { printf '\n== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check

# Every cargo command names the whole workspace, so that dependency features
# resolve the same way each time and nothing is rebuilt between steps.
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build (the mount tests run cortex-mountd beside cortex)"
cargo build --workspace --locked --bins

step "tests (in-memory engine)"
cargo test --workspace --locked --all-targets

step "core tests again on SurrealKV"
CORTEX_TEST_ENGINE=surrealkv cargo test --workspace --locked --test main core::

# A real SurrealDB server on the loopback interface (scripts/surreal.sh:
# credentials made up per run, passed by environment only), with each of
# the engines a server would use here.
for engine in memory surrealkv; do
  step "core tests against a SurrealDB server over ws:// ($engine)"
  source scripts/surreal.sh "$engine"
  trap surreal_stop EXIT
  CORTEX_TEST_ENGINE=server cargo test --workspace --locked --test main core::
  surreal_stop
done
