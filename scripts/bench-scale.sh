#!/usr/bin/env bash
# Cortex at the scale users have: every crate in the cargo registry cache
# (~30,000 files, ~1 M units after a build of this workspace), imported,
# indexed, searched, mounted and read cold and warm against the native
# tree, with the daemon's memory from /proc throughout. Prints issue 16's
# table. Takes minutes, needs root (it drops the page cache) and rg.
#
# Usage: scripts/bench-scale.sh [COPIES]   (COPIES renamed copies of the
#        registry's crates: 3 gives ~3 M units)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/build.sh
cargo build --workspace --examples --quiet
export CORTEX_MODEL_DIR="${CORTEX_MODEL_DIR:-$(scripts/model.sh)}"
work=$(mktemp -d /tmp/cortex-bench-scale.XXXXXX)
cleanup() {
    fusermount3 -uz "$work/mnt" 2>/dev/null || true
    (cd "$work/tree" 2>/dev/null && "$cortex" umount "$work/mnt" >/dev/null 2>&1) || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/mnt"
python3 scripts/bench_scale.py "$cortex" "$CARGO_TARGET_DIR/debug/examples/bench_sessions" \
    "$work" "${1:-1}"
