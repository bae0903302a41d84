#!/usr/bin/env bash
# Search: retrieval quality, embedding throughput and search latency
# (issue 6), in process (scripts/bench/bench_search.rs), printed as Markdown.
#
# Quality: 50 questions over a real crate (semver, from cargo's registry)
# and 50 over a real npm package (express), in scripts/queries/queries-*.json, each
# with the units that answer it: MRR@10 and recall@10 for keyword,
# semantic and hybrid, for the model's text as shipped (name, signature,
# doc summary) at 128 and 256 tokens, and with the unit's whole body added
# (where the window starts to matter).
# Throughput: units/s embedding the ignore crate's units, both cores.
# Latency: p50/p95 per mode with express's units replicated to 10,000 and
# 100,000 (vectors nudged so copies differ), measured right after the copies
# are written (the store still compacting them) and again after reopening.
#
# Usage: scripts/bench-search.sh [--quick]   (--quick: 10,000 units only)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
scripts/fixtures.sh >&2
CORTEX_MODEL_DIR="$(scripts/model.sh)"
export CORTEX_MODEL_DIR
source scripts/build.sh
cargo build --workspace --examples --features cortex/bench --quiet
bench="$CARGO_TARGET_DIR/debug/examples/bench_search"
sizes=(10000 100000)
[ "${1:-}" = "--quick" ] && sizes=(10000)

registry=$(ls -d "$HOME"/.cargo/registry/src/*/ | head -1)
semver=$(ls -d "$registry"semver-1.0.28)
ignore_crate=$(ls -d "$registry"ignore-0.4.34)
express="${CORTEX_FIXTURES:-$HOME/.cache/cortex-fixtures}/npm/express-4.21.2/package"
work=$(mktemp -d /tmp/cortex-bench-search.XXXXXX)
trap 'rm -rf "$work"' EXIT
for name in semver express; do
  src=$semver; [ $name = express ] && src=$express
  cp -r "$src" "$work/$name"
  (cd "$work/$name" && "$cortex" init . >/dev/null)
done

echo "### Retrieval quality (MRR@10 / recall@10)"
echo
echo "| text | window | set | keyword | semantic | hybrid |"
echo "|---|---|---|---|---|---|"
for body in 0 1200; do
  for window in 128 256; do
    for name in semver express; do
      rm -rf "$work/q.cortex"; cp -r "$work/$name/.cortex" "$work/q.cortex"
      line=$(CORTEX_EMBED_BODY=$body "$bench" quality "$work/q.cortex" "scripts/queries/queries-$name.json" "$window")
      python3 - "$line" "$body" "$window" "$name" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
text = "name, signature, doc summary" if sys.argv[2] == "0" else "the same + 1,200 bytes of body"
f = lambda m: f"{r[m + '_mrr10']:.3f} / {r[m + '_recall10']:.2f}"
print(f"| {text} | {sys.argv[3]} | {sys.argv[4]} | {f('keyword')} | {f('semantic')} | {f('hybrid')} |")
PY
    done
  done
done
echo
echo "### Embedding throughput (ignore crate's units, both cores)"
echo
echo "| text | window | units | mean tokens | units/s | tokens/s |"
echo "|---|---|---|---|---|---|"
for body in 0 1200; do
  for window in 128 256; do
    line=$(CORTEX_EMBED_BODY=$body "$bench" throughput "$ignore_crate" "$window" 600)
    python3 - "$line" "$body" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
text = "name, signature, doc summary" if sys.argv[2] == "0" else "+ 1,200 bytes of body"
print(f"| {text} | {r['window']} | {r['units']} | {r['mean_tokens']:.0f} | {r['units_per_s']:.1f} | {r['tokens_per_s']:.0f} |")
PY
  done
done
echo
echo "### Search latency (express's units replicated, ms)"
echo
echo "| units | store | keyword p50 / p95 | semantic p50 / p95 | hybrid p50 / p95 |"
echo "|---|---|---|---|---|"
for n in "${sizes[@]}"; do
  rm -rf "$work/l.cortex"; cp -r "$work/express/.cortex" "$work/l.cortex"
  line=$("$bench" latency "$work/l.cortex" scripts/queries/queries-express.json "$n")
  python3 - "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
f = lambda m: f"{r[m + '_p50_ms']:.1f} / {r[m + '_p95_ms']:.1f}"
for p, store in (("", "just written"), ("reopened_", "reopened")):
    print(f"| {r['units']:,} | {store} | {f(p + 'keyword')} | {f(p + 'semantic')} | {f(p + 'hybrid')} |")
PY
done
