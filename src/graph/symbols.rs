//! What resolution knows of the tree beyond the file it resolves: a
//! [`Symbol`] per unit (its name, kind, file and the little of its body
//! resolution follows: fields, return type, bases, re-exports), the
//! [`SymbolTable`] the indexer loads with the units a file's references
//! name, and the naming rules both sides share (`target_key`,
//! `module_name`, `file_stem`).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{Import, ImportKind, ParsedFile, RefKind, Unit, UnitKind};

/// What resolution needs to know of a unit elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    pub id: String,
    pub kind: UnitKind,
    pub name: String,
    pub qname: String,
    /// The file's path.
    pub path: String,
    /// A struct's fields and their types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<(String, String)>,
    /// Not a unit but a Rust re-export (`pub use a::b as name;`, or a glob
    /// `pub use a::*;` named `*`): the path it re-exports, as written in
    /// its file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reexport: Vec<String>,
    /// A function's declared return type (see `Unit::returns`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub returns: String,
    /// A method declared in a trait (or interface): the one a type that
    /// implements it may run without a method of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_trait: bool,
    /// A Rust method of an `impl Trait for Type`: where the type has an
    /// inherent method of the same name, a call runs that one instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_trait_impl: bool,
    /// A function's closure parameter's argument types (see `Unit`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closure_args: Vec<String>,
    /// A class's bases as its file names them: each the name written,
    /// then, when an import binds that name there, the import's path
    /// (`App`, `.app`, `App`), so that other files can follow them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<Vec<String>>,
}

impl Symbol {
    pub fn of(unit: &Unit, path: &str) -> Symbol {
        Symbol {
            id: unit.id.clone(),
            kind: unit.kind,
            name: unit.name.clone(),
            qname: unit.qname.clone(),
            path: path.to_owned(),
            fields: unit.fields.clone(),
            reexport: Vec::new(),
            returns: unit.returns.clone(),
            in_trait: false,
            in_trait_impl: false,
            closure_args: unit.closure_args.clone(),
            bases: Vec::new(),
        }
    }

    /// What the rest of the tree resolves through in a parsed file: its
    /// units, then its re-exports.
    pub fn all_of(path: &str, parsed: &ParsedFile) -> Vec<Symbol> {
        let traits: HashSet<&str> = parsed
            .units
            .iter()
            .filter(|u| matches!(u.kind, UnitKind::Trait | UnitKind::Interface))
            .map(|u| u.id.as_str())
            .collect();
        let trait_impls: HashSet<&str> = parsed
            .units
            .iter()
            .filter(|u| u.kind == UnitKind::Impl && u.name.contains(" for "))
            .map(|u| u.id.as_str())
            .collect();
        let mut bases = class_bases(parsed);
        let units = parsed.units.iter().enumerate().map(|(i, u)| Symbol {
            in_trait: u.parent.as_deref().is_some_and(|p| traits.contains(p)),
            in_trait_impl: u.parent.as_deref().is_some_and(|p| trait_impls.contains(p)),
            bases: bases.remove(&i).unwrap_or_default(),
            ..Symbol::of(u, path)
        });
        // Python: the module's typed names (`g: Globals = …`), which are
        // no units (see `is_instance`).
        let instances = match parsed.units.first() {
            Some(file) if file.kind == UnitKind::File && path.ends_with(".py") => {
                file.fields.as_slice()
            }
            _ => &[],
        };
        let instances = instances.iter().map(|(name, class)| Symbol {
            id: format!("{path}::{name}"),
            kind: UnitKind::Binding,
            name: name.clone(),
            qname: name.clone(),
            path: path.to_owned(),
            fields: Vec::new(),
            reexport: Vec::new(),
            returns: class.clone(),
            in_trait: false,
            in_trait_impl: false,
            closure_args: Vec::new(),
            bases: Vec::new(),
        });
        let reexports =
            parsed.imports.iter().filter(|i| i.public && !i.path.is_empty()).map(|i| Symbol {
                id: path.to_owned(),
                kind: UnitKind::Module,
                name: i.local.clone(),
                qname: i.local.clone(),
                path: path.to_owned(),
                fields: Vec::new(),
                reexport: i.path.clone(),
                returns: String::new(),
                in_trait: false,
                in_trait_impl: false,
                closure_args: Vec::new(),
                bases: Vec::new(),
            });
        units.chain(reexports).chain(instances).collect()
    }

    /// A Python module's typed name (`g: Globals = …` at its top level):
    /// kept beside the units, never a target (Python has no binding units,
    /// so a Python binding symbol is one of these); `returns` is its class.
    pub fn is_instance(&self) -> bool {
        self.kind == UnitKind::Binding && self.path.ends_with(".py")
    }

