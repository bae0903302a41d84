#!/usr/bin/env bash
# A bounded soak (minutes, not a test) of cortex under writers in main and
# three sessions, merges, kill -9s of the daemon and of a merging CLI, and
# a full disk under the store; checks every fsynced file and every view's
# isolation at the end, and prints the counts (scripts/chaos.py says how).
#
# Usage: scripts/chaos.sh [SECONDS] [SEED]   (default 180 s, seed 14; root)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cortex-target}"
cargo build --workspace --locked --bins >&2
export CORTEX_BIN="$CARGO_TARGET_DIR/debug/cortex"
exec python3 scripts/chaos.py "${1:-180}" "${2:-14}"
