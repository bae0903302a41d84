//! Rust: what of a file's syntax tree only Rust has. Items inside
//! item-level macros, `use` trees, calls inside macro arguments, struct
//! fields, doc comments and `#[test]` read from the text above an item,
//! and the declared types of names. `parse` calls these where a language
//! differs; `resolve` has Rust's module paths.

use tree_sitter::{Node, Tree};

use super::parse::{FileParser, Spans};
use super::resolve::{Confidence, FileContext, Found, Symbol, is_std, one};
use super::types::{MAX_CHAIN, Ty};
use super::{Import, ImportKind, Ref, RefKind, Unit, UnitKind};

impl<'a> FileParser<'a> {
    /// A Rust struct's fields (a tuple struct's are `0`, `1`…) and an
    /// enum's variants that hold one value, with their types.
    pub(super) fn fields_of(&self, node: Node) -> Vec<(String, String)> {
        let Some(body) = node.child_by_field_name("body") else { return Vec::new() };
        let mut cursor = body.walk();
        if body.kind() == "enum_variant_list" {
            // An enum: each variant with its first field's type, and a
            // struct-like variant's fields as `Variant::field`.
            let mut out = Vec::new();
            for variant in body.named_children(&mut cursor) {
                let Some(name) = variant.child_by_field_name("name") else { continue };
                let Some(fields) = variant.child_by_field_name("body") else { continue };
                let name = self.text_of(name);
                let mut walk = fields.walk();
                let first = fields.children_by_field_name("type", &mut walk).next();
                if let Some(ty) = first.and_then(|t| self.rust_ty(t, None)) {
                    out.push((name.to_owned(), ty.to_string()));
                }
                if fields.kind() == "field_declaration_list" {
                    for (field, ty) in self.fields_of_list(fields) {
                        out.push((format!("{name}::{field}"), ty));
                    }
                }
            }
            return out;
        }
        if body.kind() == "ordered_field_declaration_list" {
            // A tuple struct: fields `0`, `1`…
            return body
                .children_by_field_name("type", &mut cursor)
                .enumerate()
                .filter_map(|(i, ty)| Some((i.to_string(), self.rust_ty(ty, None)?.to_string())))
                .collect();
        }
        self.fields_of_list(body)
    }

    /// The named fields of a `{ a: A, b: B }` list, with their types.
    fn fields_of_list(&self, list: Node) -> Vec<(String, String)> {
        let mut cursor = list.walk();
        list.named_children(&mut cursor)
            .filter_map(|field| {
                let name = field.child_by_field_name("name")?;
                let ty = self.rust_ty(field.child_by_field_name("type")?, None)?;
                Some((self.text_of(name).to_owned(), ty.to_string()))
            })
            .collect()
    }

