#!/usr/bin/env bash
# fsx (the File System eXerciser, from crates.io): random reads, writes,
# truncates and mmaps on one file in a cortex mount, checked against a copy
# in memory. Usage: scripts/fsx.sh [OPERATIONS] (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
command -v fsx >/dev/null || cargo install --locked fsx
source scripts/build.sh
work=$(mktemp -d /tmp/cortex-fsx.XXXXXX)
trap '"$cortex" umount "$work/mnt" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/tree" "$work/mnt"
echo seed > "$work/tree/README"
(cd "$work/tree" && "$cortex" init >/dev/null && "$cortex" mount "$work/mnt")
mkdir "$work/mnt/fsx"
cd "$work/mnt/fsx"
time fsx -N "${1:-100000}" -S 42 testfile
