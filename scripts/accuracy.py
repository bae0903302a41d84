"""Call-edge accuracy of the code graph against oracles nobody here wrote.

Run through scripts/accuracy.sh. For a sample of functions of a real crate
(semver, from cargo's registry) and a real npm package (commander), the
callers cortex finds are compared with the true callers:

- Rust: the compiler. Each sampled function gets one more parameter in a
  copy of the crate, and `cargo check` reports every place that used it.
- JavaScript: the TypeScript language service's find-references (typescript
  from npm), keeping the references that are calls.

A true caller is the innermost function or method (as cortex's units span
them) around a call site. Precision and recall are printed for the edges
cortex marks resolved and for all its edges.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

CORTEX = sys.argv[1]
CRATE_SRC = sys.argv[2]
NPM_SRC = sys.argv[3]
TS_DIR = sys.argv[4]
SAMPLE = 40
HERE = os.path.dirname(os.path.abspath(__file__))


def cortex(args, cwd):
    out = subprocess.run([CORTEX, *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"cortex {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def units_of(tree, path):
    return json.loads(cortex(["units", path, "--json"], tree))["units"]


def enclosing(units, path, line):
    """The innermost function or method of `path` around `line`."""
    best = None
    for u in units:
        if u["path"] != path or u["kind"] not in ("function", "method"):
            continue
        if u["start_line"] <= line <= u["end_line"]:
            if best is None or u["start_line"] >= best["start_line"]:
                best = u
    return best["id"] if best else None


def cortex_callers(tree, unit_id):
    answer = json.loads(cortex(["callers", unit_id, "--json"], tree))
    found = {}
    for level in answer["levels"]:
        for r in level["units"]:
            if r["unit"]["kind"] in ("function", "method"):
                found[r["unit"]["id"]] = r["confidence"]
    return found


def sample(units, keep):
    chosen = sorted((u for u in units if keep(u)), key=lambda u: u["id"])
    step = max(1, len(chosen) // SAMPLE)
    return chosen[::step][:SAMPLE]


def score(rows):
    """rows: (truth set, found {id: confidence}) per function."""
    out = {}
    for label, accept in (("resolved", {"resolved"}), ("all", {"resolved", "name_matched", "ambiguous"})):
        tp = fp = fn = 0
        for truth, found in rows:
            got = {u for u, c in found.items() if c in accept}
            tp += len(got & truth)
            fp += len(got - truth)
            fn += len(truth - got)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        out[label] = (precision, recall, tp, fp, fn)
    return out


# --- Rust: break the function's calls and let the compiler say where -------

def with_extra_parameter(text, unit):
    """The source with one more parameter on `unit`'s function, or None.

    Renaming would be simpler but misses calls that still compile after it
    (`x.as_str()` finding str::as_str through Deref); an extra parameter
    keeps name resolution as it was and breaks every call."""
    offsets = [0]
    for line in text.split("\n"):
        offsets.append(offsets[-1] + len(line) + 1)
    start = offsets[unit["start_line"] - 1]
    m = re.compile(rf"\bfn\s+{re.escape(unit['name'])}\b").search(text, start)
    if not m or m.start() > offsets[min(unit["end_line"], len(offsets) - 1)]:
        return None
    i, angle = m.end(), 0
    while i < len(text):
        c = text[i]
        if c == "<":
            angle += 1
        elif c == ">":
            angle -= 1
        elif c == "(" and angle == 0:
            break
        i += 1
    open_at, depth = i, 0
    while i < len(text):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            break
        i += 1
    inside = text[open_at + 1:i]
    if not inside.strip():
        extra = "__oracle: ()"
    elif inside.rstrip().endswith(","):
        extra = " __oracle: ()"
    else:
        extra = ", __oracle: ()"
    return text[:i] + extra + text[i:]


def rust_rows(work):
    tree = os.path.join(work, "crate")
    shutil.copytree(CRATE_SRC, tree)
    # Only the library is checked: no dev-dependencies, no lockfile.
    toml = open(os.path.join(tree, "Cargo.toml")).read()
    toml = re.sub(r"\n\[(target\.[^\]]*\.)?dev-dependencies[^\]]*\][^\[]*", "\n", toml)
    open(os.path.join(tree, "Cargo.toml"), "w").write(toml)
    for junk in ("Cargo.lock", "benches", "tests"):
        p = os.path.join(tree, junk)
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)
    cortex(["init", "."], tree)
    units = units_of(tree, "src")
    check_env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(work, "target"))

    def check():
        out = subprocess.run(
            ["cargo", "check", "--lib", "--offline", "--message-format=json", "-q"],
            cwd=tree, capture_output=True, text=True, env=check_env)
        return [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]

    if any(m.get("message", {}).get("level") == "error" for m in check()):
        raise SystemExit("the crate does not build as it is")

    def plain(u):
        # Free functions and inherent methods (renaming a trait method
        # breaks the impl, not the callers), outside tests.
        if u["kind"] not in ("function", "method") or u["is_test"]:
            return False
        parent = next((p for p in units if p["id"] == u["parent"]), None)
        if parent and parent["kind"] == "impl" and " for " in parent["name"]:
            return False
        if parent and parent["kind"] == "trait":
            return False
        return "#" not in u["id"] and "::tests" not in u["id"]

    rows = []
    for u in sample(units, plain):
        path = os.path.join(tree, u["path"])
        text = open(path).read()
        changed = with_extra_parameter(text, u)
        if changed is None:
            continue
        open(path, "w").write(changed)
        # Every error the extra parameter causes is a use of the function:
        # a call that now lacks an argument, or a path to it used as a value.
        truth = set()
        for m in check():
            msg = m.get("message") or {}
            if msg.get("level") != "error":
                continue
            for span in msg.get("spans", []):
                if span.get("is_primary"):
                    caller = enclosing(units, span["file_name"], span["line_start"])
                    if caller and caller != u["id"]:
                        truth.add(caller)
        open(path, "w").write(text)
        found = {k: v for k, v in cortex_callers(tree, u["id"]).items() if k != u["id"]}
        rows.append((u["id"], truth, found))
    return rows


# --- JavaScript: find-references of the TypeScript language service ---------

def js_rows(work):
    tree = os.path.join(work, "npm")
    shutil.copytree(NPM_SRC, tree)
    cortex(["init", "."], tree)
    units = units_of(tree, "lib")
    chosen = sample(units, lambda u: u["kind"] in ("function", "method") and "#" not in u["id"])
    # Where each sampled unit's name is declared.
    targets = []
    for u in chosen:
        lines = open(os.path.join(tree, u["path"])).read().split("\n")
        for i in range(u["start_line"] - 1, min(u["end_line"], len(lines))):
            col = lines[i].find(u["name"])
            if col >= 0:
                targets.append({"id": u["id"], "file": u["path"], "line": i + 1, "col": col})
                break
    files = sorted({u["path"] for u in units if u["path"].endswith(".js")})
    request = {"root": tree, "files": files, "targets": targets}
    out = subprocess.run(["node", os.path.join(HERE, "ts_callers.js")], input=json.dumps(request),
                         capture_output=True, text=True, env=dict(os.environ, NODE_PATH=os.path.join(TS_DIR, "node_modules")))
    if out.returncode != 0:
        raise SystemExit(f"ts_callers.js: {out.stderr}")
    calls = json.loads(out.stdout)
    rows = []
    for t in targets:
        truth = set()
        for site in calls.get(t["id"], []):
            caller = enclosing(units, site["file"], site["line"])
            if caller and caller != t["id"]:
                truth.add(caller)
        found = {k: v for k, v in cortex_callers(tree, t["id"]).items() if k != t["id"]}
        rows.append((t["id"], truth, found))
    return rows


def report(label, rows, source):
    s = score([(t, f) for _, t, f in rows])
    with_callers = sum(1 for _, t, _ in rows if t)
    print(f"{label}: {len(rows)} functions of {source} ({with_callers} with callers)")
    for kind, (p, r, tp, fp, fn) in s.items():
        print(f"  {kind:>8} edges: precision {p:.2f}, recall {r:.2f}  (tp {tp}, fp {fp}, fn {fn})")
    # Where resolved edges and the oracle disagree.
    for i, t, f in rows:
        got = {u for u, c in f.items() if c == "resolved"}
        missed, extra = sorted(t - got), sorted(got - t)
        if missed or extra:
            weaker = {u: f[u] for u in missed if u in f}
            print(f"    {i}: missed {missed} (found weaker: {weaker}) wrong {extra}")


def main():
    work = tempfile.mkdtemp(prefix="cortex-accuracy.")
    try:
        report("Rust", rust_rows(work), os.path.basename(CRATE_SRC))
        report("JavaScript", js_rows(work), os.path.basename(os.path.dirname(NPM_SRC)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
