// The call sites of functions, found by the TypeScript language service's
// find-references (typescript from npm). Used by scripts/accuracy.py as the
// oracle for JavaScript call edges.
// stdin: {"root", "files": [relative paths], "targets": [{"id", "file", "line", "col"}]}
// stdout: {"<id>": [{"file", "line"}]} — references that are calls or `new`.
const fs = require("fs");
const path = require("path");
const ts = require("typescript");

const request = JSON.parse(fs.readFileSync(0, "utf8"));
const files = request.files.map((f) => path.join(request.root, f));
const options = { allowJs: true, checkJs: false, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS };
const host = {
  getScriptFileNames: () => files,
  getScriptVersion: () => "1",
  getScriptSnapshot: (f) => (fs.existsSync(f) ? ts.ScriptSnapshot.fromString(fs.readFileSync(f, "utf8")) : undefined),
  getCurrentDirectory: () => request.root,
  getCompilationSettings: () => options,
  getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
  fileExists: ts.sys.fileExists,
  readFile: ts.sys.readFile,
  readDirectory: ts.sys.readDirectory,
};
const service = ts.createLanguageService(host, ts.createDocumentRegistry());
const program = service.getProgram();

function nodeAt(sf, pos) {
  let found;
  (function visit(n) {
    if (pos >= n.getStart(sf) && pos < n.getEnd()) {
      found = n;
      ts.forEachChild(n, visit);
    }
  })(sf);
  return found;
}

function isCall(node) {
  const p = node.parent;
  if (!p) return false;
  if ((ts.isCallExpression(p) || ts.isNewExpression(p)) && p.expression === node) return true;
  if (ts.isPropertyAccessExpression(p) && p.name === node) {
    const g = p.parent;
    return !!g && (ts.isCallExpression(g) || ts.isNewExpression(g)) && g.expression === p;
  }
  return false;
}

const out = {};
for (const t of request.targets) {
  const file = path.join(request.root, t.file);
  const sf = program.getSourceFile(file);
  const pos = ts.getPositionOfLineAndCharacter(sf, t.line - 1, t.col);
  const sites = [];
  for (const symbol of service.findReferences(file, pos) || []) {
    for (const ref of symbol.references) {
      if (ref.isDefinition) continue;
      const rsf = program.getSourceFile(ref.fileName);
      if (!rsf) continue;
      const node = nodeAt(rsf, ref.textSpan.start);
      if (!node || !isCall(node)) continue;
      const { line } = ts.getLineAndCharacterOfPosition(rsf, ref.textSpan.start);
      sites.push({ file: path.relative(request.root, ref.fileName), line: line + 1 });
    }
  }
  out[t.id] = sites;
}
process.stdout.write(JSON.stringify(out));