    /// A top-level unit of its file.
    pub(super) fn top_level(&self) -> bool {
        !self.qname.contains("::")
    }
}

/// The bases of a parsed file's classes (`class A(B)`, `class A extends
/// B`), by the class's index: see `Symbol::bases`.
fn class_bases(parsed: &ParsedFile) -> HashMap<usize, Vec<Vec<String>>> {
    let mut out: HashMap<usize, Vec<Vec<String>>> = HashMap::new();
    for r in parsed.refs.iter().filter(|r| r.kind == RefKind::Implements) {
        if parsed.units.get(r.from).is_none_or(|u| u.kind != UnitKind::Class) {
            continue;
        }
        // `B`, or `m.B` (`r.path` holding m).
        let bound = r.path.first().unwrap_or(&r.name);
        let import = parsed
            .imports
            .iter()
            .find(|i| i.local == *bound && i.path.len() >= 2 && i.kind != ImportKind::Export);
        let mut base = vec![r.name.clone()];
        match import {
            Some(import) if r.path.is_empty() => {
                base.extend(import.path.iter().cloned());
                // `const B = require('./b')`: what the module exports.
                if import.kind == ImportKind::Require && base[2] == "*" {
                    base[2] = "default".to_owned();
                }
            }
            // `m.B` with m a module: the module's B.
            Some(import) => base.extend([module_spec(import), r.name.clone()]),
            None => {}
        }
        out.entry(r.from).or_default().push(base);
    }
    out
}

/// The module an import binding a module names: Python's `a.b` of
/// `import a.b as m` / `from a import b as m`, JavaScript's specifier.
fn module_spec(import: &Import) -> String {
    let (module, imported) = (&import.path[0], &import.path[1]);
    match imported.as_str() {
        _ if import.kind != ImportKind::Import || module.contains('/') => module.clone(),
        "*" => module.clone(),
        _ if module.ends_with('.') => format!("{module}{imported}"),
        _ => format!("{module}.{imported}"),
    }
}

/// The units a set of references may point at, by name, and the paths of
/// the tree's files.
#[derive(Debug, Default)]
pub struct SymbolTable {
    by_name: HashMap<String, Vec<Symbol>>,
    /// Re-exports by the name they export (`*` for globs).
    reexports: HashMap<String, Vec<Symbol>>,
    files: HashSet<String>,
    /// Python modules' typed names, by name (`Symbol::is_instance`).
    instances: HashMap<String, Vec<Symbol>>,
    /// Rust packages' crate names, by the package's directory (`""`,
    /// `crates/x/`): a path that starts with its own crate's name
    /// (`tokio::spawn` in tokio's tests) is followed into the crate.
    crates: HashMap<String, String>,
}

impl SymbolTable {
    pub fn add(&mut self, symbol: Symbol) {
        if !symbol.reexport.is_empty() {
            self.reexports.entry(symbol.name.clone()).or_default().push(symbol);
            return;
        }
        if symbol.is_instance() {
            self.instances.entry(symbol.name.clone()).or_default().push(symbol);
            return;
        }
        if symbol.kind == UnitKind::File {
            self.files.insert(symbol.path.clone());
            return;
        }
        self.by_name.entry(symbol.name.clone()).or_default().push(symbol);
    }

    /// The names resolution may look up after following a re-export: the
    /// names its path leads to (`a` and `m` of `export { a as b } from
    /// './m'`; each segment of a Rust path). (The types a receiver's chain
    /// goes through are read as resolution asks: `FileEdges::consulted`.)
    pub fn next_keys(symbol: &Symbol) -> Vec<String> {
        let mut out = Vec::new();
        for segment in &symbol.reexport {
            out.push(segment.clone());
            out.push(file_stem(segment).to_owned());
            out.push(module_name(segment).to_owned());
        }
        out.retain(|k| !k.is_empty());
        out
    }

    /// Takes in another table's symbols, files and crates.
    /// The symbols the table holds (a file's own unit is not kept: only
    /// that the file exists).
    pub fn into_symbols(self) -> impl Iterator<Item = Symbol> {
        let all = self.by_name.into_values().chain(self.reexports.into_values());
        all.chain(self.instances.into_values()).flatten()
    }

    pub fn absorb(&mut self, other: SymbolTable) {
        let all = other.by_name.into_values().chain(other.reexports.into_values());
        for symbols in all.chain(other.instances.into_values()) {
            for s in symbols {
                self.add(s);
            }
        }
        self.files.extend(other.files);
        self.crates.extend(other.crates);
    }

