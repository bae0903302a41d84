"""Watch lag and a branch switch, measured through the daemon's control
socket (no CLI start-up in the figures). Run by scripts/bench-watch.sh.

lag CORTEX TREE N SEED: with TREE watched, N times (files drawn with a
fixed seed among TREE's .rs files) a function is appended to a file and the
clock starts as the write's file is closed; it stops when the daemon's
`cat` gives the new bytes, and again when the file's units in the code
graph include the new function. Prints p50 / p95 / max of both.

checkout CORTEX TREE: TREE is a git repository on branch `a` with branch
`b` changing every file; with TREE watched, `git checkout b` runs and the
clock stops once main holds b's bytes for every changed file; the watch's
snapshots made meanwhile are counted (one is the target).
"""
import json, os, random, socket, statistics, subprocess, sys, time


def call(store, request):
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(store, "mountd.sock"))
    s.sendall(json.dumps(request).encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)


def cat(store, rel):
    r = call(store, {"op": "cat", "path": list(rel.encode())})
    return bytes(r["data"]) if r.get("result") == "bytes" else None


def unit_names(store, rel):
    r = call(store, {"op": "graph", "query": {"Units": {"path": rel}}, "view": "main"})
    units = r.get("answer", {}).get("Units", {}).get("units", [])
    return {u["name"] for u in units}


def watch_snapshots(store):
    r = call(store, {"op": "log", "limit": 100000})
    return sum(1 for s in r["snapshots"] if s["source"] == "watch")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def lag(tree, n, seed):
    store = os.path.join(tree, ".cortex")
    files = sorted(
        os.path.relpath(os.path.join(d, f), tree)
        for d, _, fs in os.walk(tree)
        if "/.cortex" not in d and "/.git" not in d
        for f in fs
        if f.endswith(".rs")
    )
    rng = random.Random(seed)
    cat_ms, graph_ms = [], []
    for i in range(n):
        rel = rng.choice(files)
        path = os.path.join(tree, rel)
        with open(path, "rb") as f:
            old = f.read()
        name = f"cortex_watch_probe_{i}"
        new = old + f"\npub fn {name}() {{}}\n".encode()
        with open(path, "wb") as f:
            f.write(new)
        start = time.perf_counter()  # closed just now
        while cat(store, rel) != new:
            time.sleep(0.002)
        cat_ms.append((time.perf_counter() - start) * 1000)
        while name not in unit_names(store, rel):
            time.sleep(0.002)
        graph_ms.append((time.perf_counter() - start) * 1000)
        time.sleep(0.2)  # edits apart, as a person makes them
    for what, xs in (("cat", cat_ms), ("graph", graph_ms)):
        slowest = xs.index(max(xs)) + 1
        print(f"| {what} | {n} | {pct(xs, 50):.0f} | {pct(xs, 95):.0f} | {max(xs):.0f} (edit {slowest}) |")


def checkout(tree):
    store = os.path.join(tree, ".cortex")
    changed = subprocess.run(
        ["git", "diff", "--name-only", "a", "b"], cwd=tree, check=True, capture_output=True, text=True
    ).stdout.split()
    want = {}
    for rel in changed:
        want[rel] = subprocess.run(
            ["git", "show", f"b:{rel}"], cwd=tree, check=True, capture_output=True
        ).stdout
    probe = [changed[0], changed[len(changed) // 2], changed[-1]]
    before = watch_snapshots(store)
    start = time.perf_counter()
    subprocess.run(["git", "checkout", "-q", "b"], cwd=tree, check=True)
    git_s = time.perf_counter() - start
    while any(cat(store, rel) != want[rel] for rel in probe):
        time.sleep(0.01)
    landed_s = time.perf_counter() - start
    wrong = [rel for rel in changed if cat(store, rel) != want[rel]]
    made = watch_snapshots(store) - before
    print(f"| {len(changed)} | {git_s:.2f} | {landed_s:.2f} | {made} | {len(wrong)} |")


if __name__ == "__main__":
    if sys.argv[1] == "lag":
        lag(sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] == "checkout":
        checkout(sys.argv[3])
