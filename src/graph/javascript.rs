//! JavaScript: what of a file's syntax tree only JavaScript has. `import`
//! and `require` bindings, JSDoc's declared types, `class … extends`,
//! and the declaration or export around a declarator. `parse` calls these
//! where a language differs; `resolve` has JavaScript's module specifiers.

use std::collections::HashMap;

use tree_sitter::Node;

use super::parse::{FileParser, Found};
use super::resolve::{self, Confidence, FileContext};
use super::{Import, ImportKind, Language, UnitKind};

impl<'a> FileParser<'a> {
    /// `class A extends B`: B.
    pub(super) fn extended_class(&self, class: Node) -> Option<String> {
        let mut cursor = class.walk();
        let heritage = class.named_children(&mut cursor).find(|c| c.kind() == "class_heritage")?;
        let mut cursor = heritage.walk();
        let parent = heritage.named_children(&mut cursor).find(|c| c.kind() == "identifier")?;
        Some(self.text_of(parent).to_owned())
    }

    /// JavaScript: the return types JSDoc declares (`@returns {T}`), by
    /// function or method name.
    pub(super) fn return_types(&self, found: &[Found]) -> HashMap<String, String> {
        let mut out = HashMap::new();
        if self.language != Language::JavaScript {
            return out;
        }
        for f in found {
            for line in self.doc(f.node).lines() {
                let line = line.trim();
                let Some(rest) =
                    line.strip_prefix("@returns").or_else(|| line.strip_prefix("@return"))
                else {
                    continue;
                };
                if let Some(t) = jsdoc_type(rest) {
                    out.entry(f.name.clone()).or_insert(t);
                }
            }
        }
        out
    }

