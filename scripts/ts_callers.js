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

// A reference that binds the function under another name: exporting it
// (`module.exports = { f }`, `exports.g = f`, `export { f as g }`) or
// importing it (`const { f } = require(…)`). The language service does not
// always follow CommonJS aliases, so their own references are found too.
function isAlias(node) {
  const p = node.parent;
  if (!p) return false;
  return ts.isShorthandPropertyAssignment(p) || ts.isBindingElement(p)
    || ts.isExportSpecifier(p) || ts.isImportSpecifier(p) || ts.isExportAssignment(p)
    || (ts.isPropertyAssignment(p) && p.initializer === node)
    || (ts.isVariableDeclaration(p) && p.initializer === node)
    || (ts.isBinaryExpression(p) && p.right === node && p.operatorToken.kind === ts.SyntaxKind.EqualsToken);
}

const out = {};
for (const t of request.targets) {
  const file = path.join(request.root, t.file);
  const sf = program.getSourceFile(file);
  const sites = new Map();
  const seen = new Set();
  const queue = [[file, ts.getPositionOfLineAndCharacter(sf, t.line - 1, t.col)]];
  while (queue.length && seen.size < 200) {
    const [f, pos] = queue.shift();
    if (seen.has(f + ":" + pos)) continue;
    seen.add(f + ":" + pos);
    for (const symbol of service.findReferences(f, pos) || []) {
      for (const ref of symbol.references) {
        const rsf = program.getSourceFile(ref.fileName);
        if (!rsf) continue;
        const node = nodeAt(rsf, ref.textSpan.start);
        if (!node) continue;
        if (!ref.isDefinition && isCall(node)) {
          const { line } = ts.getLineAndCharacterOfPosition(rsf, ref.textSpan.start);
          const rel = path.relative(request.root, ref.fileName);
          sites.set(rel + ":" + line, { file: rel, line: line + 1 });
        } else if (isAlias(node)) {
          queue.push([ref.fileName, ref.textSpan.start]);
        }
      }
    }
  }
  // The other way round: every call of a name the function goes by whose
  // definition (go to definition, through aliases) is the function. The
  // service's find-references misses CommonJS importers that this finds.
  const decl = nodeAt(sf, ts.getPositionOfLineAndCharacter(sf, t.line - 1, t.col));
  const names = new Set([decl.getText(sf)]);
  const targetKeys = new Set([file + ":" + decl.getStart(sf)]);
  // A constructor's keyword is no node of its own: the declaration is.
  const ctor = ts.isConstructorDeclaration(decl) ? decl
    : decl.parent && ts.isConstructorDeclaration(decl.parent) ? decl.parent : null;
  if (ctor) {
    // `new X()` calls X's constructor.
    const cls = ctor.parent;
    if (cls && cls.name) {
      names.add(cls.name.getText(sf));
      targetKeys.add(file + ":" + cls.name.getStart(sf));
    }
  }
  for (const key of seen) {
    const [f, pos] = [key.slice(0, key.lastIndexOf(":")), +key.slice(key.lastIndexOf(":") + 1)];
    const n = nodeAt(program.getSourceFile(f), pos);
    if (n && ts.isIdentifier(n)) names.add(n.text);
  }
  for (const rsf of program.getSourceFiles()) {
    if (rsf.isDeclarationFile || !files.includes(rsf.fileName)) continue;
    (function visit(n) {
      if (ts.isIdentifier(n) && names.has(n.text) && isCall(n) && reaches(rsf.fileName, n.getStart(rsf), targetKeys)) {
        const { line } = ts.getLineAndCharacterOfPosition(rsf, n.getStart(rsf));
        const rel = path.relative(request.root, rsf.fileName);
        sites.set(rel + ":" + line, { file: rel, line: line + 1 });
      }
      ts.forEachChild(n, visit);
    })(rsf);
  }
  out[t.id] = [...sites.values()];
}

// True when going to definition from (file, pos), through up to four
// aliases (an import binding, a destructured require), lands on a target.
function reaches(file, pos, targetKeys) {
  let frontier = [[file, pos]];
  for (let hop = 0; hop < 4 && frontier.length; hop++) {
    const next = [];
    for (const [f, p] of frontier) {
      for (const d of service.getDefinitionAtPosition(f, p) || []) {
        const key = d.fileName + ":" + d.textSpan.start;
        if (targetKeys.has(key)) return true;
        if (!(d.fileName === f && d.textSpan.start === p)) next.push([d.fileName, d.textSpan.start]);
      }
    }
    frontier = next;
  }
  return false;
}
process.stdout.write(JSON.stringify(out));