    /// The re-exports of `file` that may export `name`: those of that
    /// name, then its globs.
    pub(super) fn reexports_in<'s>(
        &'s self,
        file: &'s str,
        name: &str,
    ) -> impl Iterator<Item = &'s Symbol> + 's {
        let named = self.reexports.get(name).map_or(&[][..], Vec::as_slice);
        let globs = self.reexports.get("*").map_or(&[][..], Vec::as_slice);
        named.iter().chain(globs).filter(move |s| s.path == file)
    }

    /// The crate a package directory's `Cargo.toml` names.
    pub fn add_crate(&mut self, dir: &str, name: &str) {
        self.crates.insert(dir.to_owned(), name.replace('-', "_"));
    }

    pub(super) fn crate_name(&self, dir: &str) -> Option<&str> {
        self.crates.get(dir).map(String::as_str)
    }

    pub fn add_file(&mut self, path: &str) {
        self.files.insert(path.to_owned());
    }

    /// Forgets a file's units (before adding its new ones).
    pub fn remove_file(&mut self, path: &str) {
        let all = self.by_name.values_mut().chain(self.reexports.values_mut());
        for symbols in all.chain(self.instances.values_mut()) {
            symbols.retain(|s| s.path != path);
        }
        self.files.remove(path);
    }

    pub(super) fn named(&self, name: &str) -> &[Symbol] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// The Python module `file`'s typed name `name`, if it has one.
    pub(super) fn instance_in(&self, file: &str, name: &str) -> Option<&Symbol> {
        self.instances.get(name)?.iter().find(|s| s.path == file)
    }

    pub(super) fn has_file(&self, path: &str) -> bool {
        self.files.contains(path)
    }

    /// The names a file's references and imports may resolve to: what the
    /// indexer must load into a table before resolving them, and what makes
    /// a file's edges stale when units of those names come or go.
    pub fn keys(parsed: &ParsedFile) -> HashSet<String> {
        let (refs, imports) = (&parsed.refs, &parsed.imports);
        let mut keys = HashSet::new();
        // The methods of a type that implements or extends another: the
        // method of that name there is the one they implement.
        for r in refs.iter().filter(|r| r.kind == RefKind::Implements) {
            let Some(owner) = parsed.units.get(r.from) else { continue };
            let methods = parsed.units.iter().filter(|u| {
                u.kind == UnitKind::Method && u.parent.as_deref() == Some(owner.id.as_str())
            });
            keys.extend(methods.map(|u| u.name.clone()));
        }
        for r in refs {
            keys.insert(r.name.clone());
            keys.extend(r.path.iter().cloned());
            keys.extend(r.receiver.iter().cloned());
            // `Type.field`, `a::f().b.m()?`: the names a receiver's type
            // starts from and the fields and methods it goes through.
            keys.extend(r.receiver_type.iter().flat_map(|t| identifiers(t)));
        }
        for i in imports {
            keys.insert(i.local.clone());
            for segment in &i.path {
                keys.insert(segment.clone());
                keys.insert(file_stem(segment).to_owned());
                keys.insert(module_name(segment).to_owned());
            }
        }
        keys.remove("");
        // Glob re-exports, which may export any name.
        keys.insert("*".to_owned());
        keys
    }
}

/// The names in a type or a receiver's chain (`Arc<Shared>.queue.lock()`:
/// Arc, Shared, queue, lock).
fn identifiers(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What the name index files an edge's target under, from its id alone:
/// a unit id's last segment without its `#n`, or a file unit's path.
pub fn target_key(id: &str) -> &str {
    let last = match id.rfind("::") {
        Some(i) => &id[i + 2..],
        None => return id,
    };
    match last.rsplit_once('#') {
        Some((name, n))
            if !name.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            name
        }
        _ => last,
    }
}

/// Rust's standard crates, which a tree being indexed does not hold.
pub(super) fn is_std(krate: &str) -> bool {
    matches!(krate, "std" | "core" | "alloc")
}

/// What a JavaScript module is called where it names nothing itself (an
/// anonymous default export): its file's stem, or for an `index` file its
/// directory's name, as `require('./dir')` names it.
pub fn module_name(path: &str) -> &str {
    let mut parts = path.rsplit('/');
    let stem = file_stem(parts.next().unwrap_or(path));
    match parts.next() {
        Some(dir) if stem == "index" && !dir.is_empty() && dir != "." && dir != ".." => dir,
        _ => stem,
    }
}

/// The stem of the last component of a path or module specifier.
pub fn file_stem(spec: &str) -> &str {
    let last = spec.rsplit('/').next().unwrap_or(spec);
    last.split('.').next().unwrap_or(last)
}
