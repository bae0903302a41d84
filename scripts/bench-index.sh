#!/usr/bin/env bash
# Code graph speed: parse-and-index throughput on a large real tree (crate
# sources from cargo's registry and npm packages) against raw tree-sitter
# parsing of the same files (the two alternate, three rounds: this VM's
# speed drifts), and the latency from a write's close in a mount to the
# graph answering with it.
#
# Usage: scripts/bench-index.sh [FILES]   (default 5000 code files)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fixtures.sh
source scripts/build.sh
cargo build --workspace --examples --quiet
exec python3 -u scripts/bench_index.py "$cortex" "$CARGO_TARGET_DIR/debug/examples/raw_parse" "${1:-5000}"