    pub(super) fn token_tree_refs(&self, tree: Node, spans: &Spans, out: &mut Vec<Ref>) {
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
            // `fn f(…)`, `struct S(…)` in an item macro's body: no call.
            let declared = i >= 1 && matches!(self.text_of(tokens[i - 1]), "fn" | "struct");
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
                        let receiver = self.token_receiver(&tokens[..i - 1]);
                        push(RefKind::MethodCall, Vec::new(), receiver);
                    } else if !after_dot && !declared {
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

    /// The receiver before a `.` in a macro's tokens, as `rust_chain`
    /// writes a chain but starting from a plain name (`self.io`,
    /// `x.get().y`, `Handle::current().inner`); `rust_macro_receivers`
    /// types it. `None` for anything else.
    fn token_receiver(&self, before: &[Node]) -> Option<String> {
        let ident = |n: &Node| matches!(n.kind(), "identifier" | "self" | "super" | "crate");
        let mut steps: Vec<String> = Vec::new();
        let mut k = before.len();
        loop {
            // `levels[i]`: an element (`v[a..]`, a slice: the same type).
            while k >= 2
                && before[k - 1].kind() == "token_tree"
                && self.text_of(before[k - 1]).starts_with('[')
            {
                if !self.text_of(before[k - 1]).contains("..") {
                    steps.push("[]".into());
                }
                k -= 1;
            }
            let last = *before.get(k.checked_sub(1)?)?;
            let (step, start) = if ident(&last) {
                (self.text_of(last).to_owned(), k - 1)
            } else if last.kind() == "token_tree"
                && self.text_of(last).starts_with('(')
                && k >= 2
                && ident(&before[k - 2])
            {
                (format!("{}()", self.text_of(before[k - 2])), k - 2)
            } else {
                return None;
            };
            steps.push(step);
            k = start;
            match before.get(k.wrapping_sub(1)).map(|n| n.kind()) {
                Some(".") if steps.len() <= MAX_CHAIN => k -= 1,
                Some("::") => {
                    // `a::b::f()`: the path is the chain's start.
                    let mut path = vec![steps.pop()?];
                    while k >= 2 && before[k - 1].kind() == "::" && ident(&before[k - 2]) {
                        path.push(self.text_of(before[k - 2]).to_owned());
                        k -= 2;
                    }
                    path.reverse();
                    steps.push(path.join("::"));
                    break;
                }
                _ => break,
            }
        }
        steps.reverse();
        Some(steps.join("."))
    }

    pub(super) fn use_tree(&self, node: Node, prefix: &[String], line: u32, out: &mut Vec<Import>) {
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
                    public: false,
                });
            }
            "use_wildcard" => {
                let text = self.text_of(node).trim_end_matches('*').trim_end_matches("::");
                out.push(Import {
                    kind: ImportKind::Use,
                    local: "*".into(),
                    path: joined(text),
                    line,
                    public: false,
                });
            }
            _ => {
                // identifier, scoped_identifier, self, crate, super
                let mut path = joined(self.text_of(node));
                if path.last().is_some_and(|s| s == "self") {
                    path.pop(); // `use a::b::{self}` imports `b`
                }
                if let Some(local) = path.last().cloned() {
                    out.push(Import { kind: ImportKind::Use, local, path, line, public: false });
                }
            }
        }
    }

    /// The lines above a Rust item, nearest first, when the item starts
    /// its line; `None` when something else precedes it on that line.
    pub(super) fn lines_above(&self, node: Node) -> Option<impl Iterator<Item = &'a str>> {
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
    pub(super) fn doc_from_text(&self, node: Node) -> Option<String> {
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

    pub(super) fn has_test_attribute(&self, node: Node) -> bool {
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

    /// A Rust item is exported when it has a visibility (`pub`, `pub(crate)`…).
    pub(super) fn rust_exported(&self, node: Node) -> bool {
        let mut cursor = node.walk();
        node.children(&mut cursor).any(|c| c.kind() == "visibility_modifier")
    }
}

/// The insides of `name! { … }` at item level (in a file, module or impl).
pub(super) fn macro_item_bodies(tree: &Tree) -> Vec<tree_sitter::Range> {
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
                if let Some(body) = body {
                    braced_items(body, 0, &mut out);
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(|r| r.start_byte);
    out
}

/// The insides of a `{ … }` token tree of items, less the `name! {` and
/// `}` of item-level macros nested in it (`cfg_test_util! { cfg_rt! { fn
/// f() {} } }`), whose insides are items of the same level.
fn braced_items(body: Node, depth: usize, out: &mut Vec<tree_sitter::Range>) {
    let (Some(open), Some(close)) =
        (body.child(0), body.child(body.child_count().saturating_sub(1)))
    else {
        return;
    };
    if open.kind() != "{" || close.kind() != "}" || open.end_byte() >= close.start_byte() {
        return;
    }
    let push = |from: Node, to: Node, out: &mut Vec<tree_sitter::Range>| {
        if from.end_byte() < to.start_byte() {
            out.push(tree_sitter::Range {
                start_byte: from.end_byte(),
                end_byte: to.start_byte(),
                start_point: from.end_position(),
                end_point: to.start_position(),
            });
        }
    };
    let mut cursor = body.walk();
    let tokens: Vec<Node> = body.children(&mut cursor).collect();
    let mut from = open;
    for w in tokens.windows(3) {
        let [name, bang, inner] = [w[0], w[1], w[2]];
        let nested = depth < 4
            && name.kind() == "identifier"
            && bang.kind() == "!"
            && inner.kind() == "token_tree"
            && inner.child(0).is_some_and(|c| c.kind() == "{");
        if nested && name.start_byte() >= from.end_byte() {
            // Up to the nested macro's name; its insides; on after its `}`.
            let mut insides = Vec::new();
            braced_items(inner, depth + 1, &mut insides);
            let Some(inner_close) = inner.child(inner.child_count() - 1) else { continue };
            if insides.is_empty() {
                continue;
            }
            push(from, name, out);
            out.extend(insides);
            from = inner_close;
        }
    }
    push(from, close, out);
}

/// A query's matches, copied out of the cursor (which lends them one at a
/// `a::b::<T>::c` → [a, b, c]; generics and whitespace dropped.
pub(super) fn path_segments(text: &str) -> Vec<String> {
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
/// `&'a mut crate::x::Foo` → `Foo`, `*const Foo` → `Foo`.
pub(super) fn type_name(text: &str) -> String {
    let mut rest = text.trim();
    loop {
        let before = rest;
        rest = rest.trim_start_matches(['&', '*']).trim_start();
        if rest.starts_with('\'') {
            // A lifetime: `'a`.
            rest = rest.split_once(char::is_whitespace).map_or("", |(_, r)| r).trim_start();
        }
        for word in ["mut ", "const ", "dyn "] {
            rest = rest.strip_prefix(word).unwrap_or(rest).trim_start();
        }
        if rest == before {
            break;
        }
    }
    let segments = path_segments(rest);
    let last = segments.last().cloned().unwrap_or_default();
    last.rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("").to_owned()
}

// --- Resolution: Rust paths through the crate's modules ----------------

impl FileContext<'_> {
    /// Where a Rust path (`segments::name`) leads, if it can be followed
    /// through this crate's modules.
    pub(super) fn rust_path(
        &self,
        segments: &[String],
        name: &str,
        wanted: fn(UnitKind) -> bool,
    ) -> Option<Found> {
        if self.depth.get() >= 8 {
            return None;
        }
        self.depth.set(self.depth.get() + 1);
        let found = self.rust_path_inner(segments, name, wanted);
        self.depth.set(self.depth.get() - 1);
        found
    }

    pub(super) fn rust_path_inner(
        &self,
        segments: &[String],
        name: &str,
        wanted: fn(UnitKind) -> bool,
    ) -> Option<Found> {
        let (mut root, mut module) = rust_module_of(self.path);
        module.extend(self.inline.borrow().iter().cloned());
        let mut rest: Vec<String> = segments.to_vec();
        // Expand the first segment.
        match rest.first().map(String::as_str) {
            Some("crate") => {
                module.clear();
                rest.remove(0);
            }
            Some("self") => {
                rest.remove(0);
            }
            Some("super") => {
                while rest.first().is_some_and(|s| s == "super") {
                    module.pop();
                    rest.remove(0);
                }
            }
            // Its own crate by name (`tokio::spawn` in tokio's tests and
            // examples): the package's library.
            Some(first)
                if outside_lib(self.path)
                    && !self.imports.iter().any(|i| i.local == first)
                    && self.table.crate_name(rust_package_dir(self.path)) == Some(first) =>
            {
                root = format!("{}src/", rust_package_dir(self.path));
                module.clear();
                rest.remove(0);
            }
            Some(first) => {
                let first = first.to_owned();
                // `mod x;` of this file (or, where its `mod`s are not at
                // hand, following a re-export, a child module's file):
                // relative path. A module comes first: `mod spawn; pub use
                // spawn::spawn;` binds the function, not the module.
                let declared =
                    self.imports.iter().any(|i| i.kind == ImportKind::Mod && i.local == first)
                        || (self.units.is_empty() && {
                            let mut child = module.clone();
                            child.push(first.clone());
                            self.rust_module_file(&root, &child).is_some()
                        });
                if !declared {
                    if let Some(import) =
                        self.import_named(&first).filter(|i| i.kind == ImportKind::Use)
                    {
                        // `use crate::store::Store;` then `Store::open`.
                        let mut expanded = import.path.clone();
                        expanded.extend(rest.into_iter().skip(1));
                        if expanded.first().is_some_and(|s| s != &first) || expanded.len() > 1 {
                            return self.rust_path(&expanded, name, wanted);
                        }
                        return None;
                    }
                    // A type of this file: `Type::f`.
                    let qualified = format!("{}::{name}", rest.join("::"));
                    let here = self.in_file(self.path, name, |s| {
                        s.qname == qualified || s.qname.ends_with(&format!("::{qualified}"))
                    });
                    if !here.is_empty() {
                        return Some(here);
                    }
                    return None; // an external crate, or not ours to follow
                }
            }
            None => {}
        }
        module.extend(rest);
        self.rust_in_module(&root, &module, name, wanted)
    }

    /// `name` in `module` of the crate at `root`: a file's top-level unit,
    /// a type's member (`module = …::Type`), or in a module inline in a
    /// file.
    fn rust_in_module(
        &self,
        root: &str,
        module: &[String],
        name: &str,
        wanted: fn(UnitKind) -> bool,
    ) -> Option<Found> {
        if let Some(file) = self.rust_module_file(root, module) {
            let found = self.in_file(&file, name, |s| s.top_level() && wanted(s.kind));
            if !found.is_empty() {
                return Some(found);
            }
            if let Some(found) = self.through_reexports(&file, name, wanted) {
                return Some(found);
            }
        }
        if let Some((ty, parent)) = module.split_last() {
            let qualified = format!("{ty}::{name}");
            if let Some(file) = self.rust_module_file(root, parent) {
                let found = self.in_file(&file, name, |s| s.qname == qualified);
                if !found.is_empty() {
                    return Some(found);
                }
            }
            // The impl may live in another file of the crate.
            let anywhere: Vec<&Symbol> = self
                .table
                .named(name)
                .iter()
                .filter(|s| s.path.starts_with(root) && s.qname == qualified)
                .collect();
            if let [s] = anywhere.as_slice() {
                return Some(one(s));
            }
            // A module inline in a file: `mod inner { fn f() }`.
            let inline = module.join("::");
            let found = self
                .table
                .named(name)
                .iter()
                .find(|s| s.path.starts_with(root) && s.qname == format!("{inline}::{name}"));
            if let Some(s) = found {
                return Some(one(s));
            }
        }
        None
    }

    /// `name` as another file re-exports it (`pub use a::b::name;`, `pub
    /// use a::b::other as name;`, `pub use a::*;`), the re-exported path
    /// followed from that file as its own code would.
    fn through_reexports(
        &self,
        file: &str,
        name: &str,
        wanted: fn(UnitKind) -> bool,
    ) -> Option<Found> {
        let reexports: Vec<Import> = self
            .table
            .reexports_in(file, name)
            .map(|s| Import {
                kind: ImportKind::Use,
                local: s.name.clone(),
                path: s.reexport.clone(),
                line: 0,
                public: true,
            })
            .collect();
        if reexports.is_empty() {
            return None;
        }
        let there = FileContext {
            path: file,
            language: self.language,
            units: &[],
            imports: &reexports,
            table: self.table,
            depth: std::cell::Cell::new(self.depth.get() + 1),
            inline: Default::default(),
            bases: Default::default(),
            consulted: Default::default(),
            receivers: Default::default(),
        };
        for import in &reexports {
            let found = if import.local == "*" {
                there.rust_path(&import.path, name, wanted)
            } else {
                let (last, init) = import.path.split_last()?;
                there.rust_path(init, last, wanted)
            };
            if found.as_ref().is_some_and(|f| !f.is_empty()) {
                return found;
            }
        }
        None
    }

    /// The file of a module path in the crate rooted at `root` (`src/`).
    pub(super) fn rust_module_file(&self, root: &str, module: &[String]) -> Option<String> {
        if module.is_empty() {
            return ["lib.rs", "main.rs"]
                .iter()
                .map(|f| format!("{root}{f}"))
                .find(|p| self.table.has_file(p));
        }
        let base = format!("{root}{}", module.join("/"));
        [format!("{base}.rs"), format!("{base}/mod.rs")]
            .into_iter()
            .find(|p| self.table.has_file(p))
    }

    /// Where a `use` or `mod` declaration leads: the unit it names, or the
    /// file of the module it names.
    pub(super) fn rust_import(&self, import: &Import) -> Option<(String, Confidence)> {
        if import.kind == ImportKind::Mod {
            let (root, mut module) = rust_module_of(self.path);
            module.push(import.local.clone());
            let file = self.rust_module_file(&root, &module)?;
            return Some((file, Confidence::Resolved));
        }
        let (last, init) = import.path.split_last()?;
        if last == "*" || init.is_empty() {
            return None;
        }
        let target = self.rust_path(init, last, |_| true);
        if let Some(found) = target.filter(|f| f.len() == 1) {
            return found.into_iter().next();
        }
        // `use crate::a::b;` importing a module: its file.
        let (root, mut module) = rust_module_of(self.path);
        match init.first().map(String::as_str) {
            Some("crate") => module = init[1..].to_vec(),
            Some("self") => module.extend(init[1..].iter().cloned()),
            Some("super") => {
                module.pop();
                module.extend(init[1..].iter().cloned());
            }
            _ => return None,
        }
        module.push(last.clone());
        self.rust_module_file(&root, &module).map(|f| (f, Confidence::Resolved))
    }
}

/// A Rust file's crate root directory (ending in `/`, or empty) and module
/// path: `src/a/b.rs` → (`src/`, [a, b]); `src/lib.rs` → (`src/`, []).
/// Files outside a `src/` directory are crate roots of their own.
pub(super) fn rust_module_of(path: &str) -> (String, Vec<String>) {
    let (root, rest) = match path.rfind("src/") {
        Some(i) if i == 0 || path.as_bytes()[i - 1] == b'/' => (&path[..i + 4], &path[i + 4..]),
        _ => {
            let dir = path.rsplit_once('/').map_or(String::new(), |(d, _)| format!("{d}/"));
            return (dir, Vec::new());
        }
    };
    let mut module: Vec<String> =
        rest.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if module.last().is_some_and(|m| m == "mod") {
        module.pop();
    }
    if module.len() == 1 && (module[0] == "lib" || module[0] == "main") {
        module.clear();
    }
    (root.to_owned(), module)
}

/// Where a unit's types (a struct's fields, a function's return and
/// closure types, a static's) name a type the file imports (`use
/// crate::loom::sync::Mutex;`), the type carries the import's path made
/// absolute (`crate::loom::sync::Mutex<T>`): code in other files that
/// reads them (a field `self.m` of a struct defined here) then knows which
/// of several types of that name it is, or that it is std's.
pub(super) fn qualify_imported_types(path: &str, units: &mut [Unit], imports: &[Import]) {
    let (_, module) = rust_module_of(path);
    let absolute = |segments: &[String]| -> Option<String> {
        let (first, rest) = segments.split_first()?;
        let mut out: Vec<String> = match first.as_str() {
            "crate" => vec!["crate".into()],
            s if is_std(s) => vec![s.to_owned()],
            "self" => std::iter::once("crate".to_owned()).chain(module.iter().cloned()).collect(),
            "super" => {
                let mut m = module.clone();
                m.pop()?;
                let mut rest = rest;
                while rest.first().is_some_and(|s| s == "super") {
                    m.pop()?;
                    rest = &rest[1..];
                }
                let base = std::iter::once("crate".to_owned()).chain(m);
                return Some(base.chain(rest.iter().cloned()).collect::<Vec<_>>().join("::"));
            }
            // `mod chan;` of this file, then `use chan::Rx;`.
            m if imports.iter().any(|i| i.kind == ImportKind::Mod && i.local == m) => {
                let base = std::iter::once("crate".to_owned()).chain(module.iter().cloned());
                base.chain(std::iter::once(m.to_owned())).collect()
            }
            _ => return None,
        };
        out.extend(rest.iter().cloned());
        Some(out.join("::"))
    };
    let qualify = |text: &mut String| {
        let Some(mut ty) = Ty::parse(text) else { return };
        let mut changed = false;
        qualify_ty(&mut ty, &mut |name: &str| {
            let import = imports
                .iter()
                .find(|i| i.kind == ImportKind::Use && i.local == name && i.path.len() >= 2)?;
            let (original, init) = import.path.split_last()?;
            changed = true;
            Some((absolute(init)?, original.clone()))
        });
        if changed {
            *text = ty.to_string();
        }
    };
    for u in units.iter_mut() {
        u.fields.iter_mut().for_each(|(_, t)| qualify(t));
        qualify(&mut u.returns);
        u.closure_args.iter_mut().for_each(qualify);
    }
}

/// Gives each unscoped name in `ty` the scope and name `imported` finds.
fn qualify_ty(ty: &mut Ty, imported: &mut impl FnMut(&str) -> Option<(String, String)>) {
    if ty.scope.is_empty()
        && let Some((scope, name)) = imported(&ty.name)
    {
        ty.scope = scope;
        ty.name = name;
    }
    for a in &mut ty.args {
        qualify_ty(a, imported);
    }
}

/// The directory of the package a Rust file belongs to, where its
/// `Cargo.toml` is: above its `src/`, `tests/`, `examples/` or `benches/`
/// (`crates/x/src/a.rs` → `crates/x/`); else the file's own directory.
pub fn rust_package_dir(path: &str) -> &str {
    let mut best = None;
    for dir in ["src/", "tests/", "examples/", "benches/"] {
        let found = if path.starts_with(dir) {
            Some(0)
        } else {
            path.find(&format!("/{dir}")).map(|i| i + 1)
        };
        if let Some(i) = found {
            best = Some(best.map_or(i, |b: usize| b.max(i)));
        }
    }
    match best {
        Some(i) => &path[..i],
        None => path.rfind('/').map_or("", |i| &path[..=i]),
    }
}

/// A Rust file of a package's tests, examples or benches, which use the
/// library by its crate's name (the library's own files cannot).
pub fn outside_lib(path: &str) -> bool {
    !path[rust_package_dir(path).len()..].starts_with("src/")
}

/// A package's crate name from its `Cargo.toml`: `[lib] name`, else
/// `[package] name`.
pub fn crate_name_in(manifest: &str) -> Option<String> {
    let mut section = "";
    let (mut package, mut lib) = (None, None);
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let Some(value) = line.strip_prefix("name").map(str::trim_start) else { continue };
        let Some(value) = value.strip_prefix('=') else { continue };
        let value = value.trim().trim_matches('"').to_owned();
        match section {
            "[package]" => package = Some(value),
            "[lib]" => lib = Some(value),
            _ => {}
        }
    }
    lib.or(package).filter(|n| !n.is_empty())
}

/// Files whose every unit counts as a test: those under a `tests/` folder.
pub(super) fn is_test_path(path: &str) -> bool {
    path.starts_with("tests/") || path.contains("/tests/")
}
