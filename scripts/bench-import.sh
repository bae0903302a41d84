#!/usr/bin/env bash
# Import throughput and store size on a large real tree: the sources of the
# crates in the cargo registry (a few thousand files). Prints files/s, MB/s
# and the store's size against the tree's.
#
# Usage: scripts/bench-import.sh [TREE]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/build.sh

work=$(mktemp -d /tmp/cortex-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [[ $# -gt 0 ]]; then
    cp -a "$1" "$work/tree"
else
    mkdir "$work/tree"
    # Real crates from the cargo registry (fixed by Cargo.lock), taken in
    # name order until the tree has at least 5,000 files.
    total=0
    for d in $(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/*/ | sort); do
        cp -a "$d" "$work/tree/"
        total=$((total + $(find "$d" -type f | wc -l)))
        ((total >= 5000)) && break
    done
fi
files=$(find "$work/tree" -type f | wc -l)
apparent=$(du -sb "$work/tree" | cut -f1)
on_disk=$(du -sB1 "$work/tree" | cut -f1)

sync
cd "$work/tree"
json=$("$cortex" init --no-ignore --json)
secs=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])' <<<"$json")
store=$(du -sb "$work/tree/.cortex" | cut -f1)
t0=$(date +%s.%N)
"$cortex" import --no-ignore . >/dev/null
t1=$(date +%s.%N)
again=$(python3 -c "print($t1 - $t0)")

python3 - "$files" "$apparent" "$on_disk" "$secs" "$store" "$again" <<'PY'
import sys
files, apparent, on_disk, secs, store, again = sys.argv[1:]
files, apparent, on_disk, store = int(files), int(apparent), int(on_disk), int(store)
secs, again = float(secs), float(again)
print(f"tree:      {files} files, {apparent/1e6:.1f} MB of content, {on_disk/1e6:.1f} MB on disk")
print(f"import:    {secs:.2f} s  = {files/secs:,.0f} files/s, {apparent/1e6/secs:.1f} MB/s")
print(f"re-import: {again:.2f} s (unchanged tree, no new snapshot)")
print(f"store:     {store/1e6:.1f} MB = {store/apparent:.2f}x the content, {store/on_disk:.2f}x the tree on disk")
PY
