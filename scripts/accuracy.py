"""Call-edge accuracy of the code graph against oracles nobody here wrote.

Run through scripts/accuracy.sh. For a sample of functions of real crates
(from cargo's registry) and real npm packages (PACKAGES below), drawn at
random with a fixed seed, the callers cortex finds are compared with the
true callers:

- Rust: the compiler. Each sampled function gets one more parameter in a
  copy of the crate, and `cargo check` reports every place that used it.
- JavaScript and TypeScript: the TypeScript language service (typescript
  from npm): find-references, followed through aliases, and go-to-definition
  from every call of the names the function goes by (scripts/ts_callers.js),
  keeping the references that are calls.

A true caller is the innermost function or method (as cortex's units span
them) around a call site. Precision and recall are printed for the edges
cortex marks resolved and for all its edges, and the share of the call
edges leaving a random sample of functions by confidence.

- Python: jedi's find-references (jedi from PyPI), keeping the references
  that are calls or decorations.

Usage: accuracy.py CORTEX REGISTRY_SRC NPM_FIXTURES TS_DIR JEDI_PYTHON [PACKAGE...]
"""

import glob
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

CORTEX = sys.argv[1]
REGISTRY = sys.argv[2]
NPM = sys.argv[3]
TS_DIR = sys.argv[4]
JEDI_PYTHON = sys.argv[5]
PYPI = os.path.join(os.path.dirname(NPM), "pypi")
ONLY = set(sys.argv[6:])
SAMPLE = 40
SHARE_SAMPLE = 100
SEED = 17

# (language, package, the directories its code is in, cargo features)
PACKAGES = [
    ("rust", "semver-1.0.28", ["src"], None),
    ("rust", "serde_json-1.0.154", ["src"], "float_roundtrip,raw_value"),
    ("rust", "tokio-1.54.1", ["src"], "full"),
    ("javascript", "commander-12.1.0", ["lib"], None),
    ("javascript", "semver-7.6.3", ["classes", "functions", "internal", "ranges"], None),
    ("javascript", "express-4.21.2", ["lib"], None),
    ("typescript", "rxjs-7.8.1", ["src/internal"], None),
    ("typescript", "mobx-6.13.5", ["src"], None),
    ("typescript", "immer-10.1.1", ["src"], None),
    ("python", "flask-3.0.3", ["src"], None),
    ("python", "click-8.1.7", ["src"], None),
    ("python", "requests-2.32.3", ["src"], None),
]
HERE = os.path.dirname(os.path.abspath(__file__))


