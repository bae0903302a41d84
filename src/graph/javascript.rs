//! JavaScript: what of a file's syntax tree only JavaScript has. `import`
//! and `require` bindings, JSDoc's declared types, `class … extends`,
//! and the declaration or export around a declarator. `parse` calls these
//! where a language differs; `resolve` has JavaScript's module specifiers.

use std::collections::HashMap;

use tree_sitter::Node;

use super::callbacks::is_function_node;
use super::parse::{FileParser, Found};
use super::resolve::{self, Confidence, FileContext, Symbol, module_name};
use super::{Import, ImportKind, Language, Ref, Unit, UnitKind};

impl<'a> FileParser<'a> {
    /// `class A extends B`: B.
    pub(super) fn extended_class(&self, class: Node) -> Option<String> {
        let mut cursor = class.walk();
        let heritage = class.named_children(&mut cursor).find(|c| c.kind() == "class_heritage")?;
        let mut cursor = heritage.walk();
        let parent = heritage.named_children(&mut cursor).find_map(|c| match c.kind() {
            "identifier" => Some(c),
            // TypeScript: `extends_clause` (beside `implements_clause`).
            "extends_clause" => c.child_by_field_name("value").filter(|v| v.kind() == "identifier"),
            _ => None,
        })?;
        Some(self.text_of(parent).to_owned())
    }