    pub(super) fn js_imports(&self, root: Node, out: &mut Vec<Import>) {
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            match node.kind() {
                "import_statement" => self.js_import(node, out),
                "call_expression" => {
                    let is_require = node
                        .child_by_field_name("function")
                        .is_some_and(|f| f.kind() == "identifier" && self.text_of(f) == "require");
                    let spec = node
                        .child_by_field_name("arguments")
                        .and_then(|a| a.named_child(0))
                        .filter(|a| a.kind() == "string")
                        .map(|s| string_value(self.text_of(s)));
                    if let (true, Some(spec)) = (is_require, spec) {
                        // `const x = require(…)` binds x; `const {a, b} = …` binds a and b.
                        let locals = node
                            .parent()
                            .filter(|p| p.kind() == "variable_declarator")
                            .and_then(|p| p.child_by_field_name("name"))
                            .map(|n| self.binding_names(n))
                            .unwrap_or_default();
                        if locals.is_empty() {
                            out.push(Import {
                                kind: ImportKind::Require,
                                local: String::new(),
                                path: vec![spec.clone()],
                                line: Self::line(node),
                                public: false,
                            });
                        }
                        for (local, imported) in locals {
                            out.push(Import {
                                kind: ImportKind::Require,
                                local,
                                path: vec![spec.clone(), imported],
                                line: Self::line(node),
                                public: false,
                            });
                        }
                    }
                    let mut cursor = node.walk();
                    stack.extend(node.named_children(&mut cursor));
                }
                _ => {
                    let mut cursor = node.walk();
                    stack.extend(node.named_children(&mut cursor));
                }
            }
        }
        out.sort_by(|a, b| (a.line, &a.local).cmp(&(b.line, &b.local)));
    }

    /// `x` → [(x, *)]; `{a, b: c}` → [(a, a), (c, b)].
    pub(super) fn binding_names(&self, pattern: Node) -> Vec<(String, String)> {
        match pattern.kind() {
            "identifier" => vec![(self.text_of(pattern).to_owned(), "*".into())],
            "object_pattern" => {
                let mut out = Vec::new();
                let mut cursor = pattern.walk();
                for child in pattern.named_children(&mut cursor) {
                    match child.kind() {
                        "shorthand_property_identifier_pattern" => {
                            let name = self.text_of(child).to_owned();
                            out.push((name.clone(), name));
                        }
                        "pair_pattern" => {
                            let key = child.child_by_field_name("key").map(|k| self.text_of(k));
                            let value = child.child_by_field_name("value");
                            if let (Some(key), Some(value)) = (key, value)
                                && value.kind() == "identifier"
                            {
                                out.push((self.text_of(value).to_owned(), key.to_owned()));
                            }
                        }
                        _ => {}
                    }
                }
                out
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn js_import(&self, node: Node, out: &mut Vec<Import>) {
        let Some(source) = node.child_by_field_name("source") else { return };
        let spec = string_value(self.text_of(source));
        let line = Self::line(node);
        let mut push = |local: &str, imported: &str| {
            out.push(Import {
                kind: ImportKind::Import,
                local: local.to_owned(),
                path: vec![spec.clone(), imported.to_owned()],
                line,
                public: false,
            })
        };
        let mut cursor = node.walk();
        let clause = node.named_children(&mut cursor).find(|c| c.kind() == "import_clause");
        let Some(clause) = clause else {
            push("", "*"); // `import './side-effect'`
            return;
        };
        let mut cursor = clause.walk();
        for part in clause.named_children(&mut cursor) {
            match part.kind() {
                "identifier" => push(self.text_of(part), "default"),
                "namespace_import" => {
                    let mut c = part.walk();
                    if let Some(id) = part.named_children(&mut c).find(|n| n.kind() == "identifier")
                    {
                        push(self.text_of(id), "*");
                    }
                }
                "named_imports" => {
                    let mut c = part.walk();
                    for spec_node in part.named_children(&mut c) {
                        if spec_node.kind() != "import_specifier" {
                            continue;
                        }
                        let name = spec_node.child_by_field_name("name").map(|n| self.text_of(n));
                        let alias = spec_node.child_by_field_name("alias").map(|n| self.text_of(n));
                        if let Some(name) = name {
                            push(alias.unwrap_or(name), name);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The node that carries a unit's doc comment and export: for a
    /// JavaScript declarator, its declaration (and the export around it).
    pub(super) fn anchor<'t>(&self, node: Node<'t>) -> Node<'t> {
        let mut anchor = node;
        while let Some(parent) = anchor.parent() {
            match parent.kind() {
                "variable_declarator"
                | "lexical_declaration"
                | "variable_declaration"
                | "export_statement" => anchor = parent,
                "expression_statement" if node.kind() == "assignment_expression" => anchor = parent,
                _ => break,
            }
        }
        anchor
    }

    /// Exported when its declaration stands in an `export` statement.
    pub(super) fn js_exported(&self, node: Node) -> bool {
        self.anchor(node).kind() == "export_statement"
    }

    /// JSDoc's `@param {T} x` of a unit's doc, as names and types.
    pub(super) fn jsdoc_params(&self, unit: Node, out: &mut HashMap<String, String>) {
        for line in self.doc(unit).lines() {
            let Some(rest) = line.trim().strip_prefix("@param") else { continue };
            let Some(ty) = jsdoc_type(rest) else { continue };
            let after = rest.split_once('}').map_or("", |(_, a)| a);
            let name = after.split_whitespace().next().unwrap_or("");
            let name = name.trim_matches(['[', ']']).split('=').next().unwrap_or("");
            if !name.is_empty() {
                out.insert(name.to_owned(), ty);
            }
        }
    }

    /// One node's part of `typed_names`: `const x = new T()`, and
    /// `const x = f()` / `this.m()` where f or m declares `@returns {T}`.
    pub(super) fn js_typed_name(
        &self,
        node: Node,
        returns: &HashMap<String, String>,
        out: &mut HashMap<String, String>,
    ) {
        if node.kind() != "variable_declarator" {
            return;
        }
        fn field<'t>(n: Node<'t>, f: &str) -> Option<Node<'t>> {
            n.child_by_field_name(f)
        }
        let name = field(node, "name").filter(|n| n.kind() == "identifier");
        let ty = field(node, "value").and_then(|v| match v.kind() {
            "new_expression" => field(v, "constructor")
                .filter(|c| c.kind() == "identifier")
                .map(|c| self.text_of(c).to_owned()),
            "call_expression" => {
                let f = field(v, "function")?;
                let callee = match f.kind() {
                    "identifier" => f,
                    "member_expression"
                        if field(f, "object").is_some_and(|o| o.kind() == "this") =>
                    {
                        field(f, "property")?
                    }
                    _ => return None,
                };
                returns.get(self.text_of(callee)).cloned()
            }
            _ => None,
        });
        if let (Some(n), Some(t)) = (name, ty) {
            out.entry(self.text_of(n).to_owned()).or_insert(t);
        }
    }
}

/// The type in a JSDoc tag's `{…}` when it is one class name:
/// `{Command | undefined}` → Command, `{import('./x').Help}` → Help.
pub(super) fn jsdoc_type(tag: &str) -> Option<String> {
    let inner = tag.trim().strip_prefix('{')?.split_once('}')?.0;
    let first = inner.split('|').next()?.trim().trim_matches(['?', '!', '=']);
    let name = first.rsplit('.').next()?.trim();
    let is_class = name.chars().next().is_some_and(|c| c.is_uppercase())
        && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$');
    is_class.then(|| name.to_owned())
}

/// A JavaScript string literal's value (quotes dropped; escapes kept).
pub(super) fn string_value(text: &str) -> String {
    text.trim_matches(|c| c == '"' || c == '\'' || c == '`').to_owned()
}

// --- Resolution: relative module specifiers -----------------------------

impl FileContext<'_> {
    /// The file a relative module specifier names, if it is in the tree.
    pub(super) fn js_module_file(&self, spec: &str) -> Option<String> {
        if !spec.starts_with("./") && !spec.starts_with("../") {
            return None; // a package
        }
        let dir = self.path.rsplit_once('/').map_or("", |(d, _)| d);
        let joined = normalize(&format!("{dir}/{spec}"))?;
        let candidates = [
            joined.clone(),
            format!("{joined}.js"),
            format!("{joined}.mjs"),
            format!("{joined}.cjs"),
            format!("{joined}.jsx"),
            format!("{joined}/index.js"),
        ];
        candidates.into_iter().find(|p| self.table.has_file(p))
    }

    pub(super) fn js_import_target(
        &self,
        import: &Import,
        wanted: fn(UnitKind) -> bool,
    ) -> Option<resolve::Found> {
        let file = self.js_module_file(import.path.first()?)?;
        let imported = import.path.get(1).map_or("*", String::as_str);
        let found = match imported {
            "*" => return None,
            // `import name from`: the target's top-level unit of that name
            // (`export default function name`).
            "default" => self.in_file(&file, &import.local, |s| s.top_level() && wanted(s.kind)),
            name => self.in_file(&file, name, |s| s.top_level() && wanted(s.kind)),
        };
        (!found.is_empty()).then_some(found)
    }

    /// Where an `import` or `require` leads: the unit it names, or the
    /// module's file.
    pub(super) fn js_import(&self, import: &Import) -> Option<(String, Confidence)> {
        let spec = import.path.first()?;
        let file = self.js_module_file(spec)?;
        if let Some(found) = self.js_import_target(import, |_| true)
            && let [(id, c)] = found.as_slice()
        {
            return Some((id.clone(), *c));
        }
        Some((file, Confidence::Resolved))
    }
}

/// `a/./b/../c` → `a/c`; None when it climbs out of the tree.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Files whose every unit counts as a test: `*.test.*`, `*.spec.*`, and
/// those under `test/` or `__tests__/`.
pub(super) fn is_test_path(path: &str) -> bool {
    let in_dir =
        |dir: &str| path.starts_with(&format!("{dir}/")) || path.contains(&format!("/{dir}/"));
    let name = path.rsplit('/').next().unwrap_or(path);
    in_dir("__tests__") || [".test.", ".spec."].iter().any(|m| name.contains(m)) || in_dir("test")
}
