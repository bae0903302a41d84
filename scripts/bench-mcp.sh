#!/usr/bin/env bash
# MCP latency: p50/p95 per tool over stdio, measured by the Python `mcp`
# client against `cortex mcp` (through the store's daemon) on a real tree
# of a few thousand files; with --http, also CLIENTS clients at once over
# HTTP on loopback (`cortex mcp --http`, a token each), from the Python SDK
# and then from Rust (scripts/bench/mcp_load.rs: a load that leaves the
# cores to the server, as agents on other machines do). The design
# promises read-only tools under 100 ms.
#
# Usage: scripts/bench-mcp.sh [--http] [CODE_FILES] [SAMPLES]
#        (default: stdio only; 2000 files; 30 calls per tool; HTTP clients:
#        CORTEX_BENCH_CLIENTS, default 8)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fixtures.sh
python="$(scripts/pyenv.sh)"
source scripts/build.sh
clients=0
if [ "${1:-}" = "--http" ]; then
  shift
  clients="${CORTEX_BENCH_CLIENTS:-8}"
fi
exec "$python" -u scripts/bench_mcp.py "$cortex" "${1:-2000}" "${2:-30}" "$clients"
