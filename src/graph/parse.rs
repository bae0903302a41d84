//! One file's bytes into units, references and imports. Never fails: a file
//! that is binary, not UTF-8 or huge is skipped with a reason, and syntax
//! errors are kept as diagnostics beside whatever did parse.

use std::cell::RefCell;
use std::collections::HashMap;

use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, Parser, QueryCursor, Tree};

use super::{
    Diagnostic, Import, ImportKind, Language, MAX_PARSE_BYTES, ParsedFile, Ref, RefKind, Unit,
    UnitKind,
};

/// At most this many diagnostics are kept per file.
const MAX_DIAGNOSTICS: usize = 20;
/// Signatures are cut here.
const MAX_SIGNATURE: usize = 300;

thread_local! {
    static PARSERS: RefCell<HashMap<Language, Parser>> = RefCell::new(HashMap::new());
}

/// Parses `bytes`, the content of `path` (a tree path such as `src/lib.rs`).
pub fn parse_file(path: &str, bytes: &[u8], language: Language) -> ParsedFile {
    let skipped = |reason: String| ParsedFile { skipped: Some(reason), ..ParsedFile::default() };
    if bytes.len() > MAX_PARSE_BYTES {
        return skipped(format!("huge ({} bytes; the limit is {MAX_PARSE_BYTES})", bytes.len()));
    }
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return skipped("binary".into());
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return skipped("not UTF-8".into());
    };
    let trees = PARSERS.with(|parsers| {
        let mut parsers = parsers.borrow_mut();
        let parser = parsers.entry(language).or_insert_with(|| {
            let mut p = Parser::new();
            p.set_language(&language.grammar()).expect("grammar matches the tree-sitter version");
            p
        });
        let tree = parser.parse(text, None)?;
        // Rust items inside item-level macros (`cfg_rt! { pub fn spawn… }`)
        // are token trees to the grammar: parse those bodies again as code,
        // in place, so that their nodes keep the file's offsets.
        let bodies = macro_item_bodies(&tree);
        let inner = if bodies.is_empty() || parser.set_included_ranges(&bodies).is_err() {
            None
        } else {
            let inner = parser.parse(text, None);
            let _ = parser.set_included_ranges(&[]);
            inner
        };
        Some((tree, inner))
    });
    let Some((tree, inner)) = trees else {
        return skipped("the parser gave up".into());
    };
    FileParser { path, text, language, tree: &tree, macro_items: inner.as_ref() }.run()
}

/// The insides of `name! { … }` at item level (in a file, module or impl).
fn macro_item_bodies(tree: &Tree) -> Vec<tree_sitter::Range> {
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        match node.kind() {
            "source_file" | "declaration_list" => {
                let mut cursor = node.walk();
                stack.extend(node.named_children(&mut cursor));
            }
            "mod_item" | "impl_item" | "trait_item" => {
                stack.extend(node.child_by_field_name("body"));
            }
            "macro_invocation" => {
                let mut cursor = node.walk();
                let body = node.named_children(&mut cursor).find(|c| c.kind() == "token_tree");
                let Some(body) = body else { continue };
                let (Some(open), Some(close)) =
                    (body.child(0), body.child(body.child_count().saturating_sub(1)))
                else {
                    continue;
                };
                if open.kind() == "{" && close.kind() == "}" && open.end_byte() < close.start_byte()
                {
                    out.push(tree_sitter::Range {
                        start_byte: open.end_byte(),
                        end_byte: close.start_byte(),
                        start_point: open.end_position(),
                        end_point: close.start_position(),
                    });
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(|r| r.start_byte);
    out
}

/// A query's matches, copied out of the cursor (which lends them one at a
/// time): per match, its pattern and its captures by name.
struct Matches<'t> {
    matches: Vec<(usize, std::ops::Range<usize>)>,
    captures: Vec<(&'static str, Node<'t>)>,
}

impl<'t> Matches<'t> {
    fn of(query: &'static tree_sitter::Query, root: Node<'t>, text: &[u8]) -> Matches<'t> {
        let names = query.capture_names();
        let mut cursor = QueryCursor::new();
        let mut found = cursor.matches(query, root, text);
        let mut out = Matches { matches: Vec::new(), captures: Vec::new() };
        while let Some(m) = found.next() {
            let start = out.captures.len();
            out.captures.extend(m.captures.iter().map(|c| (names[c.index as usize], c.node)));
            out.matches.push((m.pattern_index, start..out.captures.len()));
        }
        out
    }

    /// The captures of each match of the patterns in `patterns`.
    fn of_patterns(
        &self,
        patterns: std::ops::Range<usize>,
    ) -> impl Iterator<Item = &[(&'static str, Node<'t>)]> {
        self.matches
            .iter()
            .filter(move |(p, _)| patterns.contains(p))
            .map(|(_, r)| &self.captures[r.clone()])
    }
}

struct FileParser<'a> {
    path: &'a str,
    text: &'a str,
    language: Language,
    tree: &'a Tree,
    /// The bodies of item-level macros parsed as code (Rust), if any.
    macro_items: Option<&'a Tree>,
}

