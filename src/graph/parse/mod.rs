//! One file's bytes into units, references and imports. Never fails: a file
//! that is binary, not UTF-8 or huge is skipped with a reason, and syntax
//! errors are kept as diagnostics beside whatever did parse.

use std::cell::RefCell;
use std::collections::HashMap;

use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, Parser, QueryCursor, Tree};

use super::javascript::{self, is_module_exports};
use super::python;
use super::resolve::module_name;
use super::rust::{self, path_segments, type_name};
use super::scope;
use super::{
    Diagnostic, Import, ImportKind, Language, MAX_PARSE_BYTES, ParsedFile, Ref, RefKind, Unit,
    UnitKind,
};

mod refs;

pub(super) use refs::Spans;

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
        let bodies = match language {
            Language::Rust => rust::macro_item_bodies(&tree),
            _ => Vec::new(),
        };
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
    let mut parsed =
        FileParser { path, text, language, tree: &tree, macro_items: inner.as_ref() }.run();
    parsed.shrink_to_fit();
    parsed
}

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

pub(super) struct FileParser<'a> {
    pub(super) path: &'a str,
    pub(super) text: &'a str,
    pub(super) language: Language,
    tree: &'a Tree,
    /// The bodies of item-level macros parsed as code (Rust), if any.
    macro_items: Option<&'a Tree>,
}

