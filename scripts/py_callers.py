"""The call sites of Python functions, found by jedi: its find-references,
and jedi's goto at every place in the project where the name is called
(find-references skips files it guesses cannot refer to the target, such
as tests whose receivers are pytest fixtures; goto at the site types them).
Used by scripts/accuracy.py as the oracle for Python call edges.

stdin: {"root", "sys_path": [dirs], "targets": [{"id", "file", "line", "col",
"class": [line, col] of the class, for an `__init__`}]}
stdout: {"<id>": [{"file", "line"}]}: references that are calls (the name
followed by `(`) or decorations (`@name`).
"""

import json
import os
import re
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


def project_files():
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(".") and x not in ("venv", "node_modules")]
        for f in files:
            if f.endswith(".py"):
                yield os.path.join(d, f)


FILES = sorted(project_files())


def goto_sites(name, declared):
    """Places calling `name` whose jedi goto is one of `declared`
    ({(path, line)})."""
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    found = []
    for path in FILES:
        lines = source_lines(path)
        for i, text in enumerate(lines):
            for m in pattern.finditer(text):
                if not is_call(path, i + 1, m.start(), name):
                    continue
                # A Script per question: jedi's limits on inference
                # (function executions) are per Script, and run out.
                try:
                    script = jedi.Script(path=path, project=project)
                    names = script.goto(i + 1, m.start(), follow_imports=True)
                except Exception:
                    continue
                if any(n.module_path and (str(n.module_path), n.line) in declared for n in names):
                    found.append((path, i + 1))
    return found


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
    name = t["id"].rsplit("::", 1)[-1].split("#")[0]
    declared = {(path, t["line"])}
    lookups = [name]
    if t.get("class"):
        declared.add((path, t["class"][0]))
        lookups.append(source_lines(path)[t["class"][0] - 1][t["class"][1]:].split("(")[0].split(":")[0].strip())
    seen = {(os.path.join(root, x["file"]), x["line"]) for x in sites}
    for lookup in lookups:
        for site in goto_sites(lookup, declared):
            if site not in seen:
                seen.add(site)
                sites.append({"file": os.path.relpath(site[0], root), "line": site[1]})
    out[t["id"]] = sites
json.dump(out, sys.stdout)
