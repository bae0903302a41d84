//! References into edges. A reference is resolved through the file's
//! imports and module paths when it can be (confidence `resolved`);
//! otherwise it is matched by name across the tree (`name_matched` when one
//! unit has that name, `ambiguous` when several do, up to a limit).
//!
//! Resolution reads only the file's own imports and a `SymbolTable` of the
//! units named in its references, so the indexer can re-resolve a file
//! without the rest of the tree in memory.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

pub(super) use super::symbols::is_std;
pub use super::symbols::{Symbol, SymbolTable, file_stem, module_name, target_key};
use super::{Import, ImportKind, Language, Ref, RefKind, Unit, UnitKind};

/// More candidates than this for a name and no edge is drawn: a guess
/// among so many says nothing.
pub const MAX_AMBIGUOUS: usize = 8;

/// How many classes up `FileContext::class_method` looks for a method (a
/// cycle of bases stops there).
const MAX_BASES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Resolved,
    NameMatched,
    Ambiguous,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Resolved => "resolved",
            Confidence::NameMatched => "name_matched",
            Confidence::Ambiguous => "ambiguous",
        }
    }

    pub fn parse(s: &str) -> Option<Confidence> {
        [Confidence::Resolved, Confidence::NameMatched, Confidence::Ambiguous]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Contains,
    Calls,
    Imports,
    Implements,
    References,
}

impl EdgeKind {
    pub const ALL: [EdgeKind; 5] = [
        EdgeKind::Contains,
        EdgeKind::Calls,
        EdgeKind::Imports,
        EdgeKind::Implements,
        EdgeKind::References,
    ];

    /// Also the name of the edge's table in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Contains => "contains",
            EdgeKind::Calls => "calls",
            EdgeKind::Imports => "imports",
            EdgeKind::Implements => "implements",
            EdgeKind::References => "references",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    pub confidence: Confidence,
    pub line: u32,
}

/// What resolving a file gives.
#[derive(Debug, Default)]
pub struct FileEdges {
    pub edges: Vec<Edge>,
    /// Names resolution looked up that the file's keys (`SymbolTable::keys`)
    /// do not hold: the types a receiver's fields and calls led to. A
    /// change to their units may change these edges, so the name index
    /// keeps them as the file's keys too.
    pub consulted: Vec<String>,
}

/// The edges of one parsed file, from its references and imports. (The
/// `contains` edges are the units' `parent` fields.)
pub fn resolve_file(
    path: &str,
    language: Language,
    units: &[Unit],
    refs: &[Ref],
    imports: &[Import],
    table: &SymbolTable,
) -> FileEdges {
    // The types each class of this file extends, by the class's qname.
    let mut bases: HashMap<String, Vec<String>> = HashMap::new();
    for r in refs.iter().filter(|r| r.kind == RefKind::Implements) {
        if let Some(u) = units.get(r.from).filter(|u| u.kind == UnitKind::Class) {
            bases.entry(u.qname.clone()).or_default().push(r.name.clone());
        }
    }
    let cx = FileContext {
        path,
        language,
        units,
        imports,
        table,
        depth: Default::default(),
        inline: Default::default(),
        bases,
        consulted: Default::default(),
        receivers: Default::default(),
    };
    // `contains` is each unit's `parent`, kept with the unit, not here.
    let mut edges = Vec::new();
    for r in refs {
        let Some(from) = units.get(r.from) else { continue };
        let kind = match r.kind {
            RefKind::Call | RefKind::MethodCall | RefKind::Macro => EdgeKind::Calls,
            RefKind::Type => EdgeKind::References,
            RefKind::Implements => EdgeKind::Implements,
        };
        for (to, confidence) in cx.resolve_ref(from, r) {
            if to != from.id {
                edges.push(Edge { from: from.id.clone(), to, kind, confidence, line: r.line });
            }
        }
    }
    for import in imports {
        if let Some((to, confidence)) = cx.resolve_import(import) {
            edges.push(Edge {
                from: path.to_owned(),
                to,
                kind: EdgeKind::Imports,
                confidence,
                line: import.line,
            });
        }
    }
    implemented_methods(units, table, &mut edges);
    edges.sort();
    // One edge per pair and kind: the best confidence, the first line.
    edges.dedup_by(|b, a| (&a.from, &a.to, a.kind) == (&b.from, &b.to, b.kind));
    let mut consulted: Vec<String> = cx.consulted.take().into_iter().collect();
    consulted.sort();
    FileEdges { edges, consulted }
}