/// A unit as the query found it, before names are qualified.
pub(super) struct Found<'t> {
    pub(super) node: Node<'t>,
    pub(super) kind: UnitKind,
    pub(super) name: String,
    /// Start of the name node, so that a type reference at the very name
    /// that defines it is not counted as a reference.
    name_at: Option<usize>,
    /// Rust impl: the implemented type, and the trait if any.
    pub(super) impl_type: Option<String>,
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
        let mut units = self.build_units(root, &found, &decisions);
        if self.language == Language::Python
            && let Some(file) = units.first_mut()
        {
            file.fields = self.py_module_fields(root);
        }
        let mut imports = Vec::new();
        let refs = self.find_refs(
            matches.of_patterns(queries.unit_patterns..queries.decision_patterns),
            &found,
            &units,
            &mut imports,
        );
        if let Some(inner) = self.macro_items {
            // `use` and `mod` inside macro bodies (`cfg_rt! { mod spawn; pub
            // use spawn::spawn; }`); their calls were found in the tokens.
            let inner = Matches::of(&queries.all, inner.root_node(), self.text.as_bytes());
            let _ = self.find_refs(
                inner.of_patterns(queries.unit_patterns..queries.decision_patterns),
                &found,
                &units,
                &mut imports,
            );
            imports.sort_by_key(|i| i.line);
        }
        if self.language == Language::Rust {
            rust::qualify_imported_types(self.path, &mut units, &imports);
        }

        if self.language.is_js() {
            self.js_imports(root, &mut imports);
            self.js_exports(root, &units, &mut imports);
        }
        if self.language == Language::Python {
            self.py_imports(root, &mut imports);
        }
        ParsedFile { units, refs, imports, diagnostics: self.diagnostics(root), skipped: None }
    }

    pub(super) fn text_of(&self, node: Node) -> &'a str {
        &self.text[node.byte_range()]
    }

    pub(super) fn line(node: Node) -> u32 {
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
            let kind = unit_kind(kind);
            // Python: a decorated definition spans its decorators.
            let node = match node.parent() {
                Some(p) if p.kind() == "decorated_definition" => p,
                _ => node,
            };
            // `export default (…) => …`: named after its module.
            let default_name = (name.is_none()
                && node.parent().is_some_and(|p| p.kind() == "export_statement"))
            .then(|| module_name(self.path).to_owned());
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
                name: name.map(|n| self.text_of(n).to_owned()).or(default_name).unwrap_or_default(),
                name_at: name.map(|n| n.start_byte()),
                impl_type: None,
                impl_trait: None,
                owner: None,
                in_macro: false,
            };
            if let Some(target) = assigned
                && !self.name_by_assignment(&mut unit, target)
            {
                continue;
            }
            if kind == UnitKind::Impl {
                self.name_impl(&mut unit);
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
    /// A unit assigned to a member (`a.b.prototype.c = function…`): owner
    /// `a::b`, name `c`; `this.c` → `c`. False when the target is not a
    /// plain dotted name (then it is no unit).
    fn name_by_assignment(&self, unit: &mut Found, target: Node) -> bool {
        if is_module_exports(self.text_of(target)) {
            // `module.exports = function [name] (…) {…}`: the module's
            // default export, named after itself or its module.
            let own =
                unit.node.child_by_field_name("right").and_then(|r| r.child_by_field_name("name"));
            unit.name = match own {
                Some(n) => self.text_of(n).to_owned(),
                None => module_name(self.path).to_owned(),
            };
            unit.name_at = own.map(|n| n.start_byte());
            return true;
        }
        let mut parts: Vec<&str> = self
            .text_of(target)
            .split('.')
            .map(str::trim)
            .filter(|p| !matches!(*p, "prototype" | "module" | "exports" | "this"))
            .collect();
        let Some(last) = parts.pop() else { return false };
        let plain = |p: &str| {
            !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        };
        if !plain(last) || !parts.iter().all(|p| plain(p)) {
            return false;
        }
        unit.name = last.to_owned();
        unit.name_at = target.child_by_field_name("property").map(|p| p.start_byte());
        if !parts.is_empty() {
            unit.owner = Some(parts.join("::"));
            unit.kind = UnitKind::Method;
        }
        true
    }

    /// An `impl` is named after its type and trait: `impl Trait for Type`.
    fn name_impl(&self, unit: &mut Found) {
        let node = unit.node;
        let ty = node.child_by_field_name("type").map(|t| type_name(self.text_of(t)));
        let ty = ty.unwrap_or_default();
        unit.impl_trait = node.child_by_field_name("trait").map(|t| {
            let mut segments = path_segments(self.text_of(t));
            let last = segments.pop().unwrap_or_default();
            (last, segments)
        });
        unit.name = match &unit.impl_trait {
            Some((t, _)) => format!("impl {t} for {ty}"),
            None => format!("impl {ty}"),
        };
        unit.impl_type = Some(ty);
    }

    /// The file itself, as the first unit (the parent of its top level).
    fn file_unit(&self, root: Node) -> Unit {
        Unit {
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
            is_test: is_test_path(self.path, self.language),
            exported: false,
            fields: Vec::new(),
            returns: String::new(),
            closure_args: Vec::new(),
        }
    }

    /// A unit's cyclomatic complexity: of code that runs (a container's
    /// would count its members again). `decisions` are the file's decision
    /// points' offsets, sorted.
    fn complexity_of(&self, kind: UnitKind, f: &Found, decisions: &[usize]) -> u32 {
        let node = f.node;
        match kind {
            UnitKind::Function | UnitKind::Method if f.in_macro => self.complexity(node),
            UnitKind::Function | UnitKind::Method => {
                let inside = decisions.partition_point(|&d| d < node.end_byte())
                    - decisions.partition_point(|&d| d < node.start_byte());
                1 + inside as u32
            }
            _ => 1,
        }
    }

    /// A function is a method inside a Rust impl or trait, or a Python class.
    fn kind_within(&self, kind: UnitKind, parent: UnitKind) -> UnitKind {
        let method = match self.language {
            Language::Rust => matches!(parent, UnitKind::Impl | UnitKind::Trait),
            Language::Python => parent == UnitKind::Class,
            _ => false,
        };
        if kind == UnitKind::Function && method { UnitKind::Method } else { kind }
    }

    fn build_units(&self, root: Node, found: &[Found], decisions: &[usize]) -> Vec<Unit> {
        let mut units = vec![self.file_unit(root)];
        let test_file = units[0].is_test;
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
            let kind = self.kind_within(f.kind, parent_kind);
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
                complexity: self.complexity_of(kind, f, decisions),
                is_test,
                exported: self.exported(node),
                fields: match kind {
                    UnitKind::Struct => self.fields_of(node),
                    UnitKind::Enum if self.language == Language::Rust => self.fields_of(node),
                    UnitKind::Class => self.class_fields(node),
                    _ => Vec::new(),
                },
                returns: String::new(),
                closure_args: Vec::new(),
            });
            let parent = stack.last().map(|&(top, _)| &found[top]);
            let self_type = parent.and_then(|p| p.impl_type.as_deref());
            self.types_of(units.last_mut().expect("just pushed"), node, self_type);
            prefixes.push(child_prefix);
            stack.push((i, units.len() - 1));
        }
        units
    }

    /// The import a `use` or `mod` declaration makes, if the match is one.
    fn declared_import(
        &self,
        decl: Option<Node>,
        use_tree: Option<Node>,
        mod_name: Option<Node>,
        imports: &mut Vec<Import>,
    ) {
        match (decl, use_tree, mod_name) {
            (Some(decl), Some(tree), _) => {
                let first = imports.len();
                self.use_tree(tree, &[], Self::line(decl), imports);
                let at_top = decl.parent().is_some_and(|p| p.kind() == "source_file");
                if at_top && self.rust_exported(decl) {
                    for import in &mut imports[first..] {
                        import.public = true;
                    }
                }
            }
            (Some(decl), _, Some(name)) => {
                let name = self.text_of(name).to_owned();
                imports.push(Import {
                    kind: ImportKind::Mod,
                    local: name.clone(),
                    path: vec![name],
                    line: Self::line(decl),
                    public: false,
                });
            }
            _ => {}
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

    /// A unit's doc comment: `///` lines or one `/** … */` block above it
    /// (above a JavaScript declarator's declaration or export).
    pub(super) fn doc(&self, node: Node) -> String {
        let anchor = match self.language {
            Language::Rust => match self.doc_from_text(node) {
                Some(doc) => return doc,
                None => node,
            },
            Language::Python => return self.docstring(node),
            _ => self.anchor(node),
        };
        let mut lines: Vec<String> = Vec::new();
        let mut prev = anchor.prev_sibling();
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

    fn exported(&self, node: Node) -> bool {
        match self.language {
            Language::Rust => self.rust_exported(node),
            Language::Python => self.py_exported(node),
            _ => self.js_exported(node),
        }
    }

    fn signature(&self, node: Node) -> String {
        // For a declarator (`const f = (a) => …`) the function's body ends it.
        let body_holder = match node.kind() {
            "variable_declarator" => node.child_by_field_name("value").unwrap_or(node),
            "decorated_definition" => node.child_by_field_name("definition").unwrap_or(node),
            "assignment_expression" => node.child_by_field_name("right").unwrap_or(node),
            _ => node,
        };
        // Up to the body, without the comments just before it (`class
        // Config(dict):  # type: ignore`).
        let end = match body_holder.child_by_field_name("body") {
            Some(body) => {
                let mut end = body.start_byte();
                let mut before = body.prev_sibling();
                while let Some(comment) = before.filter(|p| p.is_extra()) {
                    end = comment.start_byte();
                    before = comment.prev_sibling();
                }
                end
            }
            None => node.end_byte(),
        }
        .max(node.start_byte());
        let raw = &self.text[node.start_byte()..end];
        let mut out = String::with_capacity(raw.len().min(MAX_SIGNATURE));
        for word in raw.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        let out = out.trim_end_matches(['{', ';', '=', ':']).trim_end().to_owned();
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

/// Files whose every unit counts as a test.
pub fn is_test_path(path: &str, language: Language) -> bool {
    match language {
        Language::Rust => rust::is_test_path(path),
        Language::Python => python::is_test_path(path),
        _ => javascript::is_test_path(path),
    }
}

/// The kind of unit a units.scm capture names.
fn unit_kind(capture: &str) -> UnitKind {
    match capture {
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
        "interface" => UnitKind::Interface,
        other => unreachable!("capture @{other} in units.scm"),
    }
}
