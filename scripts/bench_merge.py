"""Helpers of scripts/bench-merge.sh.

table SUMMARY.jsonl
    The per-project lines of bench_merge as a Markdown table.
mounts CORTEX CASES.jsonl RESULTS.jsonl SAMPLE WORK
    A seeded sample of the cases with both sides present replayed through a
    real store, session and mount: main imported at the merge base, a
    session forked, main's side imported, the session's side written
    through the session's mount, `cortex merge`. Each file's outcome must
    be the core's (bench_merge's RESULTS): a conflict where the core
    conflicts, the core's bytes where it is clean. Exits 1 on a
    disagreement.
"""

import json
import os
import random
import subprocess
import sys


def table(summary_path):
    rows = [json.loads(l) for l in open(summary_path) if l.strip()]
    print("| project | files | git: equal / different / conflict "
          "| cortex: equal / different / conflict | wins | regressions "
          "| cortex different: as git / not git |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        g, c = r["git"], r["cortex"]
        trio = lambda d: " / ".join(str(d.get(k, 0)) for k in ("equal", "different", "conflict"))
        name = r["project"] if r["project"] != "total" else "**total**"
        print(f"| {name} | {r['files']} | {trio(g)} | {trio(c)} | {r['wins']} "
              f"| {r['regressions']} | {r['different_as_git']} / {r['different_not_git']} |")
    total = rows[-1]
    if total.get("rules"):
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(total["rules"].items()))
        print(f"\nClean merges that took a rule beyond lines (rule, verdict): {shown}")


def run(cortex, *args, cwd=None, check=True):
    out = subprocess.run([cortex, *args], cwd=cwd, capture_output=True, text=True)
    if check and out.returncode != 0:
        sys.exit(f"cortex {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
    return out


def write_tree(root, files):
    for rel, text in files.items():
        p = os.path.join(root, rel)
        if text is None:
            if os.path.exists(p):
                os.remove(p)
            continue
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8", newline="") as f:
            f.write(text)


def mounts(cortex, cases_path, results_path, sample, work):
    cases = [json.loads(l) for l in open(cases_path) if l.strip()]
    results = [json.loads(l) for l in open(results_path) if l.strip()]
    both = [i for i, c in enumerate(cases) if c["ours"] is not None and c["theirs"] is not None]
    picked = sorted(random.Random(19).sample(both, min(sample, len(both))))
    # Each case in its own directory of one tree: one store, one session,
    # one mount, one merge.
    rel = {i: f"c{i:04}/{cases[i]['path']}" for i in picked}
    tree, mnt, out = (os.path.join(work, d) for d in ("tree", "mnt", "out"))
    for d in (tree, mnt):
        os.makedirs(d, exist_ok=True)
    write_tree(tree, {rel[i]: cases[i]["base"] for i in picked})
    # A directory per case even where the base has no such file.
    for i in picked:
        os.makedirs(os.path.join(tree, f"c{i:04}"), exist_ok=True)
        open(os.path.join(tree, f"c{i:04}", ".keep"), "w").close()
    store = os.path.join(tree, ".cortex")
    run(cortex, "init", "--no-ignore", tree)
    run(cortex, "session", "new", "s", "--store", store)
    write_tree(tree, {rel[i]: cases[i]["ours"] for i in picked})
    run(cortex, "import", "--no-ignore", "--store", store, tree)
    run(cortex, "mount", "--session", "s", "--store", store, mnt)
    try:
        write_tree(mnt, {rel[i]: cases[i]["theirs"] for i in picked})
    finally:
        run(cortex, "umount", mnt, "--store", store)
    dry = json.loads(run(cortex, "merge", "s", "--dry-run", "--json", "--store", store, check=False).stdout)
    conflicted = {c["path"] for c in dry["conflicts"]}
    run(cortex, "merge", "s", "--strategy", "ours", "--json", "--store", store, check=False)
    run(cortex, "export", "--store", store, out)
    agree = 0
    for i in picked:
        core = results[i]
        if core["cortex"] == "conflict":
            ok = rel[i] in conflicted
        else:
            with open(os.path.join(out, rel[i]), encoding="utf-8", newline="") as f:
                ok = rel[i] not in conflicted and f.read() == core["text"]
        agree += ok
        if not ok:
            print(f"disagreement: {cases[i]['repo']} {cases[i]['merge'][:10]} {cases[i]['path']} "
                  f"(core: {core['cortex']})")
    print(f"\nThrough a session and its mount: {len(picked)} cases sampled (seed 19), "
          f"{agree} agree with the core's merge.")
    if agree != len(picked):
        sys.exit(1)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "table":
        table(sys.argv[2])
    elif cmd == "mounts":
        mounts(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    else:
        sys.exit(__doc__)
