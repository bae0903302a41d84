#!/usr/bin/env bash
# Per-operation latency of one tree in an embedded store and in a store on a
# local SurrealDB server (cortex-surreal on loopback, SurrealKV engine, a
# database of its own, over ws://): open, read a file, flush, index one
# file, search. Medians of N runs (default 20), CLI start-up included in
# every row but flush.
#
# Usage: scripts/bench-server.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20}"
scripts/setup.sh >&2
source scripts/build.sh
work=$(mktemp -d /tmp/cortex-bench-server.XXXXXX)
cleanup() {
  for m in mnt mnt-a mnt-b; do fusermount3 -uz "$work/$m" 2>/dev/null || true; done
  type surreal_stop >/dev/null 2>&1 && surreal_stop
  rm -rf "$work"
}
trap cleanup EXIT
registry=$(ls -d "$HOME"/.cargo/registry/src/*/ | head -1)
crate=$(ls -d "$registry"serde_json-1.* | sort -V | tail -1)
mkdir -p "$work/mnt"
cp -r "$crate" "$work/embedded"
(cd "$work/embedded" && "$cortex" init >/dev/null)
python3 scripts/bench_server.py "$cortex" "$work/embedded" "$work/mnt" "$n" > "$work/embedded.json"

source scripts/surreal.sh surrealkv
cp -r "$crate" "$work/remote"
export CORTEX_STORE="$CORTEX_TEST_SERVER/bench" CORTEX_RUNTIME_DIR="$work/run"
"$cortex" init "$work/remote" >/dev/null
python3 scripts/bench_server.py "$cortex" "$work/remote" "$work/mnt" "$n" > "$work/remote.json"
# Two daemons (two runtime directories, as two machines) on the one store:
# a write fsynced through one's mount, timed until the other's mount reads it.
mkdir -p "$work/mnt-a" "$work/mnt-b"
CORTEX_RUNTIME_DIR="$work/run-a" "$cortex" mount "$work/mnt-a" >/dev/null
CORTEX_RUNTIME_DIR="$work/run-b" "$cortex" mount "$work/mnt-b" >/dev/null
python3 - "$work/mnt-a" "$work/mnt-b" "$n" > "$work/follow.txt" <<'PY'
import os, statistics, sys, time
a, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
xs = []
for i in range(n):
    body = f"written {i}\n"
    with open(os.path.join(a, "follow.txt"), "w") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    start = time.perf_counter()
    while True:
        try:
            if open(os.path.join(b, "follow.txt")).read() == body:
                break
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    xs.append((time.perf_counter() - start) * 1000)
xs.sort()
print(f"| {n} | {statistics.median(xs):.0f} | {xs[int(0.95 * (n - 1))]:.0f} | {xs[-1]:.0f} |")
PY
CORTEX_RUNTIME_DIR="$work/run-a" "$cortex" umount "$work/mnt-a" >/dev/null
CORTEX_RUNTIME_DIR="$work/run-b" "$cortex" umount "$work/mnt-b" >/dev/null
unset CORTEX_STORE CORTEX_RUNTIME_DIR

echo "Latency per operation, ms (median of $n; $(basename "$crate")):"
echo
python3 - "$work/embedded.json" "$work/remote.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print("| operation | embedded (SurrealKV) | local server (ws://, SurrealKV) | ratio |")
print("|---|---|---|---|")
for k in a:
    print(f"| {k} | {a[k]:.1f} | {b[k]:.1f} | {b[k] / a[k]:.2f}x |")
PY
echo
echo "A write fsynced through one daemon's mount, until another daemon's mount of the same store reads it, ms:"
echo
echo "| writes | p50 | p95 | max |"
echo "|---|---|---|---|"
cat "$work/follow.txt"
