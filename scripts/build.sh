# Sourced by the scripts that run cortex: builds the workspace's binaries
# into $CARGO_TARGET_DIR (default ~/.cache/cortex-target, shared with the
# tests) and sets $cortex to the built command.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/cortex-target}"
cargo build --workspace --locked --bins
cortex="$CARGO_TARGET_DIR/debug/cortex"
