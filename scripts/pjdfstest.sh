#!/usr/bin/env bash
# Runs pjdfstest (the Rust rewrite of the POSIX suite, from crates.io)
# against a cortex mount and prints passed/failed/skipped per group.
#
# The mount is made with --allow-other: the suite switches to other users
# (nobody, daemon), whom a private mount would turn away at the door.
# -p points at a subdirectory of the mount (pjdfstest 0.2.2 has a
# path-length bug at a mount's root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
command -v pjdfstest >/dev/null || {
    dpkg -s libacl1-dev >/dev/null 2>&1 || apt-get install -y -qq libacl1-dev >/dev/null
    cargo install --locked pjdfstest
}
source scripts/build.sh

work=$(mktemp -d /tmp/cortex-pjdfstest.XXXXXX)
trap '"$cortex" umount "$work/mnt" >/dev/null 2>&1 || true; cp "$work/out.txt" /tmp/pjdfstest-last.txt 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/tree" "$work/mnt"
echo seed > "$work/tree/README"
cat > "$work/pjdfstest.toml" <<'TOML'
[features]

[settings]

[dummy_auth]
entries = [
  ["nobody", "nogroup"],
  ["daemon", "daemon"],
]
TOML
(cd "$work/tree" && "$cortex" init >/dev/null && "$cortex" mount --allow-other "$work/mnt")
mkdir "$work/mnt/pjd"
pjdfstest -c "$work/pjdfstest.toml" -p "$work/mnt/pjd" > "$work/out.txt" 2>&1 || true

python3 - "$work/out.txt" <<'PY'
import collections, re, sys
groups = collections.defaultdict(collections.Counter)
failed = []
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^(\S+::\S+)\s+(ok|FAILED|skipped.*)$", line.rstrip())
    if not m:
        continue
    name, result = m.groups()
    result = "skipped" if result.startswith("skipped") else result
    groups[name.split("::")[0]][result] += 1
    if result == "FAILED":
        failed.append(name)
total = collections.Counter()
print(f"{'group':<12} {'passed':>7} {'failed':>7} {'skipped':>8}")
for g in sorted(groups):
    c = groups[g]
    total.update(c)
    print(f"{g:<12} {c['ok']:>7} {c['FAILED']:>7} {c['skipped']:>8}")
print(f"{'total':<12} {total['ok']:>7} {total['FAILED']:>7} {total['skipped']:>8}")
special = [f for f in failed if re.search(r"::(fifo|socket|char|block)\b|mkfifo|mknod|socket", f)]
print(f"\n{len(failed)} failed, {len(special)} of them on fifos, sockets or device nodes")
for f in failed:
    if f not in special:
        print("  ", f)
PY
