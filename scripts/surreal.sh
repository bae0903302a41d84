#!/usr/bin/env bash
# A SurrealDB server for the test suite (issue 20), started from this
# workspace's `cortex-surreal` (the `surreal` binary's own entry point):
# bound to the loopback interface on a free port, root credentials made up
# for this run and passed by environment only (never argv, never a file
# others can read), storage `memory` or `surrealkv` (in a temporary
# directory).
#
# Usage (sourced):  source scripts/surreal.sh [memory|surrealkv]
#   sets CORTEX_TEST_SERVER=ws://127.0.0.1:PORT, CORTEX_DB_USER,
#   CORTEX_DB_PASS and SURREAL_PID; `surreal_stop` stops the server.
# Needs $CARGO_TARGET_DIR/debug/cortex-surreal (cargo build --workspace).
surreal_start() {
  local engine="${1:-memory}" bin="$CARGO_TARGET_DIR/debug/cortex-surreal"
  SURREAL_DIR=$(mktemp -d /tmp/cortex-surreal.XXXXXX)
  local storage=memory
  [ "$engine" = surrealkv ] && storage="surrealkv://$SURREAL_DIR/data"
  CORTEX_DB_USER="root_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  CORTEX_DB_PASS="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export CORTEX_DB_USER CORTEX_DB_PASS
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  SURREAL_USER="$CORTEX_DB_USER" SURREAL_PASS="$CORTEX_DB_PASS" SURREAL_BIND="127.0.0.1:$port" \
    SURREAL_LOG=warn SURREAL_NO_BANNER=true \
    "$bin" start "$storage" > "$SURREAL_DIR/log" 2>&1 &
  SURREAL_PID=$!
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      export CORTEX_TEST_SERVER="ws://127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$SURREAL_PID" 2>/dev/null; then
      echo "the SurrealDB server did not start:" >&2
      cat "$SURREAL_DIR/log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the SurrealDB server did not listen on 127.0.0.1:$port within 30 s" >&2
  return 1
}

surreal_stop() {
  [ -n "${SURREAL_PID:-}" ] && kill "$SURREAL_PID" 2>/dev/null && wait "$SURREAL_PID" 2>/dev/null
  [ -n "${SURREAL_DIR:-}" ] && rm -rf "$SURREAL_DIR"
  SURREAL_PID=""
  return 0
}

surreal_start "${1:-memory}"