    /// The class a TypeScript type (or type annotation) names, when it
    /// names one: `Foo`, `Foo<T>`, `ns.Foo`, `Foo | undefined`.
    pub(super) fn ts_type(&self, node: Node) -> Option<String> {
        match node.kind() {
            "type_annotation" | "parenthesized_type" => self.ts_type(node.named_child(0)?),
            "type_identifier" => Some(self.text_of(node).to_owned()),
            "generic_type" | "nested_type_identifier" => {
                self.ts_type(node.child_by_field_name("name")?)
            }
            "union_type" => {
                // One class among `undefined`/`null`: that class.
                let mut cursor = node.walk();
                let named: Vec<String> =
                    node.named_children(&mut cursor).filter_map(|c| self.ts_type(c)).collect();
                match named.as_slice() {
                    [one] => Some(one.clone()),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A class's fields whose class the code says: TypeScript's `x: T`
    /// members and constructor parameters declared `private x: T`; in
    /// every language with classes, `this.x = new T()` (JavaScript,
    /// TypeScript) and `self.x = T()` / `self.x: T = …` / `self.x = x`
    /// with a parameter `x: T` / `self.x = self.m()` (Python, the last
    /// kept as the chain `self.m()`) in its methods; Python's `x: T`
    /// declared in the class body (dataclasses).
    pub(super) fn class_fields(&self, class: Node) -> Vec<(String, String)> {
        let mut out = Vec::new();
        // A decorated class (`@dataclass`): the class under its decorators.
        let class = match class.kind() {
            "decorated_definition" => class.child_by_field_name("definition").unwrap_or(class),
            _ => class,
        };
        if self.language == Language::Python {
            self.py_declared_fields(class, &mut out);
        }
        self.assigned_fields(class, &mut out);
        if !self.language.is_typescript() {
            return out;
        }
        let Some(body) = class.child_by_field_name("body") else { return out };
        let mut cursor = body.walk();
        for member in body.named_children(&mut cursor) {
            match member.kind() {
                "public_field_definition" => {
                    let name = member.child_by_field_name("name");
                    let ty = member.child_by_field_name("type").and_then(|t| self.ts_type(t));
                    if let (Some(name), Some(ty)) = (name, ty) {
                        out.push((self.text_of(name).to_owned(), ty));
                    }
                }
                "method_definition"
                    if member
                        .child_by_field_name("name")
                        .is_some_and(|n| self.text_of(n) == "constructor") =>
                {
                    let Some(params) = member.child_by_field_name("parameters") else { continue };
                    let mut c = params.walk();
                    for p in params.named_children(&mut c) {
                        let mut pc = p.walk();
                        let property = p.children(&mut pc).any(|c| {
                            matches!(
                                c.kind(),
                                "accessibility_modifier" | "readonly" | "override_modifier"
                            )
                        });
                        if let (true, Some((name, ty))) = (property, self.ts_parameter(p)) {
                            out.push((name, ty));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// `this.x = new T()` / `self.x = T()` / `self.x: T = …` anywhere in
    /// a class (not in classes nested in it).
    fn assigned_fields(&self, class: Node, out: &mut Vec<(String, String)>) {
        let Some(body) = class.child_by_field_name("body") else { return };
        let mut stack = vec![body];
        while let Some(node) = stack.pop() {
            if matches!(node.kind(), "class_declaration" | "class_definition" | "class") {
                continue;
            }
            if let Some(field) = self.assigned_field(node)
                && !out.iter().any(|(name, _)| *name == field.0)
            {
                out.push(field);
            }
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
    }

    /// One assignment of `assigned_fields`, if the node is one.
    fn assigned_field(&self, node: Node) -> Option<(String, String)> {
        let (left, right) = (node.child_by_field_name("left")?, node.child_by_field_name("right"));
        let (object, property) = match (node.kind(), left.kind()) {
            ("assignment_expression", "member_expression") => {
                (left.child_by_field_name("object")?, left.child_by_field_name("property")?)
            }
            ("assignment", "attribute") => {
                (left.child_by_field_name("object")?, left.child_by_field_name("attribute")?)
            }
            _ => return None,
        };
        if !matches!(self.text_of(object), "this" | "self") {
            return None;
        }
        let annotated = node.child_by_field_name("type").map(|t| self.text_of(t).trim());
        let class = match right {
            _ if annotated.is_some() => annotated.map(str::to_owned),
            Some(r) if r.kind() == "new_expression" => {
                r.child_by_field_name("constructor").map(|c| self.text_of(c).to_owned())
            }
            Some(r) if r.kind() == "call" && self.language == Language::Python => {
                let function = self.text_of(r.child_by_field_name("function")?);
                // `self.x = self.m(…)`: typed by what m returns, while resolving.
                if let Some(method) = function.strip_prefix("self.")
                    && !method.contains('.')
                {
                    return Some((self.text_of(property).to_owned(), format!("self.{method}()")));
                }
                Some(function.to_owned())
            }
            // `self.x = x` with the method's parameter `x: T`.
            Some(r) if r.kind() == "identifier" && self.language == Language::Python => {
                self.py_parameter_type(node, self.text_of(r))
            }
            _ => None,
        }?;
        let is_class = class.starts_with(|c: char| c.is_uppercase())
            && class.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$');
        is_class.then(|| (self.text_of(property).to_owned(), class))
    }

    /// `x: T` of a TypeScript parameter.
    fn ts_parameter(&self, p: Node) -> Option<(String, String)> {
        if !matches!(p.kind(), "required_parameter" | "optional_parameter") {
            return None;
        }
        let pattern = p.child_by_field_name("pattern").filter(|n| n.kind() == "identifier")?;
        let ty = self.ts_type(p.child_by_field_name("type")?)?;
        Some((self.text_of(pattern).to_owned(), ty))
    }

    /// JavaScript: the return types JSDoc declares (`@returns {T}`), by
    /// function or method name.
    pub(super) fn return_types(&self, found: &[Found]) -> HashMap<String, String> {
        let mut out = HashMap::new();
        if self.language.is_typescript() {
            for f in found {
                let declared = f.node.child_by_field_name("return_type").or_else(|| {
                    f.node.child_by_field_name("value")?.child_by_field_name("return_type")
                });
                if let Some(t) = declared.and_then(|t| self.ts_type(t)) {
                    out.entry(f.name.clone()).or_insert(t);
                }
            }
            return out;
        }
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

    /// What the module exports under names that are not its own top-level
    /// units', as `Export` imports: `module.exports = x` and `export
    /// default x` (the default export: filed under the module's name, see
    /// `module_name`, with `default` as a third segment, so that a file
    /// requiring the module, which keys that name, finds it), `exports.a =
    /// require('./a')`, `module.exports = { a: b, c }` where b or c is not
    /// a unit here, `export { a as b } [from './m']`, `export * from './m'`.
    /// A name bound here by an import is exported as that import's path.
    pub(super) fn js_exports(&self, root: Node, units: &[Unit], imports: &mut Vec<Import>) {
        let mut out = Vec::new();
        let mut cursor = root.walk();
        for statement in root.named_children(&mut cursor) {
            match statement.kind() {
                "expression_statement" => {
                    let Some(a) =
                        statement.named_child(0).filter(|a| a.kind() == "assignment_expression")
                    else {
                        continue;
                    };
                    let (Some(left), Some(right)) =
                        (a.child_by_field_name("left"), a.child_by_field_name("right"))
                    else {
                        continue;
                    };
                    let target = self.text_of(left);
                    if is_module_exports(target) {
                        self.export_default(right, units, imports, &mut out);
                        if right.kind() == "object" {
                            self.export_object(right, units, imports, &mut out);
                        }
                    } else if let Some(name) = exported_name(target) {
                        self.export_value(name, right, units, imports, &mut out);
                    }
                }
                "export_statement" => self.export_statement(statement, units, imports, &mut out),
                _ => {}
            }
        }
        imports.extend(out);
    }

    /// `module.exports = <value>` / `export default <value>`.
    fn export_default(
        &self,
        value: Node,
        units: &[Unit],
        imports: &[Import],
        out: &mut Vec<Import>,
    ) {
        let module = module_name(self.path);
        let line = Self::line(value);
        let mut path = match value.kind() {
            "identifier" => self.local_path(self.text_of(value), imports),
            "call_expression" => match self.required(value) {
                Some(spec) => vec![spec, "*".to_owned()],
                None => return,
            },
            "function_expression" | "arrow_function" | "generator_function" | "class" => {
                let name = value.child_by_field_name("name").map_or(module, |n| self.text_of(n));
                vec![String::new(), name.to_owned()]
            }
            _ => return,
        };
        if path[0].is_empty() && !units.iter().any(|u| u.name == path[1] && !u.qname.contains("::"))
        {
            return; // a local that is no unit: nothing to find
        }
        path.push("default".to_owned());
        out.push(export(module, path, line));
    }

    /// `module.exports = { a, b: c, d: require('./d') }`.
    fn export_object(
        &self,
        object: Node,
        units: &[Unit],
        imports: &[Import],
        out: &mut Vec<Import>,
    ) {
        let mut cursor = object.walk();
        for pair in object.named_children(&mut cursor) {
            match pair.kind() {
                "shorthand_property_identifier" => {
                    let name = self.text_of(pair);
                    self.export_value(name, pair, units, imports, out);
                }
                "pair" => {
                    let key = pair
                        .child_by_field_name("key")
                        .filter(|k| k.kind() == "property_identifier");
                    if let (Some(key), Some(value)) = (key, pair.child_by_field_name("value")) {
                        self.export_value(self.text_of(key), value, units, imports, out);
                    }
                }
                _ => {}
            }
        }
    }

    /// `name` exported as `value` (an identifier, or a `require`), unless
    /// it is this module's own top-level unit of that name.
    fn export_value(
        &self,
        name: &str,
        value: Node,
        units: &[Unit],
        imports: &[Import],
        out: &mut Vec<Import>,
    ) {
        let path = match value.kind() {
            "identifier" | "shorthand_property_identifier" => {
                self.local_path(self.text_of(value), imports)
            }
            "call_expression" => match self.required(value) {
                Some(spec) => vec![spec, "*".to_owned()],
                None => return,
            },
            _ => return,
        };
        let own = path[0].is_empty()
            && (path[1] == name
                || !units.iter().any(|u| u.name == path[1] && !u.qname.contains("::")));
        if !own {
            out.push(export(name, path, Self::line(value)));
        }
    }

    /// `export …` statements: a default, a clause, a glob.
    fn export_statement(
        &self,
        statement: Node,
        units: &[Unit],
        imports: &[Import],
        out: &mut Vec<Import>,
    ) {
        let source = statement.child_by_field_name("source").map(|s| string_value(self.text_of(s)));
        let line = Self::line(statement);
        let mut cursor = statement.walk();
        let children: Vec<Node> = statement.children(&mut cursor).collect();
        let is_default = children.iter().any(|c| c.kind() == "default");
        if is_default {
            if let Some(value) = statement.child_by_field_name("value") {
                self.export_default(value, units, imports, out);
            } else if let Some(name) = statement
                .child_by_field_name("declaration")
                .and_then(|d| d.child_by_field_name("name"))
            {
                let path = vec![String::new(), self.text_of(name).to_owned(), "default".to_owned()];
                out.push(export(module_name(self.path), path, line));
            }
            return;
        }
        for child in children {
            match (child.kind(), &source) {
                ("*", Some(spec)) => {
                    out.push(export("*", vec![spec.clone(), "*".to_owned()], line))
                }
                ("namespace_export", Some(spec)) => {
                    let mut c = child.walk();
                    if let Some(name) = child.named_children(&mut c).last() {
                        out.push(export(
                            self.text_of(name),
                            vec![spec.clone(), "*".to_owned()],
                            line,
                        ));
                    }
                }
                ("export_clause", _) => {
                    let mut c = child.walk();
                    for spec_node in child.named_children(&mut c) {
                        let Some(name) = spec_node.child_by_field_name("name") else { continue };
                        let name = string_value(self.text_of(name));
                        let alias = spec_node
                            .child_by_field_name("alias")
                            .map(|a| string_value(self.text_of(a)));
                        let exported = alias.clone().unwrap_or_else(|| name.clone());
                        let path = match &source {
                            Some(spec) => vec![spec.clone(), name.clone()],
                            None => self.local_path(&name, imports),
                        };
                        if exported == "default" {
                            let mut path = path;
                            path.push("default".to_owned());
                            out.push(export(module_name(self.path), path, line));
                        } else if source.is_some() || !path[0].is_empty() || exported != name {
                            out.push(export(&exported, path, line));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Where a local name comes from: the import that binds it (its
    /// module and imported name), else this module (`""`).
    fn local_path(&self, name: &str, imports: &[Import]) -> Vec<String> {
        let bound = imports
            .iter()
            .find(|i| i.local == name && i.kind != ImportKind::Export && i.path.len() >= 2);
        match bound {
            Some(i) => i.path[..2].to_vec(),
            None => vec![String::new(), name.to_owned()],
        }
    }

    /// `require('spec')`: spec.
    fn required(&self, call: Node) -> Option<String> {
        let f = call.child_by_field_name("function")?;
        if f.kind() != "identifier" || self.text_of(f) != "require" {
            return None;
        }
        let arg = call.child_by_field_name("arguments")?.named_child(0)?;
        (arg.kind() == "string").then(|| string_value(self.text_of(arg)))
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
        if let Some((name, ty)) = self.ts_parameter(node) {
            out.entry(name).or_insert(ty);
            return;
        }
        if is_function_node(node) {
            self.callback_parameters(node, out);
            return;
        }
        if node.kind() != "variable_declarator" {
            return;
        }
        // `const x: T = …`
        if let Some(ty) = node.child_by_field_name("type").and_then(|t| self.ts_type(t))
            && let Some(name) =
                node.child_by_field_name("name").filter(|n| n.kind() == "identifier")
        {
            out.entry(self.text_of(name).to_owned()).or_insert(ty);
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

/// An `Export` import of `name` as `path`.
fn export(name: &str, path: Vec<String>, line: u32) -> Import {
    Import { kind: ImportKind::Export, local: name.to_owned(), path, line, public: true }
}

/// `module.exports` (the whole module's export).
pub(super) fn is_module_exports(target: &str) -> bool {
    target.split('.').map(str::trim).eq(["module", "exports"])
}

/// `exports.a` / `module.exports.a`: a.
fn exported_name(target: &str) -> Option<&str> {
    let rest = target.strip_prefix("module.").unwrap_or(target);
    let name = rest.strip_prefix("exports.")?;
    name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$').then_some(name)
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
        self.js_module_file_from(self.path, spec)
    }

    /// The file a relative module specifier in file `from` names.
    pub(super) fn js_module_file_from(&self, from: &str, spec: &str) -> Option<String> {
        if !spec.starts_with("./") && !spec.starts_with("../") && spec != "." && spec != ".." {
            return None; // a package
        }
        let dir = from.rsplit_once('/').map_or("", |(d, _)| d);
        let joined = normalize(&format!("{dir}/{spec}"))?;
        // TypeScript writes `./a.js` for the `./a.ts` it compiles to it.
        let stem = joined
            .strip_suffix(".js")
            .or_else(|| joined.strip_suffix(".jsx"))
            .or_else(|| joined.strip_suffix(".mjs"))
            .or_else(|| joined.strip_suffix(".cjs"))
            .unwrap_or(&joined);
        let mut candidates = vec![joined.clone()];
        for base in [joined.as_str(), stem] {
            for ext in MODULE_EXTENSIONS {
                candidates.push(format!("{base}.{ext}"));
            }
        }
        for ext in MODULE_EXTENSIONS {
            candidates.push(format!("{joined}/index.{ext}"));
        }
        candidates.into_iter().find(|p| self.table.has_file(p))
    }

    /// What module `file` exports as `name` (`default` or `*` for its
    /// default export): its top-level unit of that name, or where its
    /// exports lead, through any number of modules.
    pub(super) fn js_export(
        &self,
        file: &str,
        name: &str,
        wanted: fn(UnitKind) -> bool,
    ) -> resolve::Found {
        self.js_export_at(file, name, wanted, 0)
    }

    fn js_export_at(
        &self,
        file: &str,
        name: &str,
        wanted: fn(UnitKind) -> bool,
        depth: u32,
    ) -> resolve::Found {
        if depth > MAX_EXPORT_DEPTH {
            return Vec::new();
        }
        let follow = |path: &[String], name: &str| -> resolve::Found {
            let target = match path[0].as_str() {
                "" => Some(file.to_owned()),
                spec => self.js_module_file_from(file, spec),
            };
            match target {
                Some(target) => self.js_export_at(&target, name, wanted, depth + 1),
                None => Vec::new(),
            }
        };
        if matches!(name, "default" | "*") {
            let module = module_name(file);
            let default = self.table.reexports_in(file, module).find(|s| is_default(s));
            return match default {
                Some(s) => follow(&s.reexport, &s.reexport[1]),
                // No `module.exports =`: a unit named after the module.
                None => self.in_file(file, module, |s| s.top_level() && wanted(s.kind)),
            };
        }
        let own = self.in_file(file, name, |s| s.top_level() && wanted(s.kind));
        if !own.is_empty() {
            return own;
        }
        let exports: Vec<&Symbol> = self
            .table
            .reexports_in(file, name)
            .filter(|s| !is_default(s) && s.reexport.len() >= 2)
            .collect();
        for s in exports {
            // A glob `export * from './m'` passes the name on.
            let wanted_name = if s.name == "*" { name } else { s.reexport[1].as_str() };
            let found = follow(&s.reexport, wanted_name);
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }

    pub(super) fn js_import_target(
        &self,
        import: &Import,
        wanted: fn(UnitKind) -> bool,
    ) -> Option<resolve::Found> {
        let file = self.js_module_file(import.path.first()?)?;
        let imported = import.path.get(1).map_or("*", String::as_str);
        let found = match imported {
            // `import * as ns`: a namespace, never called itself.
            "*" if import.kind == ImportKind::Import => return None,
            // `import name from`, `const name = require(…)`: the default
            // export, else the top-level unit of the local name.
            "*" | "default" => {
                let found = self.js_export(&file, "default", wanted);
                if found.is_empty() {
                    self.in_file(&file, &import.local, |s| s.top_level() && wanted(s.kind))
                } else {
                    found
                }
            }
            name => self.js_export(&file, name, wanted),
        };
        (!found.is_empty()).then_some(found)
    }

    /// `x.f()` as only JavaScript can say: `new X()` with X imported (X's
    /// method), `exports.f()` (this module's f), m a module bound by an
    /// import (its export f).
    pub(super) fn js_method_call(&self, r: &Ref, receiver_type: Option<&str>) -> resolve::Found {
        if let Some(ty) = receiver_type
            && let Some(import) = self.import_named(ty)
            && let Some(found) = self.js_import_target(import, UnitKind::is_type)
            && let [(class, _)] = found.as_slice()
            && let Some(found) = self.class_method(class, &r.name, 0)
        {
            return found;
        }
        match r.receiver.as_deref() {
            Some("exports") => self.in_file(self.path, &r.name, |s| s.top_level()),
            Some(receiver) => match self.import_named(receiver) {
                Some(import) => self.js_module_member(import, &r.name),
                None => Vec::new(),
            },
            None => Vec::new(),
        }
    }

    /// `m.f()` where m is a module bound by an import: what the module
    /// exports as f, or the method f of the class it exports.
    pub(super) fn js_module_member(&self, import: &Import, name: &str) -> resolve::Found {
        let (Some(spec), Some(imported)) = (import.path.first(), import.path.get(1)) else {
            return Vec::new();
        };
        let Some(file) = self.js_module_file(spec) else { return Vec::new() };
        let module = match imported.as_str() {
            "*" if import.kind == ImportKind::Import => None,
            "*" | "default" => Some(self.js_export(&file, "default", |_| true)),
            named => Some(self.js_export(&file, named, |_| true)),
        };
        match module.as_deref() {
            // The module itself (`import * as m`, an exports object).
            None | Some([]) => self.js_export(&file, name, |_| true),
            Some([(class, _)]) => self.member_of(class, name),
            Some(_) => Vec::new(),
        }
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

/// What a module specifier without its extension may name, in the order
/// Node and TypeScript look.
const MODULE_EXTENSIONS: [&str; 8] = ["js", "mjs", "cjs", "jsx", "ts", "tsx", "mts", "cts"];

/// Re-exports followed at most this deep (`export *` chains; a cycle).
const MAX_EXPORT_DEPTH: u32 = 8;

/// A module's default export (see `js_exports`).
fn is_default(s: &Symbol) -> bool {
    s.reexport.len() == 3 && s.reexport[2] == "default"
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