/// A method of a type that implements a trait or interface, or extends a
/// class, implements that one's method of its name (`impl Read for File {
/// fn read }`: `File::read` implements `Read::read`): calls into the one
/// may run the other. One edge per such method, as sure as the type's.
fn implemented_methods(units: &[Unit], table: &SymbolTable, edges: &mut Vec<Edge>) {
    let mut more = Vec::new();
    for e in edges.iter().filter(|e| e.kind == EdgeKind::Implements) {
        let Some(owner) = units.iter().find(|u| u.id == e.from) else { continue };
        if !matches!(owner.kind, UnitKind::Impl | UnitKind::Class) {
            continue;
        }
        // A constructor is called by its own class's name, never through
        // a base's.
        for method in units.iter().filter(|u| {
            u.kind == UnitKind::Method
                && u.parent.as_deref() == Some(owner.id.as_str())
                && !matches!(u.name.as_str(), "constructor" | "__init__")
        }) {
            let id = format!("{}::{}", e.to, method.name);
            if table.named(&method.name).iter().any(|s| s.id == id) {
                more.push(Edge {
                    from: method.id.clone(),
                    to: id,
                    kind: EdgeKind::Implements,
                    confidence: e.confidence,
                    line: method.start_line,
                });
            }
        }
    }
    edges.extend(more);
}

pub(super) struct FileContext<'a> {
    pub(super) path: &'a str,
    pub(super) language: Language,
    /// This file's own units.
    pub(super) units: &'a [Unit],
    pub(super) imports: &'a [Import],
    pub(super) table: &'a SymbolTable,
    /// How deep `rust_path` is in following imports: `use a as b; use b
    /// as a;` must not loop.
    pub(super) depth: std::cell::Cell<u32>,
    /// The inline modules (`mod tests { … }`) around the reference being
    /// resolved: `self` and `super` start from there.
    pub(super) inline: std::cell::RefCell<Vec<String>>,
    /// The types each class of this file extends, by the class's qname.
    pub(super) bases: HashMap<String, Vec<String>>,
    /// Names looked up beyond the file's keys (the types a receiver's
    /// fields and calls led to): see `FileEdges::consulted`.
    pub(super) consulted: std::cell::RefCell<HashSet<String>>,
    /// Rust receivers' types, by the unit and the chain (`receivers`).
    pub(super) receivers: std::cell::RefCell<ReceiverTypes>,
}

pub(super) type ReceiverTypes = HashMap<(String, String), Option<super::receivers::Typed>>;

pub(super) type Found = Vec<(String, Confidence)>;

pub(super) fn one(s: &Symbol) -> Found {
    vec![(s.id.clone(), Confidence::Resolved)]
}

/// Symbols that are one definition written several times in one file
/// (`f`, `f#2`, …): Rust's `#[cfg]` variants, Python's `@overload` stubs
/// and their implementation, TypeScript's overload signatures. A call is
/// to that definition, so to each of them; None when they differ.
pub(super) fn one_definition(found: &[&Symbol]) -> Option<Found> {
    let (first, rest) = found.split_first()?;
    let same = rest.iter().all(|s| s.qname == first.qname && s.path == first.path);
    // A type's own method and a trait's of the same name (`as_socket` of
    // `impl UdpSocket` and of `impl AsSocket for UdpSocket`): a call runs
    // the type's own.
    let inherent = found.iter().any(|s| !s.in_trait_impl);
    same.then(|| {
        found
            .iter()
            .filter(|s| !(inherent && s.in_trait_impl))
            .map(|s| (s.id.clone(), Confidence::Resolved))
            .collect()
    })
}

