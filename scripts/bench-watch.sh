#!/usr/bin/env bash
# `cortex watch` (issue 20): the lag from a write's close in a watched
# checkout to the daemon's `cat` and code graph showing it, over real code
# (a crate from cargo's registry, edits drawn with a fixed seed); and a
# `git checkout` switching 5,000 real files, timed until main holds the
# other branch, with the watch's snapshots counted.
#
# Usage: scripts/bench-watch.sh [EDITS] [CHECKOUT_FILES]   (default 100, 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
edits="${1:-100}"
switch="${2:-5000}"
scripts/setup.sh >&2
source scripts/build.sh
cortex="$CARGO_TARGET_DIR/debug/cortex"
work=$(mktemp -d /tmp/cortex-bench-watch.XXXXXX)
cleanup() {
  for t in "$work"/lag "$work"/switch; do
    [ -d "$t/.cortex" ] && (cd "$t" && "$cortex" watch --stop "$t" >/dev/null 2>&1 || true)
  done
  rm -rf "$work"
}
trap cleanup EXIT
registry=$(ls -d "$HOME"/.cargo/registry/src/*/ | head -1)
git_() { git -c user.name=bench -c user.email=bench@example.com "$@"; }

# Lag: the largest tokio in the registry (the demo's tree).
crate=$(ls -d "$registry"tokio-1.* | sort -V | tail -1)
cp -r "$crate" "$work/lag"
(cd "$work/lag" && "$cortex" init >/dev/null && "$cortex" watch "$work/lag" >/dev/null)
echo "Lag from a write's close to the daemon's answer, ms ($(basename "$crate"), $edits edits, seed 20):"
echo
echo "| seen by | edits | p50 | p95 | max |"
echo "|---|---|---|---|---|"
python3 scripts/bench_watch.py lag "$cortex" "$work/lag" "$edits" 20
(cd "$work/lag" && "$cortex" watch --stop "$work/lag" >/dev/null)

# A branch switch: $switch .rs files of the registry (every crate's files in
# name order, the first $switch), branch b appending a line to each.
mkdir -p "$work/switch"
python3 - "$registry" "$work/switch" "$switch" <<'PY'
import os, shutil, sys
registry, dest, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = []
for d, dirs, fs in os.walk(registry):
    dirs.sort()
    files += [os.path.join(d, f) for f in sorted(fs) if f.endswith(".rs")]
    if len(files) >= n:
        break
for src in files[:n]:
    rel = os.path.relpath(src, registry)
    os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
    shutil.copyfile(src, os.path.join(dest, rel))
PY
(
  cd "$work/switch"
  printf '.cortex/\n' > .gitignore
  git_ init -q -b a && git_ add -A && git_ commit -qm a
  git_ checkout -qb b
  find . -name '*.rs' -not -path './.git/*' -exec sh -c 'for f; do printf "\n// on branch b\n" >> "$f"; done' _ {} +
  git_ commit -qam b && git_ checkout -q a
  "$cortex" init >/dev/null && "$cortex" watch "$work/switch" >/dev/null
)
sleep 1
echo
echo "A branch switch (\`git checkout\`) in a watched checkout:"
echo
echo "| files changed | git checkout s | landed in main s (from the checkout's start) | watch snapshots | files wrong |"
echo "|---|---|---|---|---|"
python3 scripts/bench_watch.py checkout "$cortex" "$work/switch"
