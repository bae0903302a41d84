#!/usr/bin/env bash
# Runs pjdfstest (the Rust rewrite of the POSIX suite, from crates.io)
# against a cortex mount and, with the same configuration, a native
# directory beside it; prints passed/failed/skipped per group for both.
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
# mktemp makes the directory 0700: the suite's other users must get through.
chmod 755 "$work"
trap '"$cortex" umount "$work/mnt" >/dev/null 2>&1 || true; cp "$work"/out-*.txt /tmp/ 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/tree" "$work/mnt" "$work/native"
echo seed > "$work/tree/README"
# The optional features both filesystems have (ext4 has them all, and so
# does the mount); the same configuration for both runs.
cat > "$work/pjdfstest.toml" <<'TOML'
[features]
posix_fallocate = {}
rename_ctime = {}
utime_now = {}
utimensat = {}

[settings]

[dummy_auth]
entries = [
  ["nobody", "nogroup"],
  ["daemon", "daemon"],
]
TOML
(cd "$work/tree" && "$cortex" init >/dev/null && "$cortex" mount --allow-other "$work/mnt")
mkdir "$work/mnt/pjd"
echo "pjdfstest on the cortex mount, then on a native directory ($(df --output=fstype "$work" | tail -1)) ..."
pjdfstest -c "$work/pjdfstest.toml" -p "$work/mnt/pjd" > "$work/out-cortex.txt" 2>&1 || true
pjdfstest -c "$work/pjdfstest.toml" -p "$work/native" > "$work/out-native.txt" 2>&1 || true

python3 - "$work/out-cortex.txt" "$work/out-native.txt" <<'PY'
import collections, re, sys

def results(path):
    groups = collections.defaultdict(collections.Counter)
    failed, skipped = [], collections.Counter()
    lines = open(path, errors="replace").read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\S+::\S+)\s+(ok|FAILED|skipped.*)$", line.rstrip())
        if not m:
            continue
        name, result = m.groups()
        result = "skipped" if result.startswith("skipped") else result
        groups[name.split("::")[0]][result] += 1
        if result == "FAILED":
            failed.append(name)
        if result == "skipped" and i + 1 < len(lines):
            skipped[lines[i + 1].strip()] += 1
    return groups, failed, skipped

cortex, native = results(sys.argv[1]), results(sys.argv[2])
print(f"{'group':<16} {'cortex: passed':>14} {'failed':>7} {'skipped':>8}   {'native: passed':>14} {'failed':>7} {'skipped':>8}")
totals = [collections.Counter(), collections.Counter()]
for g in sorted(set(cortex[0]) | set(native[0])):
    row = f"{g:<16}"
    for (groups, _, _), total in zip((cortex, native), totals):
        c = groups[g]
        total.update(c)
        row += f" {c['ok']:>14} {c['FAILED']:>7} {c['skipped']:>8}  "
    print(row)
row = f"{'total':<16}"
for t in totals:
    row += f" {t['ok']:>14} {t['FAILED']:>7} {t['skipped']:>8}  "
print(row)
for label, (_, failed, skipped) in (("cortex", cortex), ("native", native)):
    print(f"\n{label}: {len(failed)} failed")
    for f in failed:
        print("   ", f)
    print(f"{label}: skipped because")
    for reason, n in skipped.most_common():
        print(f"   {n:>3}  {reason}")
PY
