#!/usr/bin/env bash
# Merge on real history (issue 19): every case of ../shared/merge-cases/
# (files changed on both sides of real merge commits, with what the person
# committed) merged by Cortex and by `git merge-file`, each judged against
# the person's bytes: clean and equal, clean but different, conflict; wins
# (git conflicts, Cortex gives the person's bytes), regressions (git gave
# them, Cortex does not), and whether each Cortex result that differs from
# the person's is git's too. Then a sample of the cases (seeded) goes
# through real sessions and mounts: main imported at the merge base and
# then main's side, the session's side written through the session's
# mount, `cortex merge`; the store's result must be the core's.
#
# Usage: scripts/bench-merge.sh [CASES_DIR] [SAMPLE]
#   CASES_DIR defaults to ../shared/merge-cases, SAMPLE to 60 cases.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-../shared/merge-cases}"
sample="${2:-60}"
scripts/setup.sh >&2
source scripts/build.sh
cargo build --workspace --examples --quiet
bench="$CARGO_TARGET_DIR/debug/examples/bench_merge"
work=$(mktemp -d /tmp/cortex-bench-merge.XXXXXX)
trap 'rm -rf "$work"' EXIT
for f in "$cases"/*.jsonl.gz; do zcat "$f"; done > "$work/cases.jsonl"
"$bench" "$work/results.jsonl" < "$work/cases.jsonl" > "$work/summary.jsonl"
python3 scripts/bench_merge.py table "$work/summary.jsonl"
[ -n "${CORTEX_MERGE_RESULTS:-}" ] && cp "$work/results.jsonl" "$CORTEX_MERGE_RESULTS"
[ "$sample" -gt 0 ] || exit 0
python3 scripts/bench_merge.py mounts "$cortex" "$work/cases.jsonl" "$work/results.jsonl" "$sample" "$work/mnt"