/// A unit as the query found it, before names are qualified.
struct Found<'t> {
    node: Node<'t>,
    kind: UnitKind,
    name: String,
    /// Start of the name node, so that a type reference at the very name
    /// that defines it is not counted as a reference.
    name_at: Option<usize>,
    /// Rust impl: the implemented type, and the trait if any.
    impl_type: Option<String>,
    impl_trait: Option<(String, Vec<String>)>,
    /// JavaScript `Owner.prototype.name = function …`: the owner.
    owner: Option<String>,
    /// Found in an item-level macro's body (parsed apart).
    in_macro: bool,
}

impl<'a> FileParser<'a> {
    fn run(&self) -> ParsedFile {
        let root = self.tree.root_node();
        let queries = self.language.queries();
        let matches = Matches::of(&queries.all, root, self.text.as_bytes());
        let mut found = self.find_units(matches.of_patterns(0..queries.unit_patterns));
        if let Some(inner) = self.macro_items {
            // Units inside macro bodies, in source order among the others.
            let inner = Matches::of(&queries.all, inner.root_node(), self.text.as_bytes());
            let mut more = self.find_units(inner.of_patterns(0..queries.unit_patterns));
            for f in &mut more {
                f.in_macro = true;
            }
            found.extend(more);
            found.sort_by_key(|f| (f.node.start_byte(), std::cmp::Reverse(f.node.end_byte())));
        }
        let mut decisions: Vec<usize> = matches
            .of_patterns(queries.decision_patterns..usize::MAX)
            .flat_map(|captures| captures.iter().map(|(_, node)| node.start_byte()))
            .collect();
        decisions.sort_unstable();
        let units = self.build_units(root, &found, &decisions);
        let mut imports = Vec::new();
        let refs = self.find_refs(
            matches.of_patterns(queries.unit_patterns..queries.decision_patterns),
            &found,
            &units,
            &mut imports,
        );
        if self.language == Language::JavaScript {
            self.js_imports(root, &mut imports);
        }
        ParsedFile { units, refs, imports, diagnostics: self.diagnostics(root), skipped: None }
    }

