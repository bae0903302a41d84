#!/usr/bin/env bash
# Search: retrieval quality, embedding throughput and search latency
# (issue 6), in process (scripts/bench/bench_search.rs), printed as Markdown.
#
# Quality: about 50 questions each over two real crates (semver, url, from
# cargo's registry), an npm package (express) and a PyPI package
# (requests), in scripts/bench/queries/ (its README says how they were
# written), each with the units that answer it: recall@1/3/10 and MRR@10
# for keyword, semantic and hybrid ranking and two baselines (BM25 over
# whole unit bodies, ripgrep over the question's words), on the half of
# each set no weight was tuned on; the weights that score best on the
# other half; and an ablation of what a unit's texts hold.
# Throughput: units/s embedding the ignore crate's units, both cores.
# Latency: p50/p95 per mode with express's units replicated to 10,000 and
# 100,000 (vectors nudged so copies differ), measured right after the copies
# are written (the store still compacting them) and again after reopening.
#
# Usage: scripts/bench-search.sh [--quick | --quality | --ablation]
#   --quick: latency at 10,000 units only; --quality: the quality table only;
#   --ablation: the ablation table only
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
only_quality=; [ "${1:-}" = "--quality" ] && only_quality=1
only_ablation=; [ "${1:-}" = "--ablation" ] && only_ablation=1

registry=$(ls -d "$HOME"/.cargo/registry/src/*/ | head -1)
fixtures="${CORTEX_FIXTURES:-$HOME/.cache/cortex-fixtures}"
ignore_crate=$(ls -d "$registry"ignore-0.4.34)
declare -A trees=(
  [semver]="${registry}semver-1.0.28"
  [express]="$fixtures/npm/express-4.21.2/package"
  [url]="${registry}url-2.5.8"
  [requests]="$fixtures/pypi/requests-2.32.3"
)
sets=(semver express url requests)
work=$(mktemp -d /tmp/cortex-bench-search.XXXXXX)
trap 'rm -rf "$work"' EXIT
for name in "${sets[@]}"; do
  cp -r "${trees[$name]}" "$work/$name"
  (cd "$work/$name" && "$cortex" init . >/dev/null)
done

# quality WINDOW: every set's tree, a fresh copy of its store, questions.
quality() {
  local args=()
  for name in "${sets[@]}"; do
    rm -rf "$work/q-$name.cortex"; cp -r "$work/$name/.cortex" "$work/q-$name.cortex"
    args+=("$work/$name" "$work/q-$name.cortex" "scripts/bench/queries/queries-$name.json")
  done
  "$bench" quality "$1" "${args[@]}"
}

if [ -z "$only_ablation" ]; then
echo "### Retrieval quality, shipped ranking"
echo
echo "Recall@1 / recall@3 / recall@10 / MRR@10 (recall@k: questions with an"
echo "answer in the first k), on each set's report half (the half no weight"
echo "was tuned on), then on all its questions."
echo
quality 128 > "$work/quality.jsonl"
python3 - "$work/quality.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cols = ["keyword", "semantic", "hybrid", "bm25_bodies", "ripgrep"]
f = lambda m: f"{m['r1']:.2f} / {m['r3']:.2f} / {m['r10']:.2f} / {m['mrr10']:.3f}"
for weights in ("shipped", "tuned"):
    if weights == "tuned":
        best = next(r for r in rows if "best_on_tuning_halves" in r)
        print(f"\nThe best weights on the tuning halves ({best['best_on_tuning_halves']}, hybrid MRR@10 {best['hybrid_mrr10']:.3f} there):\n")
    print("| set | half | " + " | ".join(c.replace("_", " ") for c in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for r in rows:
        if r.get("weights") == weights and r["half"] in ("report", "all"):
            print(f"| {r['set']} | {r['half']} | " + " | ".join(f(r[c]) for c in cols) + " |")
for r in rows:
    if "hybrid_misses" in r:
        print(f"\n{r['set']}: not in hybrid's first 10: " + "; ".join(r["hybrid_misses"]))
PY
[ -n "$only_quality" ] && exit 0
fi
echo
echo "### What a unit is searched by (ablation; MRR@10 over all questions, shipped ranking)"
echo
echo "| model's text | keyword text | set | keyword | semantic | hybrid |"
echo "|---|---|---|---|---|---|"
for variant in \
  "sig,doc|sig,fulldoc,body=300" \
  "words,sig,doc|sig,fulldoc,body=300" \
  "words,path,sig,doc|sig,fulldoc,body=300" \
  "words,sig,fulldoc|sig,fulldoc,body=300" \
  "words,sig,doc,body=300|sig,fulldoc,body=300" \
  "sig,doc|words,path,sig,fulldoc,body=300" \
  "sig,doc|sig,fulldoc,body=1200" \
  "sig,doc|sig,fulldoc"; do
  CORTEX_EMBED_TEXT="${variant%|*}" CORTEX_KEYWORD_TEXT="${variant#*|}" quality 128 > "$work/ablation.jsonl"
  python3 - "$work/ablation.jsonl" "$variant" <<'PY'
import json, sys
embed, keyword = sys.argv[2].split("|")
for r in map(json.loads, open(sys.argv[1])):
    if r.get("weights") == "shipped" and r["half"] == "all":
        print(f"| {embed} | {keyword} | {r['set']} | " + " | ".join(f"{r[m]['mrr10']:.3f}" for m in ("keyword", "semantic", "hybrid")) + " |")
PY
done
[ -n "$only_ablation" ] && exit 0
echo
echo "### Embedding throughput (ignore crate's units, both cores)"
echo
echo "| text | window | units | mean tokens | units/s | tokens/s |"
echo "|---|---|---|---|---|---|"
for text in "sig,doc" "sig,doc,body=1200"; do
  for window in 128 256; do
    line=$(CORTEX_EMBED_TEXT=$text "$bench" throughput "$ignore_crate" "$window" 600)
    python3 - "$line" "$text" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
text = "name, signature, doc summary" if sys.argv[2] == "sig,doc" else "+ 1,200 bytes of body"
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
  line=$("$bench" latency "$work/l.cortex" scripts/bench/queries/queries-express.json "$n")
  python3 - "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
f = lambda m: f"{r[m + '_p50_ms']:.1f} / {r[m + '_p95_ms']:.1f}"
for p, store in (("", "just written"), ("reopened_", "reopened")):
    print(f"| {r['units']:,} | {store} | {f(p + 'keyword')} | {f(p + 'semantic')} | {f(p + 'hybrid')} |")
PY
done
