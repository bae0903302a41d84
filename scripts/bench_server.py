"""Per-operation latency, an embedded store against the same tree on a
local SurrealDB server (scripts/bench-server.sh runs it twice, once per
store, and prints the table). Each figure is the median of N runs, ms.

usage: bench_server.py CORTEX TREE MNT N   (CORTEX_STORE set or not)
"""
import json, os, statistics, subprocess, sys, time

cortex, tree, mnt, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def run(*args, ok=True):
    r = subprocess.run([cortex, *args], cwd=tree, capture_output=True, text=True)
    if ok and r.returncode != 0:
        sys.exit(f"cortex {args}: {r.stderr}")
    return r.stdout


def timed(f):
    xs = []
    for i in range(n):
        start = time.perf_counter()
        f(i)
        xs.append((time.perf_counter() - start) * 1000)
    return statistics.median(xs)


files = sorted(
    os.path.relpath(os.path.join(d, f), tree)
    for d, _, fs in os.walk(tree)
    if "/.cortex" not in d and "/.git" not in d
    for f in fs
    if f.endswith(".rs")
)
row = {}
# Open: a command that opens the store and reads its head, no daemon.
row["open (cortex status, no daemon)"] = timed(lambda i: run("status"))
run("mount", mnt)
try:
    # Read a file through the daemon (the store's content, not the mount's cache).
    row["read a file (cortex cat)"] = timed(lambda i: run("cat", files[i % len(files)]))
    probe = os.path.join(mnt, "bench_probe.rs")

    def flush(i):
        with open(probe, "w") as f:
            f.write(f"pub fn probe_{i}() {{}}\n")
            f.flush()
            os.fsync(f.fileno())

    row["flush (write + fsync through the mount)"] = timed(flush)

    def index(i):
        name = f"indexed_{i}"
        with open(probe, "w") as f:
            f.write(f"pub fn {name}() {{}}\n")
            f.flush()
            os.fsync(f.fileno())
        while name not in run("units", "bench_probe.rs"):
            time.sleep(0.005)

    row["index one file (fsync until `units` shows it)"] = timed(index)
    run("index")
    row["search (keyword, limit 10)"] = timed(
        lambda i: run("search", "--mode", "keyword", "--limit", "10", "parse the input")
    )
finally:
    run("umount", mnt, ok=False)
print(json.dumps(row))
