//! Python: what of a file's syntax tree only Python has. `import` and
//! `from … import` bindings, docstrings, decorators, type annotations, what
//! a module exports (`_private` names are not), test files. `parse` calls
//! these where a language differs; `resolve` has Python's module paths.

use std::collections::HashMap;

use tree_sitter::Node;

use super::parse::FileParser;
use super::resolve::{self, FileContext, Symbol};
use super::{Import, ImportKind, Language, Ref, Unit, UnitKind};

impl<'a> FileParser<'a> {
    /// `import a.b as c`, `from .m import x as y`, anywhere in the file.
    /// Path: the module as written (`a.b`, `.m`, `..`), then the name
    /// imported from it (`*` for the module itself).
    pub(super) fn py_imports(&self, root: Node, out: &mut Vec<Import>) {
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            let line = Self::line(node);
            let at_top = node.parent().is_some_and(|p| p.kind() == "module");
            let mut push = |local: &str, module: &str, name: &str| {
                out.push(Import {
                    kind: ImportKind::Import,
                    local: local.to_owned(),
                    path: vec![module.to_owned(), name.to_owned()],
                    line,
                    // An `__init__.py` re-exports what it imports at its top.
                    public: at_top && self.path.ends_with("__init__.py"),
                })
            };
            match node.kind() {
                "import_statement" => {
                    let mut cursor = node.walk();
                    for name in node.children_by_field_name("name", &mut cursor) {
                        let (module, alias) = self.aliased(name);
                        // `import a.b` binds `a`; `import a.b as c` binds c to a.b.
                        match alias {
                            Some(alias) => push(alias, module, "*"),
                            None => {
                                let top = module.split('.').next().unwrap_or(module);
                                push(top, top, "*");
                            }
                        }
                    }
                }
                "import_from_statement" => {
                    let Some(module) = node.child_by_field_name("module_name") else { continue };
                    let module = self.text_of(module);
                    let mut cursor = node.walk();
                    let mut names = 0;
                    for name in node.children_by_field_name("name", &mut cursor) {
                        let (imported, alias) = self.aliased(name);
                        push(alias.unwrap_or(imported), module, imported);
                        names += 1;
                    }
                    if names == 0 {
                        push("*", module, "*"); // `from m import *`
                    }
                }
                _ => {
                    let mut cursor = node.walk();
                    stack.extend(node.named_children(&mut cursor));
                }
            }
        }
        out.sort_by(|a, b| (a.line, &a.local).cmp(&(b.line, &b.local)));
    }

    /// `a.b as c` → (a.b, Some(c)); `a.b` → (a.b, None).
    fn aliased(&self, node: Node) -> (&'a str, Option<&'a str>) {
        match node.kind() {
            "aliased_import" => (
                node.child_by_field_name("name").map_or("", |n| self.text_of(n)),
                node.child_by_field_name("alias").map(|a| self.text_of(a)),
            ),
            _ => (self.text_of(node), None),
        }
    }

    /// A function's or class's docstring: the string its body opens with.
    pub(super) fn docstring(&self, node: Node) -> String {
        let definition = match node.kind() {
            "decorated_definition" => node.child_by_field_name("definition").unwrap_or(node),
            _ => node,
        };
        let first = definition.child_by_field_name("body").and_then(|b| b.named_child(0));
        let string = first
            .filter(|s| s.kind() == "expression_statement")
            .and_then(|s| s.named_child(0))
            .filter(|s| s.kind() == "string");
        let Some(string) = string else { return String::new() };
        let text = self.text_of(string);
        let body = text.trim_start_matches(|c: char| c.is_ascii_alphabetic());
        let body = ["\"\"\"", "'''", "\"", "'"]
            .iter()
            .find_map(|q| body.strip_prefix(q).and_then(|b| b.strip_suffix(q)))
            .unwrap_or(body);
        let lines: Vec<&str> = body.lines().map(str::trim).collect();
        lines.join("\n").trim().to_owned()
    }

    /// Exported: a module-level name that does not start with `_`.
    pub(super) fn py_exported(&self, node: Node) -> bool {
        let definition = match node.kind() {
            "decorated_definition" => node.child_by_field_name("definition").unwrap_or(node),
            _ => node,
        };
        let top = node.parent().is_some_and(|p| p.kind() == "module");
        let name = definition.child_by_field_name("name").map_or("", |n| self.text_of(n));
        top && !name.starts_with('_')
    }

    /// `x: T` (and `x: T = …`) in a class's body: a dataclass's fields.
    pub(super) fn py_declared_fields(&self, class: Node, out: &mut Vec<(String, String)>) {
        let Some(body) = class.child_by_field_name("body") else { return };
        let mut cursor = body.walk();
        for statement in body.named_children(&mut cursor) {
            let Some(a) = statement.named_child(0).filter(|a| a.kind() == "assignment") else {
                continue;
            };
            let name = a.child_by_field_name("left").filter(|l| l.kind() == "identifier");
            let ty = a.child_by_field_name("type").and_then(|t| self.py_class_name(t));
            if let (Some(name), Some(ty)) = (name, ty) {
                out.push((self.text_of(name).to_owned(), ty));
            }
        }
    }

    /// A module's typed names: `g: _AppCtxGlobals = LocalProxy(…)`, `app =
    /// Flask(…)` at its top level, each with its class; the file unit's
    /// `fields`, so that code here and modules importing the name know what
    /// its methods are.
    pub(super) fn py_module_fields(&self, root: Node) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut cursor = root.walk();
        for statement in root.named_children(&mut cursor) {
            let Some(a) = statement.named_child(0).filter(|a| a.kind() == "assignment") else {
                continue;
            };
            let Some(name) = a.child_by_field_name("left").filter(|l| l.kind() == "identifier")
            else {
                continue;
            };
            let ty =
                a.child_by_field_name("type").and_then(|t| self.py_class_name(t)).or_else(|| {
                    let right = a.child_by_field_name("right").filter(|r| r.kind() == "call")?;
                    self.py_class_name(right.child_by_field_name("function")?)
                });
            let name = self.text_of(name);
            // Bound twice, differently: not known.
            match (ty, out.iter().position(|(n, _)| n == name)) {
                (Some(ty), None) => out.push((name.to_owned(), ty)),
                (Some(ty), Some(i)) if out[i].1 == ty => {}
                (_, Some(i)) => {
                    out.remove(i);
                }
                (None, None) => {}
            }
        }
        out
    }

    /// True when `function` binds `name` itself (a parameter, an
    /// assignment, a loop's or a `with`'s target), which then hides the
    /// module's name of that spelling.
    pub(super) fn py_binds(&self, function: Node, name: &str) -> bool {
        let mut cursor = function.walk();
        'walk: loop {
            let node = cursor.node();
            let bound = match node.kind() {
                "parameters" | "lambda_parameters" => {
                    let mut c = node.walk();
                    let params: Vec<Node> = node.named_children(&mut c).collect();
                    params.into_iter().any(|p| {
                        let id = match p.kind() {
                            "identifier" => Some(p),
                            "default_parameter" | "typed_default_parameter" => {
                                p.child_by_field_name("name")
                            }
                            "typed_parameter" => p.named_child(0),
                            _ => None,
                        };
                        id.is_some_and(|id| self.text_of(id) == name)
                    })
                }
                "assignment" | "augmented_assignment" | "for_statement" => node
                    .child_by_field_name("left")
                    .is_some_and(|l| self.text_of(l).split(',').any(|t| t.trim() == name)),
                "as_pattern_target" => self.text_of(node) == name,
                _ => false,
            };
            if bound {
                return true;
            }
            if cursor.goto_first_child() {
                continue;
            }
            while !cursor.goto_next_sibling() {
                if !cursor.goto_parent() || cursor.node() == function {
                    break 'walk;
                }
            }
        }
        false
    }

    /// The class of parameter `name` of the function `node` is in, when
    /// its annotation names one.
    pub(super) fn py_parameter_type(&self, node: Node, name: &str) -> Option<String> {
        let mut function = node.parent()?;
        while function.kind() != "function_definition" {
            function = function.parent()?;
        }
        let parameters = function.child_by_field_name("parameters")?;
        let mut cursor = parameters.walk();
        let found = parameters.named_children(&mut cursor).find(|p| {
            let named = match p.kind() {
                "typed_parameter" => p.named_child(0),
                "typed_default_parameter" => p.child_by_field_name("name"),
                _ => None,
            };
            named.is_some_and(|n| self.text_of(n) == name)
        })?;
        self.py_class_name(found.child_by_field_name("type")?)
    }

    /// The class a type annotation or a called name gives, when it names
    /// one (capitalised): `T`, `"T"`, `m.T`.
    fn py_class_name(&self, t: Node) -> Option<String> {
        let text = match t.kind() {
            "type" => self.text_of(t.named_child(0)?),
            "identifier" => self.text_of(t),
            "attribute" => self.text_of(t.child_by_field_name("attribute")?),
            _ => return None,
        };
        let text = optional_of(text.trim_matches(['"', '\'']));
        is_class_name(text).then(|| text.to_owned())
    }

    /// A Python function's return type where the code says: its `-> T`,
    /// else the one class all its `return`s give (`return T(…)`, or a name
    /// typed so: `app = Flask(…)` … `return app`); empty when unknown.
    pub(super) fn py_returns(&self, node: Node) -> String {
        let def = match node.kind() {
            "decorated_definition" => node.child_by_field_name("definition"),
            _ => Some(node),
        };
        let Some(def) = def.filter(|d| d.kind() == "function_definition") else {
            return String::new();
        };
        if let Some(t) = def.child_by_field_name("return_type") {
            return self.py_class_name(t).unwrap_or_default();
        }
        let Some(body) = def.child_by_field_name("body") else { return String::new() };
        let (mut names, mut returned) = (HashMap::new(), Vec::new());
        let mut stack = vec![body];
        while let Some(n) = stack.pop() {
            match n.kind() {
                // Their returns are not this function's.
                "function_definition" | "class_definition" | "lambda" => continue,
                "return_statement" => returned.extend(n.named_child(0)),
                _ => self.py_typed_name(n, &mut names),
            }
            let mut cursor = n.walk();
            stack.extend(n.named_children(&mut cursor));
        }
        let signature =
            def.child_by_field_name("parameters").map(|p| format!("def f{}", self.text_of(p)));
        let parameters = signature.as_deref().map(py_parameters).unwrap_or_default();
        // A class, or a chain from a parameter (a fixture's, `$app.test_client()`).
        let type_of = |e: Node| match e.kind() {
            "call" => self.py_class_name(e.child_by_field_name("function")?).or_else(|| {
                self.py_call_chain(e, &HashMap::new(), Some(&parameters))
                    .filter(|c| c.starts_with('$'))
            }),
            "identifier" => names.get(self.text_of(e)).filter(|t| is_class_name(t)).cloned(),
            _ => None,
        };
        let types: Option<Vec<String>> = returned.into_iter().map(type_of).collect();
        match types.as_deref() {
            Some([first, rest @ ..]) if rest.iter().all(|t| t == first) => first.clone(),
            _ => String::new(),
        }
    }

    /// A call a method is called on, as the receiver resolution reads:
    /// `f()` of `f(…).m()`, `a.g()` of `a.g(…).m()` (a a plain name).
    pub(super) fn py_call_receiver(&self, call: Node) -> Option<String> {
        let function = call.child_by_field_name("function")?;
        let plain = match function.kind() {
            "identifier" => true,
            "attribute" => {
                function.child_by_field_name("object").is_some_and(|o| o.kind() == "identifier")
            }
            _ => false,
        };
        plain.then(|| format!("{}()", self.text_of(function)))
    }

    /// The chain a call's value is typed by where resolution can follow
    /// it (see `FileContext::py_chain_class`): `f()`, `x.m()` with x a
    /// typed name (its type's chain, then `.m()`), `self.m()`, `mod.f()`,
    /// and `$p.m()` with p one of `parameters` (a pytest fixture's).
    fn py_call_chain(
        &self,
        call: Node,
        names: &HashMap<String, String>,
        parameters: Option<&[&str]>,
    ) -> Option<String> {
        let function = call.child_by_field_name("function")?;
        match function.kind() {
            "identifier" => Some(format!("{}()", self.text_of(function))),
            "attribute" => {
                let object = function.child_by_field_name("object")?;
                let method = self.text_of(function.child_by_field_name("attribute")?);
                let object = match object.kind() {
                    "identifier" => self.text_of(object),
                    _ => return None,
                };
                let base = match names.get(object) {
                    Some(ty) => ty.clone(),
                    None if parameters.is_some_and(|p| p.contains(&object)) => format!("${object}"),
                    None if parameters.is_some() => return None,
                    None => object.to_owned(),
                };
                Some(format!("{base}.{method}()"))
            }
            _ => None,
        }
    }

    /// One node's part of `typed_names`: `x: T` parameters, `x: T = …`,
    /// `x = T(…)` where T names a class (capitalised), and `x = f()` /
    /// `x = y.m()` by the chain resolution follows (`py_call_chain`).
    pub(super) fn py_typed_name(&self, node: Node, out: &mut HashMap<String, String>) {
        let class_name = |t: Node| self.py_class_name(t);
        let named = match node.kind() {
            "typed_parameter" => node.named_child(0).filter(|n| n.kind() == "identifier"),
            "typed_default_parameter" => node.child_by_field_name("name"),
            "assignment" => node.child_by_field_name("left").filter(|n| n.kind() == "identifier"),
            _ => return,
        };
        let ty = match node.kind() {
            "assignment" => node.child_by_field_name("type").and_then(class_name).or_else(|| {
                let right = node.child_by_field_name("right").filter(|r| r.kind() == "call")?;
                class_name(right.child_by_field_name("function")?)
                    .or_else(|| self.py_call_chain(right, out, None))
            }),
            _ => node.child_by_field_name("type").and_then(class_name),
        };
        if let (Some(name), Some(ty)) = (named, ty) {
            out.entry(self.text_of(name).to_owned()).or_insert(ty);
        }
    }
}

