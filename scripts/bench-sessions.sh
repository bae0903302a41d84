#!/usr/bin/env bash
# Session costs against tree size: fork time, and diff / merge --dry-run
# time for a session that changed 10 files, on generated trees of 1,000,
# 10,000 and 100,000 files; and `session list` over 1,000 sessions never
# used (in process: no CLI start-up in the figures).
#
# Usage: scripts/bench-sessions.sh [SIZES...]   (default 1000 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/build.sh
cargo build --workspace --examples --quiet
bench="$CARGO_TARGET_DIR/debug/examples/bench_sessions"
work=$(mktemp -d /tmp/cortex-bench-sessions.XXXXXX)
trap 'rm -rf "$work"' EXIT
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
echo "| files | import s | fork ms | diff ms (10 changes) | merge --dry-run ms (10 changes) | session list ms (1,000 sessions: first, again) | who ms (1,000 sessions) |"
echo "|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
  tree="$work/t$n"
  mkdir -p "$tree"
  # 100 files per directory, 100 directories per level.
  python3 - "$tree" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 10000}", f"e{(i // 100) % 100}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.txt"), "w") as f:
        f.write(f"file {i}\n")
PY
  start=$(date +%s.%N)
  (cd "$tree" && "$cortex" init --no-ignore . >/dev/null)
  import=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
  line=$("$bench" "$tree/.cortex")
  python3 - "$line" "$import" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| {r['files']:,} | {sys.argv[2]} | {r['fork_ms']:.1f} | {r['diff_ms']:.1f} | {r['merge_ms']:.1f} | {r['list_first_ms']:.0f}, {r['list_again_ms']:.0f} | {r['who_ms']:.0f} |")
PY
  rm -rf "$tree"
done