impl FileContext<'_> {
    /// The table's units of a name, the name noted as consulted.
    pub(super) fn named(&self, name: &str) -> &[Symbol] {
        if !self.consulted.borrow().contains(name) {
            self.consulted.borrow_mut().insert(name.to_owned());
        }
        self.table.named(name)
    }

    /// The Python module `file`'s typed name `name`, if it has one.
    pub(super) fn instance_in(&self, file: &str, name: &str) -> Option<&Symbol> {
        self.named(name);
        self.table.instance_in(file, name)
    }

    /// The inline modules enclosing `unit`, outermost first.
    fn inline_modules(&self, unit: &Unit) -> Vec<String> {
        let segments: Vec<&str> = unit.qname.split("::").collect();
        let mut out: Vec<String> = Vec::new();
        for (i, seg) in segments.iter().enumerate().take(segments.len().saturating_sub(1)) {
            let prefix = segments[..=i].join("::");
            let is_module =
                self.units.iter().any(|u| u.kind == UnitKind::Module && u.qname == prefix);
            if !is_module {
                break;
            }
            out.push((*seg).to_owned());
        }
        out
    }

    pub(super) fn resolve_ref(&self, from: &Unit, r: &Ref) -> Found {
        if self.language == Language::Rust {
            *self.inline.borrow_mut() = self.inline_modules(from);
        }
        let wanted: fn(UnitKind) -> bool = match r.kind {
            // A struct or class is called as its constructor; a type alias
            // (Rust's `type Err = Error;` of an impl) never is.
            RefKind::Call => |k| {
                k.is_callable() && k != UnitKind::Method
                    || matches!(k, UnitKind::Struct | UnitKind::Class | UnitKind::Enum)
            },
            RefKind::MethodCall => |k| k == UnitKind::Method || k == UnitKind::Function,
            RefKind::Macro => |k| k == UnitKind::Macro,
            RefKind::Type | RefKind::Implements => UnitKind::is_type,
        };
        match (self.language, r.kind) {
            (_, RefKind::MethodCall) => self.method_call(from, r),
            // `std::fs::File::open`: never a unit of the tree; nor
            // `sync::RwLock::new` after `use std::sync;`.
            (Language::Rust, _) if r.path.first().is_some_and(|c| is_std(c)) => Vec::new(),
            (Language::Rust, _)
                if r.path
                    .first()
                    .is_some_and(|c| self.imports_std(c) || self.imports_other_crate(c)) =>
            {
                Vec::new()
            }
            (Language::Rust, _) if !r.path.is_empty() => {
                // `Self::f` inside an impl: the impl's type.
                let mut path = r.path.clone();
                if path[0] == "Self"
                    && let Some((owner, _)) = from.qname.rsplit_once("::")
                {
                    path[0] = owner.rsplit("::").next().unwrap_or(owner).to_owned();
                }
                let r = &Ref { path, ..r.clone() };
                let followed = self.rust_path(&r.path, &r.name, wanted);
                let followed = followed.or_else(|| self.rust_type_call(&r.path, &r.name));
                followed.unwrap_or_else(|| {
                    // `Type::f` where Type is not ours to follow: any `Type::f`.
                    let ty = r.path.last().unwrap();
                    let suffix = format!("::{ty}::{}", r.name);
                    let qualified = &suffix[2..];
                    let typed = self
                        .by_name(&r.name, |s| s.qname == qualified || s.qname.ends_with(&suffix));
                    // A path into this crate that was not followed (a
                    // re-export, `pub use`): by name, without claiming more.
                    let ours = matches!(r.path[0].as_str(), "crate" | "self" | "super");
                    if typed.is_empty() && ours {
                        self.by_name(&r.name, |s| wanted(s.kind) && s.top_level())
                    } else {
                        typed
                    }
                })
            }
            // `class A(m.B)`: the module's B.
            (Language::Python, RefKind::Implements)
                if let Some(import) = r.path.first().and_then(|m| self.import_named(m)) =>
            {
                self.py_module_member(import, &r.name)
            }
            (language, RefKind::Call) if language.is_js() || language == Language::Python => {
                self.with_constructor(self.plain_name(&r.name, wanted))
            }
            _ => self.plain_name(&r.name, wanted),
        }
    }

    /// `found` and, when it is one class, that class's constructor: `new
    /// X()` (`X()` in Python, `m.X()` too) runs it.
    fn with_constructor(&self, mut found: Found) -> Found {
        let constructor = match self.language {
            Language::Python => "__init__",
            _ => "constructor",
        };
        if let [(class, Confidence::Resolved)] = found.as_slice() {
            let constructor = self.member_of(&class.clone(), constructor);
            found.extend(constructor);
        }
        found
    }

    /// `x.f()`: with `self`/`this`, the enclosing type's method; with a
    /// module bound by `require`, that module's function; else by name.
    fn method_call(&self, from: &Unit, r: &Ref) -> Found {
        let receiver = r.receiver.as_deref();
        let python_self = self.language == Language::Python && matches!(receiver, Some("cls"));
        if (matches!(receiver, Some("self" | "this")) || python_self)
            && let Some(found) = self.own_method(from, &r.name)
        {
            return found;
        }
        // `super().m()` (Python): the base's m. (JavaScript's `super.m()`
        // is typed as the base class by the parser.)
        if self.language == Language::Python
            && receiver == Some("super()")
            && let Some(found) = self.inherited_method(from, &r.name)
        {
            return found;
        }
        if self.language == Language::Rust {
            // Untyped: a method of that name (`x.f()` never calls a free f).
            return self
                .rust_method_call(from, r)
                .unwrap_or_else(|| self.by_name(&r.name, |s| s.kind == UnitKind::Method));
        }
        // A receiver of a declared type: that type's method, if the tree has
        // the type; a type from elsewhere (String, Map) has no method here.
        let receiver_type = match self.receiver_type(from, r) {
            Ok(ty) => ty,
            Err(found) => return found,
        };
        let receiver_type = receiver_type.as_deref();
        if self.language.is_js() {
            let found = self.js_method_call(r, receiver_type);
            if !found.is_empty() {
                return found;
            }
        }
        // `Type.f()` / `Type::f` on a receiver that names a type: its method
        // (a static or class method).
        if let Some(receiver) = receiver.filter(|x| !x.contains('.'))
            && receiver.starts_with(|c: char| c.is_uppercase())
            && let [(class, Confidence::Resolved)] =
                self.plain_name(receiver, UnitKind::is_type).as_slice()
        {
            let found = self.member_of(class, &r.name);
            if !found.is_empty() {
                return found;
            }
        }
        // Python `m.f()` with m a module bound by an import; `g.f()` with g
        // a module's typed name (`from flask import g`).
        if self.language == Language::Python
            && let Some(import) = receiver.and_then(|x| self.import_named(x))
        {
            let found = self.with_constructor(self.py_module_member(import, &r.name));
            if !found.is_empty() {
                return found;
            }
            if let Some(class) = self.py_imported_instance(import)
                && let Some(found) = self.class_method(&class, &r.name, 0)
            {
                return found;
            }
        }
        // `flask.g.f()`: a typed name of a module bound by an import.
        if self.language == Language::Python
            && let Some((module, name)) = receiver.and_then(|x| x.split_once('.'))
            && !name.contains(['.', '('])
            && let Some(import) = self.import_named(module)
            && let Some(class) = self.py_module_instance(import, name)
            && let Some(found) = self.class_method(&class, &r.name, 0)
        {
            return found;
        }
        if let Some(found) = receiver_type.and_then(|ty| self.typed_method(ty, &r.name)) {
            return found;
        }
        if let Some(found) = self.py_fixture_call(from, r) {
            return found;
        }
        self.by_name(&r.name, |s| matches!(s.kind, UnitKind::Method | UnitKind::Function))
    }

    /// The type of a method call's receiver, where the parser's
    /// `receiver_type` leads to one (Python's chains, a callback's
    /// parameter, `T.field`); Err with the callees when a Python chain
    /// found the method itself.
    fn receiver_type(&self, from: &Unit, r: &Ref) -> Result<Option<String>, Found> {
        let Some(ty) = r.receiver_type.as_deref() else { return Ok(None) };
        // Python: a value a call gave (`client = app.test_client()`), a
        // field (`self.app`, of a base too); where the chain is not
        // followed, the receiver's type is not known.
        if self.language == Language::Python && (ty.contains('.') || ty.contains("()")) {
            match self.py_chain_call(from, r) {
                Some(found) => return Err(found),
                // `T.field` of a type from elsewhere: read on, below.
                None if !ty.contains("()") => {}
                None => return Ok(None),
            }
        }
        // A callback's parameter (`=>operate#1`): typed by the callee.
        if ty.starts_with("=>") {
            return Ok(self.js_callback_arg(ty));
        }
        match ty.split_once('.') {
            Some((owner, field)) => Ok(self.field_type(owner, field)),
            None => Ok(Some(ty.to_owned())),
        }
    }

    /// `Type.field`: the field's type, from the one struct of that name.
    fn field_type(&self, owner: &str, field: &str) -> Option<String> {
        let structs: Vec<&Symbol> = self
            .table
            .named(owner)
            .iter()
            .filter(|s| matches!(s.kind, UnitKind::Struct | UnitKind::Class))
            .collect();
        match structs.as_slice() {
            [s] => s.fields.iter().find(|(f, _)| f == field).map(|(_, t)| t.clone()),
            _ => None,
        }
    }

    /// `x.name()` with x of type `ty`: that type's method (one definition,
    /// its overloads included); nothing for a type the tree does not have;
    /// None when the tree cannot say.
    pub(super) fn typed_method(&self, ty: &str, name: &str) -> Option<Found> {
        let qualified = format!("{ty}::{name}");
        let suffix = format!("::{qualified}");
        let methods: Vec<&Symbol> = self
            .table
            .named(name)
            .iter()
            .filter(|s| s.qname == qualified || s.qname.ends_with(&suffix))
            .collect();
        match methods.as_slice() {
            [] if !self.type_known(ty) => Some(Vec::new()),
            // A method the class inherits.
            [] => self.class_method(&self.class_named(ty)?, name, 0),
            methods => one_definition(methods),
        }
    }

    /// The class a type's name means here: the one this file names so,
    /// else the one class of that name at the top of any file (a class
    /// defined in a function is seen from nowhere else).
    pub(super) fn class_named(&self, ty: &str) -> Option<String> {
        if let [(id, Confidence::Resolved)] = &self.plain_name(ty, UnitKind::is_type)[..] {
            return Some(id.clone());
        }
        let classes: Vec<&Symbol> = self
            .named(ty)
            .iter()
            .filter(|s| s.kind == UnitKind::Class && (s.top_level() || s.path == self.path))
            .collect();
        match classes[..] {
            [class] => Some(class.id.clone()),
            _ => None,
        }
    }

    /// `self.name()`: the enclosing type's method, the innermost segment
    /// of the caller's qualified name that has a method of that name.
    fn own_method(&self, from: &Unit, name: &str) -> Option<Found> {
        // A method of the caller's own impl or class (of several impls of
        // one type in a file, `impl A<u8>` and `impl A<u16>`, that one).
        let siblings: Vec<&Unit> = self
            .units
            .iter()
            .filter(|u| u.name == name && u.parent.is_some() && u.parent == from.parent)
            .filter(|u| matches!(u.kind, UnitKind::Method | UnitKind::Function))
            .collect();
        if let Some((first, rest)) = siblings.split_first()
            && rest.iter().all(|u| u.qname == first.qname)
        {
            // One method, or one written several times (overloads).
            return Some(siblings.iter().map(|u| (u.id.clone(), Confidence::Resolved)).collect());
        }
        let segments: Vec<&str> = from.qname.split("::").collect();
        for owner in segments.iter().rev().skip(1) {
            let qualified = format!("{owner}::{name}");
            let matches =
                |s: &&Symbol| s.qname == qualified || s.qname.ends_with(&format!("::{qualified}"));
            let named = self.table.named(name);
            let same_file: Vec<&Symbol> =
                named.iter().filter(|s| s.path == self.path && matches(s)).collect();
            if let Some(found) = one_definition(&same_file) {
                return Some(found);
            }
            let anywhere: Vec<&Symbol> = named.iter().filter(matches).collect();
            if let Some(found) = one_definition(&anywhere) {
                return Some(found);
            }
        }
        self.inherited_method(from, name)
    }

    /// `self.name()` of a method the enclosing class inherits: the method
    /// of that name of a class it extends, or (for bases of this file)
    /// of theirs in turn.
    fn inherited_method(&self, from: &Unit, name: &str) -> Option<Found> {
        let mut owner = from.qname.as_str();
        while let Some((class, _)) = owner.rsplit_once("::") {
            owner = class;
            if self.bases.contains_key(class) {
                // The bases as the class's symbol keeps them (`m.B` too),
                // else as this file's references name them.
                let id = format!("{}::{class}", self.path);
                return match self.symbol_by_id(&id).filter(|s| !s.bases.is_empty()) {
                    Some(s) => {
                        self.bases_of(s).iter().find_map(|base| self.class_method(base, name, 1))
                    }
                    None => self.method_of_bases(class, name, 0),
                };
            }
        }
        None
    }

    /// The method `name` of the classes `class` (a class of this file, by
    /// its qname) extends, nearest first: each base as this file names it,
    /// then the bases those classes name in their own files.
    fn method_of_bases(&self, class: &str, name: &str, depth: usize) -> Option<Found> {
        for base in self.bases.get(class)? {
            if let [(id, Confidence::Resolved)] =
                self.plain_name(base, UnitKind::is_type).as_slice()
                && let Some(found) = self.class_method(id, name, depth + 1)
            {
                return Some(found);
            }
        }
        None
    }

    /// The method `name` of the class with id `class`, else of the
    /// classes it extends (`Symbol::bases`), nearest first, in whatever
    /// file they are (a cycle stops at `MAX_BASES` deep).
    pub(super) fn class_method(&self, class: &str, name: &str, depth: usize) -> Option<Found> {
        let found = self.member_of(class, name);
        if !found.is_empty() {
            return Some(found);
        }
        if depth >= MAX_BASES {
            return None;
        }
        let symbol = self.symbol_by_id(class)?;
        self.bases_of(symbol).iter().find_map(|base| self.class_method(base, name, depth + 1))
    }

    /// The type of field `field` of the class with id `class`, else of the
    /// classes it extends, nearest first.
    pub(super) fn class_field(&self, class: &str, field: &str, depth: usize) -> Option<String> {
        let symbol = self.symbol_by_id(class)?;
        if let Some((_, ty)) = symbol.fields.iter().find(|(f, _)| f == field) {
            return Some(ty.clone());
        }
        if depth >= MAX_BASES {
            return None;
        }
        self.bases_of(symbol).iter().find_map(|base| self.class_field(base, field, depth + 1))
    }

    /// The unit with this id, if the table has it.
    pub(super) fn symbol_by_id(&self, id: &str) -> Option<&Symbol> {
        let qname = id.rsplit("::").next()?;
        let name = qname.split('#').next()?;
        self.named(name).iter().find(|s| s.id == id)
    }

    /// The ids of the classes a class extends, found as its own file
    /// names them (by its imports there), in the order written.
    fn bases_of(&self, class: &Symbol) -> Vec<String> {
        let mut out = Vec::new();
        for base in &class.bases {
            let found = match base.as_slice() {
                [name] => {
                    self.named(name);
                    self.in_file(&class.path, name, |s| s.kind.is_type())
                }
                [_, spec, imported, ..] => {
                    self.named(imported);
                    self.imported_type(&class.path, spec, imported)
                }
                _ => continue,
            };
            if let [(id, _)] = found.as_slice() {
                out.push(id.clone());
            }
        }
        out
    }

    /// The type `import … imported from spec` binds in file `from`.
    fn imported_type(&self, from: &str, spec: &str, imported: &str) -> Found {
        match Language::of_path(from.as_bytes()) {
            Some(Language::Python) if imported != "*" => self
                .py_module_file_from(from, spec)
                .map(|file| self.py_export(&file, imported, UnitKind::is_type, 0))
                .unwrap_or_default(),
            Some(language) if language.is_js() => self
                .js_module_file_from(from, spec)
                .map(|file| self.js_export(&file, imported, UnitKind::is_type))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// An unqualified name: this file's unit, an import, or by name.
    pub(super) fn plain_name(&self, name: &str, wanted: fn(UnitKind) -> bool) -> Found {
        let here: Vec<&Symbol> = self
            .table
            .named(name)
            .iter()
            .filter(|s| s.path == self.path && wanted(s.kind))
            .collect();
        match here.as_slice() {
            [s] => return one(s),
            // One function written several times (`#[cfg]` variants,
            // overloads): the call is to whichever runs.
            [_, ..] if let Some(found) = one_definition(&here) => return found,
            [_, ..] => {
                // Several of that name here (methods of different types): the
                // top-level one is what a plain call means.
                let top: Vec<&&Symbol> = here.iter().filter(|s| s.top_level()).collect();
                if let [s] = top.as_slice() {
                    return one(s);
                }
            }
            [] => {}
        }
        if let Some(import) = self.import_named(name) {
            if self.language == Language::Rust && import.path.first().is_some_and(|c| is_std(c)) {
                // `use std::thread::spawn;`: never a unit of the tree.
                return Vec::new();
            }
            let found = match self.language {
                Language::Rust => {
                    let (last, init) = import.path.split_last().unwrap();
                    self.rust_path(init, last, wanted)
                }
                Language::Python => self.py_import_target(import, wanted),
                _ => self.js_import_target(import, wanted),
            };
            if let Some(found) = found {
                return found;
            }
        }
        // Rust globs: `use a::b::*`.
        if self.language == Language::Rust {
            for glob in self.imports.iter().filter(|i| i.local == "*") {
                if let Some(found) = self.rust_path(&glob.path, name, wanted) {
                    return found;
                }
            }
        }
        self.by_name(name, |s| wanted(s.kind) && s.kind != UnitKind::Method)
    }

    /// Units named `name` anywhere that pass `keep`, with the confidence
    /// their number gives.
    fn by_name(&self, name: &str, keep: impl Fn(&Symbol) -> bool) -> Found {
        // One past the limit is enough to know it is passed.
        let all: Vec<&Symbol> =
            self.table.named(name).iter().filter(|s| keep(s)).take(MAX_AMBIGUOUS + 1).collect();
        match all.len() {
            0 => Vec::new(),
            1 => vec![(all[0].id.clone(), Confidence::NameMatched)],
            n if n <= MAX_AMBIGUOUS => {
                all.iter().map(|s| (s.id.clone(), Confidence::Ambiguous)).collect()
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn in_file(&self, file: &str, name: &str, keep: impl Fn(&Symbol) -> bool) -> Found {
        let all: Vec<&Symbol> =
            self.table.named(name).iter().filter(|s| s.path == file && keep(s)).collect();
        match all.as_slice() {
            [s] => one(s),
            // One Rust unit written once per `#[cfg]` (`f`, `f#2`).
            [first, rest @ ..]
                if self.language == Language::Rust
                    && rest.iter().all(|s| s.qname == first.qname) =>
            {
                all.iter().map(|s| (s.id.clone(), Confidence::Resolved)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The member `name` of the unit with id `owner` (a class's method,
    /// in any language).
    pub(super) fn member_of(&self, owner: &str, name: &str) -> Found {
        let id = format!("{owner}::{name}");
        let variant = format!("{id}#");
        let all: Vec<&Symbol> = self
            .table
            .named(name)
            .iter()
            .filter(|s| s.id == id || s.id.starts_with(&variant))
            .collect();
        one_definition(&all).unwrap_or_default()
    }

    /// True when the tree defines a type (or class) of that name.
    pub(super) fn type_known(&self, name: &str) -> bool {
        self.named(name).iter().any(|s| s.kind.is_type())
    }

    /// True when `local` is a name `use` takes from the standard library
    /// (and no module of this file's is so named).
    pub(super) fn imports_std(&self, local: &str) -> bool {
        self.import_named(local)
            .is_some_and(|i| i.kind == ImportKind::Use && i.path.first().is_some_and(|c| is_std(c)))
    }

    /// True when `local` is a name `use` takes from another crate (`use
    /// io_uring::opcode;`): not `crate`, `self` or `super`, not a module
    /// of this file or of the crate's root (a 2015-edition path), not the
    /// crate's own name.
    pub(super) fn imports_other_crate(&self, local: &str) -> bool {
        if self.language != Language::Rust {
            return false;
        }
        let Some(import) = self.import_named(local).filter(|i| i.kind == ImportKind::Use) else {
            return false;
        };
        let Some(first) = import.path.first().map(String::as_str) else { return false };
        if matches!(first, "crate" | "self" | "super") || import.path.len() < 2 {
            return false;
        }
        let module_here =
            self.imports.iter().any(|i| i.kind == ImportKind::Mod && i.local == first)
                || self.units.iter().any(|u| u.kind == UnitKind::Module && u.name == first);
        let (root, _) = super::rust::rust_module_of(self.path);
        let crate_module = self.rust_module_file(&root, &[first.to_owned()]).is_some()
            || self.rust_module_file(&root, &[]).is_some_and(|lib| {
                self.named(first).iter().any(|s| s.path == lib && s.top_level())
            });
        let own = self.table.crate_name(super::rust::rust_package_dir(self.path)) == Some(first);
        !module_here && !crate_module && !own
    }

    pub(super) fn import_named(&self, local: &str) -> Option<&Import> {
        self.imports
            .iter()
            .find(|i| i.local == local && !i.path.is_empty() && i.kind != ImportKind::Export)
    }

    fn resolve_import(&self, import: &Import) -> Option<(String, Confidence)> {
        match self.language {
            Language::Rust => self.rust_import(import),
            Language::Python => self.py_import(import),
            _ => self.js_import(import),
        }
    }
}