/// The module an import binds as a name: `import a.b as m`, or `from a
/// import b as m` where b may be a module.
fn py_module_spec(import: &Import) -> Option<String> {
    let (module, imported) = (import.path.first()?, import.path.get(1)?);
    Some(if imported == "*" {
        module.clone()
    } else if module.ends_with('.') {
        format!("{module}{imported}")
    } else {
        format!("{module}.{imported}")
    })
}

/// `T` of `t.Optional["T"]`, `Optional[T]`, `T | None`, `"T"`.
fn optional_of(text: &str) -> &str {
    let inner = ["t.Optional[", "typing.Optional[", "Optional["]
        .iter()
        .find_map(|p| text.strip_prefix(p)?.strip_suffix(']'));
    let text = inner.unwrap_or(text).trim();
    let text = text.strip_suffix("| None").or_else(|| text.strip_prefix("None |")).unwrap_or(text);
    text.trim().trim_matches(['"', '\''])
}

/// A capitalised identifier, private ones too (`_AppCtxGlobals`): what
/// Python code names a class by.
fn is_class_name(text: &str) -> bool {
    text.trim_start_matches('_').chars().next().is_some_and(char::is_uppercase)
        && text.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Files whose every unit counts as a test: `test_*.py`, `*_test.py`,
/// `conftest.py`, and those under `tests/` or `test/`.
pub(super) fn is_test_path(path: &str) -> bool {
    let in_dir =
        |dir: &str| path.starts_with(&format!("{dir}/")) || path.contains(&format!("/{dir}/"));
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("test_")
        || name.ends_with("_test.py")
        || name == "conftest.py"
        || in_dir("tests")
        || in_dir("test")
}

// --- Resolution: module paths --------------------------------------------

impl FileContext<'_> {
    /// The file a module path names from this file: `.m` and `..m`
    /// relative to its package, `a.b` from any directory above this file,
    /// the tree's root, `src/` or `lib/`, as `a/b.py` or `a/b/__init__.py`.
    pub(super) fn py_module_file(&self, module: &str) -> Option<String> {
        self.py_module_file_from(self.path, module)
    }

    pub(super) fn py_module_file_from(&self, from: &str, module: &str) -> Option<String> {
        let dots = module.len() - module.trim_start_matches('.').len();
        let rest = module[dots..].replace('.', "/");
        let mut bases: Vec<String> = Vec::new();
        if dots > 0 {
            let mut dir: Vec<&str> = from.split('/').collect();
            dir.pop(); // the file
            for _ in 1..dots {
                dir.pop()?;
            }
            bases.push(dir.join("/"));
        } else {
            let mut dir: Vec<&str> = from.split('/').collect();
            dir.pop();
            loop {
                bases.push(dir.join("/"));
                if dir.pop().is_none() {
                    break;
                }
            }
            // Tests beside a `src/` or `lib/` layout import the package.
            bases.extend(["src".to_owned(), "lib".to_owned()]);
        }
        for base in bases {
            let joined = match (base.is_empty(), rest.is_empty()) {
                (_, true) => base.clone(),
                (true, false) => rest.clone(),
                (false, false) => format!("{base}/{rest}"),
            };
            let init = if joined.is_empty() {
                "__init__.py".to_owned()
            } else {
                format!("{joined}/__init__.py")
            };
            for candidate in [format!("{joined}.py"), init] {
                if self.table.has_file(&candidate) {
                    return Some(candidate);
                }
            }
        }
        None
    }

    /// What `from module import name` brings from `file`: its top-level
    /// unit, or what its own imports bring (an `__init__.py` re-exporting).
    pub(super) fn py_export(
        &self,
        file: &str,
        name: &str,
        wanted: fn(UnitKind) -> bool,
        depth: u32,
    ) -> resolve::Found {
        let own = self.in_file(file, name, |s| s.top_level() && wanted(s.kind));
        if !own.is_empty() || depth > MAX_REEXPORT_DEPTH {
            return own;
        }
        for s in self.table.reexports_in(file, name) {
            let (Some(module), Some(imported)) = (s.reexport.first(), s.reexport.get(1)) else {
                continue;
            };
            // `from .m import *` passes every name of m on.
            let imported = if imported == "*" { name } else { imported.as_str() };
            if let Some(target) = self.py_module_file_from(file, module) {
                let found = self.py_export(&target, imported, wanted, depth + 1);
                if !found.is_empty() {
                    return found;
                }
            }
        }
        Vec::new()
    }

    /// The unit an import binds: `from m import f` → m's f.
    pub(super) fn py_import_target(
        &self,
        import: &Import,
        wanted: fn(UnitKind) -> bool,
    ) -> Option<resolve::Found> {
        let (module, name) = (import.path.first()?, import.path.get(1)?);
        if name == "*" {
            return None; // a module
        }
        let file = self.py_module_file(module)?;
        let found = self.py_export(&file, name, wanted, 0);
        (!found.is_empty()).then_some(found)
    }

    /// The class of a module's typed name an import binds (`from flask
    /// import g`, where `flask/globals.py` has `g: _AppCtxGlobals = …`),
    /// followed through `__init__.py` re-exports: the class's id.
    pub(super) fn py_imported_instance(&self, import: &Import) -> Option<String> {
        let (module, name) = (import.path.first()?, import.path.get(1)?);
        self.py_instance_class(&self.py_module_file(module)?, name)
    }

    /// `m.g` where m is a module an import binds (`import flask`, then
    /// `flask.g`): the class of m's typed name g (see `py_imported_instance`).
    pub(super) fn py_module_instance(&self, import: &Import, name: &str) -> Option<String> {
        let file = self.py_module_file(&py_module_spec(import)?)?;
        self.py_instance_class(&file, name)
    }

    /// The id of the class of `file`'s typed name `name`.
    fn py_instance_class(&self, file: &str, name: &str) -> Option<String> {
        let (file, ty) = self.py_module_field(file, name, 0)?;
        let classes: Vec<&Symbol> =
            self.named(&ty).iter().filter(|s| s.kind == UnitKind::Class && s.top_level()).collect();
        let here: Vec<&Symbol> = classes.iter().filter(|s| s.path == file).copied().collect();
        match (here.as_slice(), classes.as_slice()) {
            ([c], _) | (_, [c]) => Some(c.id.clone()),
            _ => None,
        }
    }

    /// A module's typed name `name` (see `py_module_fields`), in `file` or
    /// re-exported by it: the file that binds it and its class's name.
    fn py_module_field(&self, file: &str, name: &str, depth: u32) -> Option<(String, String)> {
        if let Some(s) = self.instance_in(file, name) {
            return Some((file.to_owned(), s.returns.clone()));
        }
        if depth > MAX_REEXPORT_DEPTH {
            return None;
        }
        self.table.reexports_in(file, name).into_iter().find_map(|s| {
            let (module, imported) = (s.reexport.first()?, s.reexport.get(1)?);
            let imported = if imported == "*" { name } else { imported.as_str() };
            let target = self.py_module_file_from(file, module)?;
            self.py_module_field(&target, imported, depth + 1)
        })
    }

    /// `m.f()` where m is a module bound by an import: m's f.
    pub(super) fn py_module_member(&self, import: &Import, name: &str) -> resolve::Found {
        let Some(spec) = py_module_spec(import) else { return Vec::new() };
        match self.py_module_file(&spec) {
            Some(file) => self.py_export(&file, name, |_| true, 0),
            None => Vec::new(),
        }
    }

    /// `x.name()` in a pytest test where x is a parameter of the test that
    /// a fixture fills (or of the test a function is nested in: `@app.route`
    /// over a view defined in the test): the method of the class the
    /// fixture returns (see `py_fixture`). None when the fixture or its
    /// class is not known.
    pub(super) fn py_fixture_call(&self, from: &Unit, r: &Ref) -> Option<resolve::Found> {
        let receiver = r.receiver.as_deref()?;
        if self.language != Language::Python || r.receiver_type.is_some() || !from.is_test {
            return None;
        }
        // The nearest function, from `from` out, whose parameter it is.
        let mut owner = from;
        while !py_parameters(&owner.signature).contains(&receiver) {
            let parent = owner.parent.as_deref()?;
            owner = self.units.iter().find(|u| {
                u.id == parent && matches!(u.kind, UnitKind::Function | UnitKind::Method)
            })?;
        }
        if !owner.is_test {
            return None;
        }
        let class = self.py_chain_class(owner, &format!("${receiver}"), 0)?;
        self.class_method(&class, &r.name, 0)
    }

    /// `x.name()` where x's type is a chain (`py_chain_class`): the method
    /// of the class it leads to; None when it leads nowhere known.
    pub(super) fn py_chain_call(&self, from: &Unit, r: &Ref) -> Option<resolve::Found> {
        let class = self.py_chain_class(from, r.receiver_type.as_deref()?, 0)?;
        self.class_method(&class, &r.name, 0)
    }

    /// The fixture named `name` a test of this file gets: the function of
    /// that name in this file, else in the nearest `conftest.py` above it.
    /// What it returns (`Unit::returns`): a class, or a chain from its own
    /// parameters (`$app.test_client()`).
    fn py_fixture(&self, name: &str) -> Option<String> {
        let dir = self.path.rsplit_once('/').map_or("", |(d, _)| d);
        // How close each candidate is: this file, then the deepest conftest.
        let closeness = |s: &resolve::Symbol| -> Option<usize> {
            if s.path == self.path {
                return Some(usize::MAX);
            }
            let at = s.path.strip_suffix("conftest.py")?.trim_end_matches('/');
            let above = at.is_empty() || dir == at || dir.starts_with(&format!("{at}/"));
            above.then_some(at.len())
        };
        let fixtures: Vec<(usize, &resolve::Symbol)> = self
            .named(name)
            .iter()
            .filter(|s| s.kind == UnitKind::Function && s.top_level())
            .filter_map(|s| Some((closeness(s)?, s)))
            .collect();
        let nearest = fixtures.iter().map(|(c, _)| *c).max()?;
        let mut types = fixtures.iter().filter(|(c, _)| *c == nearest).map(|(_, s)| &s.returns);
        let ty = types.next().filter(|t| !t.is_empty())?;
        if types.any(|t| t != ty) {
            return None;
        }
        Some(ty.clone())
    }

    /// The class (its id) a Python value's chain leads to (see
    /// `FileParser::py_call_chain`), from `from`: its first step a class
    /// (`Flask`), `self`, a call (`f()`), a pytest fixture (`$client`) or
    /// a module bound by an import; each next step a method's return
    /// (`m()`) or a field. None where a step is not known.
    pub(super) fn py_chain_class(&self, from: &Unit, chain: &str, depth: u32) -> Option<String> {
        if depth > MAX_CHAIN_DEPTH {
            return None;
        }
        let mut steps = chain.split('.');
        let base = steps.next()?;
        let mut module = None;
        let class = if base == "self" {
            let parent = from.parent.as_deref()?;
            let owner = self.units.iter().find(|u| u.id == parent && u.kind == UnitKind::Class)?;
            Some(owner.id.clone())
        } else if let Some(fixture) = base.strip_prefix('$') {
            Some(self.py_fixture_class(from, fixture, depth)?)
        } else if let Some(f) = base.strip_suffix("()") {
            let found = self.plain_name(f, |k| matches!(k, UnitKind::Function | UnitKind::Class));
            Some(self.py_returned_class(&found)?)
        } else if is_class_name(base) {
            Some(self.class_named(base)?)
        } else if let Some(import) = self.import_named(base) {
            module = Some(import);
            None
        } else if from.is_test && py_parameters(&from.signature).contains(&base) {
            Some(self.py_fixture_class(from, base, depth)?)
        } else {
            return None;
        };
        self.py_chain_steps(class, module, steps, depth)
    }

    /// The rest of `py_chain_class`: from a class (or a module), each step
    /// a method's return (`m()`) or a field. A field set from a method of
    /// its own class (`self.config = self.make_config()`) is followed
    /// from the class the chain is at.
    fn py_chain_steps<'s>(
        &self,
        mut class: Option<String>,
        mut module: Option<&Import>,
        steps: impl Iterator<Item = &'s str>,
        depth: u32,
    ) -> Option<String> {
        for step in steps {
            class = Some(match (step.strip_suffix("()"), &class) {
                (Some(method), Some(c)) => {
                    let found = self.class_method(c, method, 0)?;
                    self.py_returned_class(&found)?
                }
                (Some(f), None) => {
                    let found = self.py_module_member(module.take()?, f);
                    self.py_returned_class(&found)?
                }
                (None, Some(c)) => {
                    let ty = self.class_field(c, step, 0)?;
                    match ty.strip_prefix("self.") {
                        Some(rest) if depth < MAX_CHAIN_DEPTH => {
                            self.py_chain_steps(Some(c.clone()), None, rest.split('.'), depth + 1)?
                        }
                        Some(_) => return None,
                        None => self.class_named(&ty)?,
                    }
                }
                (None, None) => return None,
            });
        }
        class
    }

    /// The class of what the fixture `name` returns.
    fn py_fixture_class(&self, from: &Unit, name: &str, depth: u32) -> Option<String> {
        let ty = self.py_fixture(name)?;
        match ty.starts_with('$') {
            true => self.py_chain_class(from, &ty, depth + 1),
            false => self.class_named(&ty),
        }
    }

    /// The class the units found give when called: a class itself (its
    /// constructor runs), else the one class their declared returns name.
    fn py_returned_class(&self, found: &resolve::Found) -> Option<String> {
        let mut agreed: Option<String> = None;
        for (id, _) in found {
            let name = id.rsplit("::").next()?.split('#').next()?;
            let symbol = self.named(name).iter().find(|s| &s.id == id)?;
            let class = match symbol.kind {
                UnitKind::Class => symbol.id.clone(),
                _ if is_class_name(&symbol.returns) => self.class_named(&symbol.returns)?,
                _ => return None,
            };
            match &agreed {
                Some(a) if *a != class => return None,
                _ => agreed = Some(class),
            }
        }
        agreed
    }

    /// Where an import leads: the unit it names, or the module's file.
    pub(super) fn py_import(&self, import: &Import) -> Option<(String, resolve::Confidence)> {
        if let Some(found) = self.py_import_target(import, |_| true)
            && let [(id, c)] = found.as_slice()
        {
            return Some((id.clone(), *c));
        }
        let (module, name) = (import.path.first()?, import.path.get(1)?);
        let submodule = match (name.as_str(), module.ends_with('.')) {
            ("*", _) => None,
            (_, true) => Some(format!("{module}{name}")),
            (_, false) => Some(format!("{module}.{name}")),
        };
        let file = submodule
            .and_then(|m| self.py_module_file(&m))
            .or_else(|| self.py_module_file(module))?;
        Some((file, resolve::Confidence::Resolved))
    }
}

/// Re-exports through `__init__.py` files followed at most this deep.
const MAX_REEXPORT_DEPTH: u32 = 6;

/// Fixtures of fixtures followed at most this deep (a cycle stops there).
const MAX_CHAIN_DEPTH: u32 = 6;

/// The parameter names of a Python function's signature
/// (`@fixture def f(self, app, *args, x: int = 1)` → self, app, args, x).
fn py_parameters(signature: &str) -> Vec<&str> {
    let Some(open) = signature.find("def ").and_then(|d| signature[d..].find('(').map(|p| d + p))
    else {
        return Vec::new();
    };
    let mut depth = 0;
    let mut names = Vec::new();
    let mut start = open + 1;
    for (i, c) in signature[open..].char_indices().map(|(i, c)| (open + i, c)) {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    names.push(&signature[start..i]);
                    break;
                }
            }
            ',' if depth == 1 => {
                names.push(&signature[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    names
        .into_iter()
        .filter_map(|p| {
            let p = p.split([':', '=']).next()?.trim().trim_start_matches('*');
            (!p.is_empty()).then_some(p)
        })
        .collect()
}
