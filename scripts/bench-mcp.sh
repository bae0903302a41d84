#!/usr/bin/env bash
# MCP latency: p50/p95 per tool over stdio, measured by the Python `mcp`
# client against `cortex mcp` (through the store's daemon) on a real tree
# of a few thousand files. The design promises read-only tools under 100 ms.
#
# Usage: scripts/bench-mcp.sh [CODE_FILES] [SAMPLES]   (default 2000, 30)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fixtures.sh
python="$(scripts/pyenv.sh)"
source scripts/build.sh
exec "$python" -u scripts/bench_mcp.py "$cortex" "${1:-2000}" "${2:-30}"