def cortex(args, cwd):
    out = subprocess.run([CORTEX, *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"cortex {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def units_of(tree, dirs):
    return [u for d in dirs for u in json.loads(cortex(["units", d, "--json"], tree))["units"]]


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


def sample(units, keep, n=SAMPLE):
    """n units that pass `keep`, drawn at random with a fixed seed."""
    chosen = sorted((u for u in units if keep(u)), key=lambda u: u["id"])
    return random.Random(SEED).sample(chosen, min(n, len(chosen)))


def shares(tree, units):
    """The call edges leaving a random sample of functions, by confidence."""
    counts = {"resolved": 0, "name_matched": 0, "ambiguous": 0}
    fns = sample(units, lambda u: u["kind"] in ("function", "method") and not u["is_test"], SHARE_SAMPLE)
    for u in fns:
        answer = json.loads(cortex(["callees", u["id"], "--json"], tree))
        for level in answer["levels"]:
            for r in level["units"]:
                if r["edge"] == "calls":
                    counts[r["confidence"]] += 1
    return counts


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
        extra = "cortex_oracle: ()"
    elif inside.rstrip().endswith(","):
        extra = " cortex_oracle: ()"
    else:
        extra = ", cortex_oracle: ()"
    return text[:i] + extra + text[i:]


def library_only(toml):
    """A manifest without its dev-dependencies and its test, bench and
    example targets (their sources are removed; they need more crates)."""
    out, keep = [], True
    for line in toml.split("\n"):
        if line.startswith("["):
            header = line.strip("[] ")
            keep = "dev-dependencies" not in header and header not in ("test", "bench", "example")
        if keep:
            out.append(line)
    return "\n".join(out)


def rust_rows(work, src, dirs, features):
    tree = os.path.join(work, os.path.basename(src))
    shutil.copytree(src, tree)
    # Only the library is checked: no dev-dependencies, no lockfile.
    manifest = os.path.join(tree, "Cargo.toml")
    toml = library_only(open(manifest).read())
    open(manifest, "w").write(toml)
    for junk in ("Cargo.lock", "benches", "tests"):
        p = os.path.join(tree, junk)
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)
    cortex(["init", "."], tree)
    units = units_of(tree, dirs)
    check_env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(work, "target"))
    features = ["--features", features] if features else []

    def check():
        out = subprocess.run(
            ["cargo", "check", "--lib", "--message-format=json", "-q", *features],
            cwd=tree, capture_output=True, text=True, env=check_env)
        messages = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
        errors = [m for m in messages if (m.get("message") or {}).get("level") == "error"]
        if out.returncode != 0 and not errors:
            raise SystemExit(f"cargo check failed without a compiler error: {out.stderr[-2000:]}")
        return messages

    if any((m.get("message") or {}).get("level") == "error" for m in check()):
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
    # In random order, the first SAMPLE functions the compiler compiles
    # (code behind a `cfg` that is off says nothing): those whose unused
    # extra parameter it warns about.
    for u in sample(units, plain, n=len(units)):
        if len(rows) == SAMPLE:
            break
        path = os.path.join(tree, u["path"])
        text = open(path).read()
        changed = with_extra_parameter(text, u)
        if changed is None:
            continue
        open(path, "w").write(changed)
        messages = check()
        open(path, "w").write(text)
        compiled = any("cortex_oracle" in (m.get("message") or {}).get("message", "") for m in messages)
        if not compiled:
            continue
        # Every error the extra parameter causes is a use of the function:
        # a call that now lacks an argument, or a path to it used as a value.
        truth = set()
        for m in messages:
            msg = m.get("message") or {}
            if msg.get("level") != "error":
                continue
            for span in msg.get("spans", []):
                if span.get("is_primary"):
                    caller = enclosing(units, span["file_name"], span["line_start"])
                    if caller and caller != u["id"]:
                        truth.add(caller)
        # `cargo check --lib` compiles no tests: callers that are tests
        # (`#[test]`, `#[cfg(test)]` modules, files under tests/) are not
        # seen by the oracle, so not scored.
        tests = {x["id"] for x in units if x["is_test"] or "::tests::" in x["id"]}
        found = {k: v for k, v in cortex_callers(tree, u["id"]).items()
                 if k != u["id"] and k not in tests}
        rows.append((u["id"], truth, found))
    return rows, shares(tree, units)


def sampled(src, tree, dirs, ignore):
    """Copies a package, indexes it, and draws the functions to check."""
    shutil.copytree(src, tree, ignore=shutil.ignore_patterns(*ignore))
    cortex(["init", "."], tree)
    units = units_of(tree, dirs)
    chosen = sample(units, lambda u: u["kind"] in ("function", "method") and "#" not in u["id"])
    return units, chosen


def declared(tree, u, text, offset):
    """Where a unit's name is declared: the first line of its span holding
    `text`, the name `offset` characters into it."""
    lines = open(os.path.join(tree, u["path"])).read().split("\n")
    for i in range(u["start_line"] - 1, min(u["end_line"], len(lines))):
        col = lines[i].find(text)
        if col >= 0:
            return {"id": u["id"], "file": u["path"], "line": i + 1, "col": col + offset}
    return None


