#!/usr/bin/env bash
# Filesystem speed: the same workloads on a native directory, on a bindfs
# mount of it (Debian's bindfs, a plain FUSE pass-through), and on a cortex
# mount, in one run. Prints seconds and ratios, cold and warm.
#
# Usage: scripts/bench-fs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
command -v bindfs >/dev/null || { apt-get update -qq && apt-get install -y -qq bindfs >/dev/null; }
source scripts/build.sh
exec python3 scripts/bench_fs.py "$cortex"