    fn text_of(&self, node: Node) -> &'a str {
        &self.text[node.byte_range()]
    }

    fn line(node: Node) -> u32 {
        node.start_position().row as u32 + 1
    }

    fn find_units<'t, 'm>(
        &self,
        matches: impl Iterator<Item = &'m [(&'static str, Node<'t>)]>,
    ) -> Vec<Found<'t>>
    where
        't: 'm,
    {
        let mut found: Vec<Found<'t>> = Vec::new();
        for captures in matches {
            let mut item = None;
            let mut name = None;
            let mut value = None;
            let mut assigned = None;
            for &(capture, node) in captures {
                match capture {
                    "name" => name = Some(node),
                    "value" => value = Some(node),
                    "assigned" => assigned = Some(node),
                    kind => item = Some((kind, node)),
                }
            }
            let Some((kind, node)) = item else { continue };
            let kind = match kind {
                "function" => UnitKind::Function,
                "method" => UnitKind::Method,
                "struct" => UnitKind::Struct,
                "enum" => UnitKind::Enum,
                "trait" => UnitKind::Trait,
                "impl" => UnitKind::Impl,
                "module" => UnitKind::Module,
                "const" => UnitKind::Const,
                "static" => UnitKind::Static,
                "macro" => UnitKind::Macro,
                "type" => UnitKind::Type,
                "class" => UnitKind::Class,
                "binding" => UnitKind::Binding,
                other => unreachable!("capture @{other} in units.scm"),
            };
            // An exported function or class is found as such already.
            if kind == UnitKind::Binding
                && value.is_some_and(|v| {
                    matches!(
                        v.kind(),
                        "arrow_function" | "function_expression" | "generator_function" | "class"
                    )
                })
            {
                continue;
            }
            let mut unit = Found {
                node,
                kind,
                name: name.map(|n| self.text_of(n).to_owned()).unwrap_or_default(),
                name_at: name.map(|n| n.start_byte()),
                impl_type: None,
                impl_trait: None,
                owner: None,
                in_macro: false,
            };
            if let Some(target) = assigned {
                // `a.b.prototype.c` → owner `a::b`, name `c`; `this.c` → `c`.
                let mut parts: Vec<&str> = self
                    .text_of(target)
                    .split('.')
                    .map(str::trim)
                    .filter(|p| !matches!(*p, "prototype" | "module" | "exports" | "this"))
                    .collect();
                let Some(last) = parts.pop() else { continue };
                let plain = |p: &str| {
                    !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$')
                };
                if !plain(last) || !parts.iter().all(|p| plain(p)) {
                    continue;
                }
                unit.name = last.to_owned();
                unit.name_at = target.child_by_field_name("property").map(|p| p.start_byte());
                if !parts.is_empty() {
                    unit.owner = Some(parts.join("::"));
                    unit.kind = UnitKind::Method;
                }
            }
            if kind == UnitKind::Impl {
                let ty = node.child_by_field_name("type").map(|t| type_name(self.text_of(t)));
                unit.impl_type = Some(ty.unwrap_or_default());
                unit.impl_trait = node.child_by_field_name("trait").map(|t| {
                    let mut segments = path_segments(self.text_of(t));
                    let last = segments.pop().unwrap_or_default();
                    (last, segments)
                });
                unit.name = match &unit.impl_trait {
                    Some((t, _)) => format!("impl {t} for {}", unit.impl_type.as_ref().unwrap()),
                    None => format!("impl {}", unit.impl_type.as_ref().unwrap()),
                };
            }
            found.push(unit);
        }
        // A binding pattern may find the same declarator as a function one.
        found.sort_by_key(|f| (f.node.start_byte(), std::cmp::Reverse(f.node.end_byte())));
        found.dedup_by(|b, a| a.node.id() == b.node.id());
        found
    }

    /// Qualifies names, nests units and fills in everything per unit.
    /// Returns the units, the file unit first and then one per found unit.
    /// `decisions`: where the decision points are (sorted), for complexity.
    fn build_units(&self, root: Node, found: &[Found], decisions: &[usize]) -> Vec<Unit> {
        let test_file = is_test_path(self.path, self.language);
        let mut units = vec![Unit {
            id: self.path.to_owned(),
            kind: UnitKind::File,
            name: self.path.rsplit('/').next().unwrap_or(self.path).to_owned(),
            qname: String::new(),
            parent: None,
            start_byte: 0,
            end_byte: self.text.len() as u32,
            start_line: 1,
            end_line: root.end_position().row as u32 + 1,
            signature: String::new(),
            doc: String::new(),
            body_hash: blake3::hash(self.text.as_bytes()).to_hex().to_string(),
            complexity: 1,
            is_test: test_file,
            exported: false,
            fields: Vec::new(),
        }];
        // Stack of (found index, unit index) of the enclosing units.
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let mut prefixes: Vec<String> = vec![String::new()];
        let mut seen: HashMap<String, u32> = HashMap::new();
        for (i, f) in found.iter().enumerate() {
            while let Some(&(top, _)) = stack.last() {
                if found[top].node.end_byte() >= f.node.end_byte()
                    && found[top].node.start_byte() <= f.node.start_byte()
                {
                    break;
                }
                stack.pop();
            }
            let parent_unit = stack.last().map_or(0, |&(_, u)| u);
            let parent_kind = units[parent_unit].kind;
            let kind = match f.kind {
                UnitKind::Function
                    if matches!(parent_kind, UnitKind::Impl | UnitKind::Trait)
                        && self.language == Language::Rust =>
                {
                    UnitKind::Method
                }
                k => k,
            };
            let prefix = &prefixes[parent_unit];
            let own = match &f.owner {
                Some(owner) => format!("{owner}::{}", f.name),
                None => f.name.clone(),
            };
            let qname = if prefix.is_empty() { own } else { format!("{prefix}::{own}") };
            // What the unit's children are qualified with.
            let child_prefix = match (&f.impl_type, kind) {
                (Some(ty), UnitKind::Impl) => {
                    if prefix.is_empty() {
                        ty.clone()
                    } else {
                        format!("{prefix}::{ty}")
                    }
                }
                _ => qname.clone(),
            };
            let base = format!("{}::{qname}", self.path);
            let n = seen.entry(base.clone()).and_modify(|n| *n += 1).or_insert(1);
            let id = if *n > 1 { format!("{base}#{n}") } else { base };
            let node = f.node;
            let is_test =
                test_file || (kind == UnitKind::Function && self.has_test_attribute(node));
            units.push(Unit {
                id,
                kind,
                name: f.name.clone(),
                qname,
                parent: Some(units[parent_unit].id.clone()),
                start_byte: node.start_byte() as u32,
                end_byte: node.end_byte() as u32,
                start_line: Self::line(node),
                end_line: node.end_position().row as u32 + 1,
                signature: self.signature(node),
                doc: self.doc(node),
                body_hash: blake3::hash(self.text_of(node).as_bytes()).to_hex().to_string(),
                // Of code that runs; a container's would count its
                // members again.
                complexity: match kind {
                    UnitKind::Function | UnitKind::Method if f.in_macro => self.complexity(node),
                    UnitKind::Function | UnitKind::Method => {
                        let inside = decisions.partition_point(|&d| d < node.end_byte())
                            - decisions.partition_point(|&d| d < node.start_byte());
                        1 + inside as u32
                    }
                    _ => 1,
                },
                is_test,
                exported: self.exported(node),
                fields: if kind == UnitKind::Struct { self.fields_of(node) } else { Vec::new() },
            });
            prefixes.push(child_prefix);
            stack.push((i, units.len() - 1));
        }
        units
    }

    /// The references of a file; for Rust, also its imports (the same
    /// query finds them).
    fn find_refs<'t, 'm>(
        &self,
        matches: impl Iterator<Item = &'m [(&'static str, Node<'t>)]>,
        found: &[Found],
        units: &[Unit],
        imports: &mut Vec<Import>,
    ) -> Vec<Ref>
    where
        't: 'm,
    {
        let spans = Spans::of(found);
        let defining: std::collections::HashSet<usize> =
            found.iter().filter_map(|f| f.name_at).collect();
        // Keyed by the name node, so that two patterns matching one name
        // (a type with and without its path) give one reference.
        let mut by_node: HashMap<usize, Ref> = HashMap::new();
        let mut macro_args: Vec<Node> = Vec::new();
        for captures in matches {
            let mut name = None;
            let mut path = None;
            let mut receiver = None;
            let mut kind = None;
            let (mut decl, mut use_tree, mut mod_name) = (None, None, None);
            for &(capture, node) in captures {
                match capture {
                    "macro.args" => macro_args.push(node),
                    "use.decl" | "mod.decl" => decl = Some(node),
                    "use.tree" => use_tree = Some(node),
                    "mod.name" => mod_name = Some(node),
                    "call.name" => (name, kind) = (Some(node), Some(RefKind::Call)),
                    "call.method" => (name, kind) = (Some(node), Some(RefKind::MethodCall)),
                    "call.super" => {
                        (name, kind) = (Some(node), Some(RefKind::MethodCall));
                        receiver = Some(node);
                    }
                    "macro.name" => (name, kind) = (Some(node), Some(RefKind::Macro)),
                    "type.name" => (name, kind) = (Some(node), Some(RefKind::Type)),
                    "extends.name" => (name, kind) = (Some(node), Some(RefKind::Implements)),
                    "call.path" | "type.path" => path = Some(node),
                    "call.receiver" => receiver = Some(node),
                    other => unreachable!("capture @{other} in refs.scm"),
                }
            }
            match (decl, use_tree, mod_name) {
                (Some(decl), Some(tree), _) => self.use_tree(tree, &[], Self::line(decl), imports),
                (Some(decl), _, Some(name)) => {
                    let name = self.text_of(name).to_owned();
                    imports.push(Import {
                        kind: ImportKind::Mod,
                        local: name.clone(),
                        path: vec![name],
                        line: Self::line(decl),
                    });
                }
                _ => {}
            }
            let (Some(name), Some(kind)) = (name, kind) else { continue };
            if kind == RefKind::Type && defining.contains(&name.start_byte()) {
                continue;
            }
            // `super(…)` calls the extended class's constructor.
            let text = match name.kind() {
                "super" => "constructor".to_owned(),
                _ => self.text_of(name).to_owned(),
            };
            if kind == RefKind::Call && text == "require" && self.language == Language::JavaScript {
                continue; // an import, read by js_imports
            }
            let path_segments = path.map(|p| path_segments(self.text_of(p))).unwrap_or_default();
            if kind == RefKind::Type && path.is_none() && by_node.contains_key(&name.start_byte()) {
                continue;
            }
            // `self`/`this`, or a plain name (a module bound by require).
            let receiver = receiver
                .filter(|r| match r.kind() {
                    "self" | "this" | "identifier" | "super" => true,
                    // `self.field`, `x.field` (Rust)
                    "field_expression" => {
                        r.child_by_field_name("value")
                            .is_some_and(|v| matches!(v.kind(), "self" | "identifier"))
                            && r.child_by_field_name("field")
                                .is_some_and(|f| f.kind() == "field_identifier")
                    }
                    _ => false,
                })
                .map(|r| self.text_of(r).to_owned());
            let from = spans.enclosing(name.start_byte());
            by_node.insert(
                name.start_byte(),
                Ref {
                    from,
                    kind,
                    name: text,
                    path: path_segments,
                    receiver,
                    receiver_type: None,
                    line: Self::line(name),
                },
            );
        }
        imports.sort_by_key(|i| i.line);
        let mut refs: Vec<Ref> = by_node.into_values().collect();
        // Calls inside macro arguments (`assert_eq!(f(x), 1)`): tree-sitter
        // keeps those as token trees, so they are read token by token.
        for args in macro_args {
            self.token_tree_refs(args, &spans, &mut refs);
        }
        // `impl Trait for Type`: the impl implements the trait.
        for (i, f) in found.iter().enumerate() {
            if let Some((name, path)) = &f.impl_trait {
                refs.push(Ref {
                    from: i + 1,
                    kind: RefKind::Implements,
                    name: name.clone(),
                    path: path.clone(),
                    receiver: None,
                    receiver_type: None,
                    line: Self::line(f.node),
                });
            }
        }
        refs.retain(|r| !r.name.is_empty() && r.from < units.len());
        self.type_receivers(found, units, &spans, &mut refs);
        refs.sort();
        // One reference per unit, kind and target is enough for the graph.
        refs.dedup_by(|b, a| {
            (a.from, a.kind, &a.name, &a.path, &a.receiver)
                == (b.from, b.kind, &b.name, &b.path, &b.receiver)
        });
        refs
    }

    /// Gives method calls the receiver's declared type where the code says
    /// it: a plain name (see `typed_names`), `self.field` (the field's type
    /// in the struct of this file), `super(…)` (the class extended).
    fn type_receivers(&self, found: &[Found], units: &[Unit], spans: &Spans, refs: &mut [Ref]) {
        let returns = self.return_types(found);
        // The fields of this file's structs, with their types.
        let fields: HashMap<(String, String), String> = units
            .iter()
            .filter(|u| u.kind == UnitKind::Struct)
            .flat_map(|u| u.fields.iter().map(|(f, t)| ((u.name.clone(), f.clone()), t.clone())))
            .collect();
        let mut typed: HashMap<usize, HashMap<String, String>> = HashMap::new();
        for r in refs.iter_mut() {
            let Some(receiver) = r.receiver.clone() else { continue };
            if r.kind != RefKind::MethodCall || matches!(receiver.as_str(), "self" | "this") {
                continue;
            }
            let mut unit = r.from;
            while unit > 0 {
                let f = &found[unit - 1];
                if receiver == "super" && f.kind == UnitKind::Class {
                    r.receiver_type = self.extended_class(f.node);
                    break;
                }
                // `self.field`: the field's type if the struct is in this
                // file, else `Type.field` for resolution to look up.
                if let (Some(field), Some(owner)) = (receiver.strip_prefix("self."), &f.impl_type) {
                    r.receiver_type = Some(
                        fields
                            .get(&(owner.clone(), field.to_owned()))
                            .cloned()
                            .unwrap_or_else(|| format!("{owner}.{field}")),
                    );
                    break;
                }
                // Names are declared in functions; a container's would be
                // those of all its functions at once (and cost a walk of it).
                if !matches!(f.kind, UnitKind::Function | UnitKind::Method) {
                    unit = spans.parent[unit];
                    continue;
                }
                let names = typed.entry(unit).or_insert_with(|| self.typed_names(f.node, &returns));
                // `x.field` where x has a declared type: `Type.field`.
                if let Some((var, field)) = receiver.split_once('.')
                    && let Some(t) = names.get(var)
                {
                    r.receiver_type = Some(
                        fields
                            .get(&(t.clone(), field.to_owned()))
                            .cloned()
                            .unwrap_or_else(|| format!("{t}.{field}")),
                    );
                    break;
                }
                if let Some(t) = names.get(&receiver) {
                    r.receiver_type = Some(t.clone());
                    break;
                }
                unit = spans.parent[unit];
            }
        }
    }

    /// `class A extends B`: B.
    fn extended_class(&self, class: Node) -> Option<String> {
        let mut cursor = class.walk();
        let heritage = class.named_children(&mut cursor).find(|c| c.kind() == "class_heritage")?;
        let mut cursor = heritage.walk();
        let parent = heritage.named_children(&mut cursor).find(|c| c.kind() == "identifier")?;
        Some(self.text_of(parent).to_owned())
    }

    /// A Rust struct's named fields and their types.
    fn fields_of(&self, node: Node) -> Vec<(String, String)> {
        let Some(body) = node.child_by_field_name("body") else { return Vec::new() };
        let mut cursor = body.walk();
        body.named_children(&mut cursor)
            .filter_map(|field| {
                let name = field.child_by_field_name("name")?;
                let ty = field.child_by_field_name("type")?;
                Some((self.text_of(name).to_owned(), type_name(self.text_of(ty))))
            })
            .collect()
    }

    /// JavaScript: the return types JSDoc declares (`@returns {T}`), by
    /// function or method name.
    fn return_types(&self, found: &[Found]) -> HashMap<String, String> {
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

    /// Names a unit declares with a type: parameters, `let x: T`,
    /// `let x = T::new(..)` / `T { .. }`, `new T()`, JSDoc `@param {T} x`,
    /// and `const x = this.m()` / `f()` where m or f declares `@returns {T}`.
    fn typed_names(
        &self,
        unit: Node,
        returns: &HashMap<String, String>,
    ) -> HashMap<String, String> {
        let mut out = HashMap::new();
        if self.language == Language::JavaScript {
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
        // Every node below the unit in one cursor walk, children before
        // their parent (postorder); of two declarations of a name the
        // first one seen here wins, and wins over the JSDoc.
        let mut declared = HashMap::new();
        let mut cursor = unit.walk();
        'walk: loop {
            while cursor.goto_first_child() {}
            loop {
                self.typed_name(cursor.node(), returns, &mut declared);
                if cursor.goto_next_sibling() {
                    continue 'walk;
                }
                if !cursor.goto_parent() {
                    break 'walk;
                }
            }
        }
        out.extend(declared);
        out
    }

    /// One node's part of `typed_names`.
    fn typed_name(
        &self,
        node: Node,
        returns: &HashMap<String, String>,
        out: &mut HashMap<String, String>,
    ) {
        let is_type = |t: &str| t.chars().next().is_some_and(|c| c.is_uppercase());
        fn field<'t>(n: Node<'t>, f: &str) -> Option<Node<'t>> {
            n.child_by_field_name(f)
        }
        match node.kind() {
            "parameter" => {
                if let (Some(p), Some(t)) = (field(node, "pattern"), field(node, "type"))
                    && p.kind() == "identifier"
                {
                    out.entry(self.text_of(p).to_owned())
                        .or_insert_with(|| type_name(self.text_of(t)));
                }
            }
            "let_declaration" => {
                let pattern = field(node, "pattern").filter(|p| p.kind() == "identifier");
                let ty = field(node, "type").map(|t| type_name(self.text_of(t))).or_else(|| {
                    let value = field(node, "value")?;
                    match value.kind() {
                        "call_expression" => {
                            let path = field(field(value, "function")?, "path")?;
                            Some(type_name(self.text_of(path)))
                        }
                        "struct_expression" => Some(type_name(self.text_of(field(value, "name")?))),
                        _ => None,
                    }
                });
                if let (Some(p), Some(t)) = (pattern, ty)
                    && is_type(&t)
                {
                    out.entry(self.text_of(p).to_owned()).or_insert(t);
                }
            }
            "variable_declarator" => {
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
            _ => {}
        }
    }

    fn token_tree_refs(&self, tree: Node, spans: &Spans, out: &mut Vec<Ref>) {
        let mut cursor = tree.walk();
        let tokens: Vec<Node> = tree.children(&mut cursor).collect();
        let ident = |n: &Node| matches!(n.kind(), "identifier" | "self" | "super" | "crate");
        let mut i = 0;
        while i < tokens.len() {
            let t = tokens[i];
            if t.kind() == "token_tree" {
                self.token_tree_refs(t, spans, out);
                i += 1;
                continue;
            }
            if !ident(&t) {
                i += 1;
                continue;
            }
            let mut segments = vec![self.text_of(t).to_owned()];
            let mut j = i + 1;
            while j + 1 < tokens.len() && tokens[j].kind() == "::" && ident(&tokens[j + 1]) {
                segments.push(self.text_of(tokens[j + 1]).to_owned());
                j += 2;
            }
            let next = tokens.get(j);
            let after_dot = i >= 1 && tokens[i - 1].kind() == ".";
            let name = segments.pop().unwrap_or_default();
            let from = spans.enclosing(t.start_byte());
            let line = Self::line(t);
            let mut push = |kind, path, receiver| {
                out.push(Ref {
                    from,
                    kind,
                    name: name.clone(),
                    path,
                    receiver,
                    receiver_type: None,
                    line,
                })
            };
            match next {
                Some(n) if n.kind() == "token_tree" && self.text_of(*n).starts_with('(') => {
                    if after_dot && segments.is_empty() {
                        let receiver = (i >= 2 && ident(&tokens[i - 2]))
                            .then(|| self.text_of(tokens[i - 2]).to_owned());
                        push(RefKind::MethodCall, Vec::new(), receiver);
                    } else if !after_dot {
                        push(RefKind::Call, segments, None);
                    }
                }
                Some(n) if n.kind() == "!" && segments.is_empty() => {
                    push(RefKind::Macro, Vec::new(), None)
                }
                _ => {}
            }
            i = j;
        }
    }

    fn use_tree(&self, node: Node, prefix: &[String], line: u32, out: &mut Vec<Import>) {
        let joined = |extra: &str| {
            let mut p = prefix.to_vec();
            p.extend(path_segments(extra));
            p
        };
        match node.kind() {
            "use_list" => {
                let mut cursor = node.walk();
                for child in node.named_children(&mut cursor) {
                    self.use_tree(child, prefix, line, out);
                }
            }
            "scoped_use_list" => {
                let path = node.child_by_field_name("path").map(|p| self.text_of(p)).unwrap_or("");
                let prefix = joined(path);
                if let Some(list) = node.child_by_field_name("list") {
                    self.use_tree(list, &prefix, line, out);
                }
            }
            "use_as_clause" => {
                let path = node.child_by_field_name("path").map(|p| self.text_of(p)).unwrap_or("");
                let alias =
                    node.child_by_field_name("alias").map(|a| self.text_of(a)).unwrap_or("");
                out.push(Import {
                    kind: ImportKind::Use,
                    local: alias.to_owned(),
                    path: joined(path),
                    line,
                });
            }
            "use_wildcard" => {
                let text = self.text_of(node).trim_end_matches('*').trim_end_matches("::");
                out.push(Import {
                    kind: ImportKind::Use,
                    local: "*".into(),
                    path: joined(text),
                    line,
                });
            }
            _ => {
                // identifier, scoped_identifier, self, crate, super
                let mut path = joined(self.text_of(node));
                if path.last().is_some_and(|s| s == "self") {
                    path.pop(); // `use a::b::{self}` imports `b`
                }
                if let Some(local) = path.last().cloned() {
                    out.push(Import { kind: ImportKind::Use, local, path, line });
                }
            }
        }
    }

    fn js_imports(&self, root: Node, out: &mut Vec<Import>) {
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
                            });
                        }
                        for (local, imported) in locals {
                            out.push(Import {
                                kind: ImportKind::Require,
                                local,
                                path: vec![spec.clone(), imported],
                                line: Self::line(node),
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
    fn binding_names(&self, pattern: Node) -> Vec<(String, String)> {
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

    fn js_import(&self, node: Node, out: &mut Vec<Import>) {
        let Some(source) = node.child_by_field_name("source") else { return };
        let spec = string_value(self.text_of(source));
        let line = Self::line(node);
        let mut push = |local: &str, imported: &str| {
            out.push(Import {
                kind: ImportKind::Import,
                local: local.to_owned(),
                path: vec![spec.clone(), imported.to_owned()],
                line,
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

    fn diagnostics(&self, root: Node) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if !root.has_error() {
            return out;
        }
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            if out.len() >= MAX_DIAGNOSTICS {
                break;
            }
            if node.is_error() {
                let snippet: String = self.text_of(node).chars().take(40).collect();
                out.push(Diagnostic {
                    line: Self::line(node),
                    message: format!("syntax error at {:?}", snippet.trim()),
                });
                continue;
            }
            if node.is_missing() {
                out.push(Diagnostic {
                    line: Self::line(node),
                    message: format!("missing {}", node.kind()),
                });
                continue;
            }
            if node.has_error() {
                let mut cursor = node.walk();
                let children: Vec<Node> = node.children(&mut cursor).collect();
                stack.extend(children.into_iter().rev());
            }
        }
        out.sort_by_key(|d| d.line);
        out
    }

    /// The node that carries a unit's doc comment and export: for a
    /// JavaScript declarator, its declaration (and the export around it).
    fn anchor<'t>(&self, node: Node<'t>) -> Node<'t> {
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

    /// The lines above a Rust item, nearest first, when the item starts
    /// its line; `None` when something else precedes it on that line.
    fn lines_above(&self, node: Node) -> Option<impl Iterator<Item = &'a str>> {
        let before = &self.text[..node.start_byte()];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        if !before[line_start..].trim().is_empty() {
            return None;
        }
        Some(before[..line_start].lines().rev().map(str::trim))
    }

    /// A Rust item's doc comment read from the text above it, when every
    /// line between is plain (`///`, `//`, a one-line attribute, blank);
    /// `None` leaves it to the syntax tree. Walking siblings back in the
    /// tree is linear in the siblings before, for every item of a file.
    fn doc_from_text(&self, node: Node) -> Option<String> {
        let mut lines: Vec<&str> = Vec::new();
        for line in self.lines_above(node)? {
            if line.is_empty() || (line.starts_with("#[") && line.ends_with(']')) {
                continue;
            }
            if line.starts_with("///") && !line.starts_with("////") {
                lines.push(line.trim_start_matches("///").trim());
                continue;
            }
            if line.starts_with("//") || line.ends_with(['{', '}', ';', ',']) {
                break;
            }
            return None;
        }
        lines.reverse();
        Some(lines.join("\n").trim().to_owned())
    }

    fn doc(&self, node: Node) -> String {
        if self.language == Language::Rust
            && let Some(doc) = self.doc_from_text(node)
        {
            return doc;
        }
        let mut lines: Vec<String> = Vec::new();
        let mut prev = self.anchor(node).prev_sibling();
        while let Some(p) = prev {
            let text = self.text_of(p);
            match p.kind() {
                "attribute_item" => {}
                "line_comment" if text.starts_with("///") && !text.starts_with("////") => {
                    lines.push(text.trim_start_matches("///").trim().to_owned());
                }
                "block_comment" | "comment" if text.starts_with("/**") => {
                    let body = text.trim_start_matches("/**").trim_end_matches("*/");
                    let cleaned: Vec<&str> = body
                        .lines()
                        .map(|l| l.trim().trim_start_matches('*').trim())
                        .filter(|l| !l.is_empty())
                        .collect();
                    lines.push(cleaned.join("\n"));
                    break; // one block comment is the whole doc
                }
                _ => break,
            }
            prev = p.prev_sibling();
        }
        lines.reverse();
        lines.join("\n").trim().to_owned()
    }

    fn has_test_attribute(&self, node: Node) -> bool {
        // From the text when the lines above are plain (see doc_from_text).
        if let Some(lines) = self.lines_above(node) {
            for line in lines {
                if line.is_empty() || line.starts_with("//") {
                    continue;
                }
                if line.starts_with("#[") && line.ends_with(']') {
                    let inner = line.trim_start_matches("#[").trim_end_matches(']');
                    let path = inner.split('(').next().unwrap_or("").trim();
                    if path.rsplit("::").next() == Some("test") {
                        return true;
                    }
                    continue;
                }
                if line.ends_with(['{', '}', ';', ',']) {
                    return false;
                }
                break;
            }
        }
        let mut prev = node.prev_sibling();
        while let Some(p) = prev {
            match p.kind() {
                "attribute_item" => {
                    let inner = self.text_of(p).trim_start_matches("#[").trim_end_matches(']');
                    let path = inner.split('(').next().unwrap_or("").trim();
                    if path.rsplit("::").next() == Some("test") {
                        return true;
                    }
                }
                "line_comment" | "block_comment" => {}
                _ => return false,
            }
            prev = p.prev_sibling();
        }
        false
    }

    fn exported(&self, node: Node) -> bool {
        match self.language {
            Language::Rust => {
                let mut cursor = node.walk();
                node.children(&mut cursor).any(|c| c.kind() == "visibility_modifier")
            }
            Language::JavaScript => self.anchor(node).kind() == "export_statement",
        }
    }

    fn signature(&self, node: Node) -> String {
        // For a declarator (`const f = (a) => …`) the function's body ends it.
        let body_holder = match node.kind() {
            "variable_declarator" => node.child_by_field_name("value").unwrap_or(node),
            "assignment_expression" => node.child_by_field_name("right").unwrap_or(node),
            _ => node,
        };
        let end = body_holder
            .child_by_field_name("body")
            .map_or(node.end_byte(), |b| b.start_byte())
            .max(node.start_byte());
        let raw = &self.text[node.start_byte()..end];
        let mut out = String::with_capacity(raw.len().min(MAX_SIGNATURE));
        for word in raw.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        let out = out.trim_end_matches(['{', ';', '=']).trim_end().to_owned();
        if out.len() > MAX_SIGNATURE {
            let mut cut = MAX_SIGNATURE;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}…", &out[..cut])
        } else {
            out
        }
    }

    /// A function of a macro body: its decision points by walking it (the
    /// file's query does not see inside macro bodies).
    fn complexity(&self, node: Node) -> u32 {
        let mut n = 1u32;
        let mut stack = vec![node];
        while let Some(x) = stack.pop() {
            n += match x.kind() {
                "if_expression" | "while_expression" | "for_expression" | "if_statement"
                | "for_statement" | "for_in_statement" | "while_statement" | "do_statement"
                | "catch_clause" | "ternary_expression" | "match_arm" | "switch_case" => 1,
                "binary_expression" => {
                    let op = x.child_by_field_name("operator").map(|o| self.text_of(o));
                    u32::from(matches!(op, Some("&&" | "||" | "??")))
                }
                _ => 0,
            };
            let mut cursor = x.walk();
            stack.extend(x.named_children(&mut cursor));
        }
        n
    }
}

/// Where the found units are, read once (each read of a node's bytes is a
/// call into tree-sitter), with each unit's enclosing unit. Unit indices:
/// 0 is the file, i + 1 the i-th found unit.
struct Spans {
    starts: Vec<usize>,
    ends: Vec<usize>,
    parent: Vec<usize>,
}

impl Spans {
    fn of(found: &[Found]) -> Spans {
        let starts: Vec<usize> = found.iter().map(|f| f.node.start_byte()).collect();
        let ends: Vec<usize> = found.iter().map(|f| f.node.end_byte()).collect();
        let mut parent = vec![0; found.len() + 1];
        let mut stack: Vec<usize> = Vec::new();
        for i in 0..found.len() {
            while let Some(&top) = stack.last() {
                if ends[top] >= ends[i] && starts[top] <= starts[i] {
                    break;
                }
                stack.pop();
            }
            parent[i + 1] = stack.last().map_or(0, |&t| t + 1);
            stack.push(i);
        }
        Spans { starts, ends, parent }
    }

    /// The innermost unit containing byte `at` (0, the file, when none):
    /// the last unit starting at or before it, or the first of its
    /// enclosing units that reaches past it.
    fn enclosing(&self, at: usize) -> usize {
        let mut unit = self.starts.partition_point(|&s| s <= at);
        while unit > 0 && self.ends[unit - 1] <= at {
            unit = self.parent[unit];
        }
        unit
    }
}

/// `a::b::<T>::c` → [a, b, c]; generics and whitespace dropped.
pub fn path_segments(text: &str) -> Vec<String> {
    let mut depth = 0usize;
    let mut clean = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            c if depth == 0 && !c.is_whitespace() => clean.push(c),
            _ => {}
        }
    }
    clean.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The type an impl is for, as its bare name: `Foo<T>` → `Foo`,
/// `&'a mut crate::x::Foo` → `Foo`.
fn type_name(text: &str) -> String {
    let segments = path_segments(text.trim_start_matches(['&', '*']).trim());
    let last = segments.last().cloned().unwrap_or_default();
    last.rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("").to_owned()
}

/// The type in a JSDoc tag's `{…}` when it is one class name:
/// `{Command | undefined}` → Command, `{import('./x').Help}` → Help.
fn jsdoc_type(tag: &str) -> Option<String> {
    let inner = tag.trim().strip_prefix('{')?.split_once('}')?.0;
    let first = inner.split('|').next()?.trim().trim_matches(['?', '!', '=']);
    let name = first.rsplit('.').next()?.trim();
    let is_class = name.chars().next().is_some_and(|c| c.is_uppercase())
        && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$');
    is_class.then(|| name.to_owned())
}

/// A JavaScript string literal's value (quotes dropped; escapes kept).
fn string_value(text: &str) -> String {
    text.trim_matches(|c| c == '"' || c == '\'' || c == '`').to_owned()
}

/// Files whose every unit counts as a test.
pub fn is_test_path(path: &str, language: Language) -> bool {
    let in_dir =
        |dir: &str| path.starts_with(&format!("{dir}/")) || path.contains(&format!("/{dir}/"));
    match language {
        Language::Rust => in_dir("tests"),
        Language::JavaScript => {
            let name = path.rsplit('/').next().unwrap_or(path);
            in_dir("__tests__")
                || [".test.", ".spec."].iter().any(|m| name.contains(m))
                || in_dir("test")
        }
    }
}
