"""The call sites of Python functions, found by jedi's find-references.
Used by scripts/accuracy.py as the oracle for Python call edges.

stdin: {"root", "sys_path": [dirs], "targets": [{"id", "file", "line", "col",
"class": [line, col] of the class, for an `__init__`}]}
stdout: {"<id>": [{"file", "line"}]}: references that are calls (the name
followed by `(`) or decorations (`@name`).
"""

import json
import os
import sys

import jedi

request = json.load(sys.stdin)
root = request["root"]
project = jedi.Project(root, added_sys_path=[os.path.join(root, p) for p in request["sys_path"]])
lines_of = {}


def source_lines(path):
    if path not in lines_of:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines_of[path] = f.read().split("\n")
    return lines_of[path]


def is_call(path, line, col, name):
    text = source_lines(path)[line - 1]
    after = text[col + len(name):].lstrip()
    before = text[:col].rstrip()
    return after.startswith("(") or before.endswith("@")


out = {}
for t in request["targets"]:
    path = os.path.join(root, t["file"])
    script = jedi.Script(path=path, project=project)
    sites = []
    refs = []
    # `X(…)` calls X's `__init__`: the class's references count too.
    positions = [(t["line"], t["col"])] + ([tuple(t["class"])] if t.get("class") else [])
    for line, col in positions:
        try:
            refs += script.get_references(line, col, scope="project")
        except Exception as e:  # jedi gives up on some code: no answer, said so
            print(f"py_callers: {t['id']}: {e}", file=sys.stderr)
    for r in refs:
        if r.module_path is None or r.is_definition():
            continue
        ref_path = str(r.module_path)
        if not ref_path.startswith(root) or not is_call(ref_path, r.line, r.column, r.name):
            continue
        sites.append({"file": os.path.relpath(ref_path, root), "line": r.line})
    out[t["id"]] = sites
json.dump(out, sys.stdout)