def oracle_rows(tree, targets, everything, calls):
    """Per target: the oracle's callers (the units around its call sites)
    and cortex's."""
    rows = []
    for t in targets:
        truth = set()
        for site in calls.get(t["id"], []):
            caller = enclosing(everything, site["file"], site["line"])
            if caller and caller != t["id"]:
                truth.add(caller)
        found = {k: v for k, v in cortex_callers(tree, t["id"]).items() if k != t["id"]}
        rows.append((t["id"], truth, found))
    return rows


# --- JavaScript: find-references of the TypeScript language service ---------

def js_rows(work, src, dirs, _features):
    tree = os.path.join(work, os.path.basename(os.path.dirname(src)))
    # The package's modules, not its build output (`dist/` of a TypeScript
    # package, which a repository would not hold either).
    units, chosen = sampled(src, tree, dirs, ("dist", "*.d.ts"))
    targets = [t for t in (declared(tree, u, u["name"], 0) for u in chosen) if t]
    # Every module of the package, as cortex sees them all: a caller
    # outside the sampled directories (bin/) is a caller too.
    everything = units_of(tree, ["."])
    files = sorted({u["path"] for u in everything if u["path"].endswith((".js", ".ts", ".tsx"))})
    request = {"root": tree, "files": files, "targets": targets}
    out = subprocess.run(["node", os.path.join(HERE, "ts_callers.js")], input=json.dumps(request),
                         capture_output=True, text=True, env=dict(os.environ, NODE_PATH=os.path.join(TS_DIR, "node_modules")))
    if out.returncode != 0:
        raise SystemExit(f"ts_callers.js: {out.stderr}")
    return oracle_rows(tree, targets, everything, json.loads(out.stdout)), shares(tree, units)


# --- Python: find-references of jedi ------------------------------------------

def py_rows(work, src, dirs, _features):
    tree = os.path.join(work, os.path.basename(src))
    units, chosen = sampled(src, tree, dirs, ("docs", "*.pyi"))
    targets = []
    for u in chosen:
        target = declared(tree, u, "def " + u["name"], 4)
        if not target:
            continue
        cls = [c for c in units if c["id"] == u.get("parent") and c["kind"] == "class"]
        if u["name"] == "__init__" and cls:
            # `X(…)` calls X's __init__: the oracle looks up X too.
            at = declared(tree, cls[0], "class " + cls[0]["name"], 6)
            if at:
                target["class"] = [at["line"], at["col"]]
        targets.append(target)
    everything = units_of(tree, ["."])
    request = {"root": tree, "sys_path": ["src"], "targets": targets}
    out = subprocess.run([JEDI_PYTHON, os.path.join(HERE, "py_callers.py")], input=json.dumps(request),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"py_callers.py: {out.stderr}")
    return oracle_rows(tree, targets, everything, json.loads(out.stdout)), shares(tree, units)


def report(label, rows, source, counts):
    s = score([(t, f) for _, t, f in rows])
    with_callers = sum(1 for _, t, _ in rows if t)
    print(f"{label}: {len(rows)} functions of {source} ({with_callers} with callers)")
    for kind, (p, r, tp, fp, fn) in s.items():
        print(f"  {kind:>8} edges: precision {p:.2f}, recall {r:.2f}  (tp {tp}, fp {fp}, fn {fn})")
    total = sum(counts.values()) or 1
    print("  call edges of %d functions: " % SHARE_SAMPLE
          + ", ".join(f"{c} {n / total:.0%}" for c, n in counts.items()) + f" (of {total})")
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
        for language, package, dirs, features in PACKAGES:
            if ONLY and package not in ONLY:
                continue
            if language == "rust":
                src = glob.glob(os.path.join(REGISTRY, "*", package))[0]
                rows, counts = rust_rows(work, src, dirs, features)
            elif language == "python":
                src = os.path.join(PYPI, package)
                rows, counts = py_rows(work, src, dirs, features)
            else:
                src = os.path.join(NPM, package, "package")
                rows, counts = js_rows(work, src, dirs, features)
            report(language, rows, package, counts)
            sys.stdout.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
