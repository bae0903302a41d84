//! The code graph: code units (functions, methods, types, modules…) and the
//! relations between them, parsed with tree-sitter. This module is pure: it
//! turns a file's bytes into units and references (`parse`) and references
//! into edges (`resolve`); `store::graph` keeps the result and `index`
//! decides what to re-parse. `parse` and `resolve` hold what every language
//! shares; each language's own rules (its imports, docs, exports, declared
//! types, module paths) live in its file: `rust`, `javascript`, `python`;
//! `receivers` types Rust's method receivers (through fields, return types
//! and aliases, with `types`). A new language is a grammar and queries
//! (`lang`, `queries/`) and such a file.

mod callbacks;
mod javascript;
pub mod lang;
pub mod parse;
mod python;
mod receivers;
pub mod resolve;
pub mod rust;
mod scope;
mod symbols;
pub mod types;

pub use lang::Language;
pub use parse::parse_file;

use serde::{Deserialize, Serialize};

/// Files larger than this are not parsed (generated code, bundles).
pub const MAX_PARSE_BYTES: usize = 2 << 20;

/// What a unit is. `file`: the file itself, the unit its top-level code
/// and imports belong to; `type`: a Rust type alias; `binding`: a
/// JavaScript exported binding that is not a function or class;
/// `interface`: a TypeScript interface.
// The variants carry no doc comments of their own: with them, the JSON
// Schema of every answer listing units has a `oneOf` per unit, which
// clients validating answers (the Python MCP SDK does) pay for per unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    File,
    Function,
    Method,
    Struct,
    Enum,
    Trait,
    Impl,
    Module,
    Const,
    Static,
    Macro,
    Type,
    Class,
    Binding,
    Interface,
}

impl std::fmt::Display for UnitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::File => "file",
            UnitKind::Function => "function",
            UnitKind::Method => "method",
            UnitKind::Struct => "struct",
            UnitKind::Enum => "enum",
            UnitKind::Trait => "trait",
            UnitKind::Impl => "impl",
            UnitKind::Module => "module",
            UnitKind::Const => "const",
            UnitKind::Static => "static",
            UnitKind::Macro => "macro",
            UnitKind::Type => "type",
            UnitKind::Class => "class",
            UnitKind::Binding => "binding",
            UnitKind::Interface => "interface",
        }
    }

    pub fn parse(s: &str) -> Option<UnitKind> {
        ALL_KINDS.iter().copied().find(|k| k.as_str() == s)
    }

    /// Units that can be called.
    pub fn is_callable(self) -> bool {
        matches!(self, UnitKind::Function | UnitKind::Method | UnitKind::Macro | UnitKind::Class)
    }

    /// Units that name a type.
    pub fn is_type(self) -> bool {
        matches!(
            self,
            UnitKind::Struct
                | UnitKind::Enum
                | UnitKind::Trait
                | UnitKind::Type
                | UnitKind::Class
                | UnitKind::Interface
        )
    }
}

pub const ALL_KINDS: [UnitKind; 15] = [
    UnitKind::File,
    UnitKind::Function,
    UnitKind::Method,
    UnitKind::Struct,
    UnitKind::Enum,
    UnitKind::Trait,
    UnitKind::Impl,
    UnitKind::Module,
    UnitKind::Const,
    UnitKind::Static,
    UnitKind::Macro,
    UnitKind::Type,
    UnitKind::Class,
    UnitKind::Binding,
    UnitKind::Interface,
];

/// A code unit of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// `path::qualified::name`, with `#2`, `#3`… for later duplicates.
    pub id: String,
    pub kind: UnitKind,
    pub name: String,
    /// The name qualified within its file (`Parser::parse`).
    pub qname: String,
    /// The enclosing unit's id (the file's for top-level units).
    pub parent: Option<String>,
    pub start_byte: u32,
    pub end_byte: u32,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    /// The declaration up to its body, on one line.
    pub signature: String,
    pub doc: String,
    /// blake3 of the unit's source text.
    pub body_hash: String,
    /// Cyclomatic complexity: 1 plus the decision points inside.
    pub complexity: u32,
    /// A test: a Rust `#[test]` function, or any unit of a test file.
    pub is_test: bool,
    /// JavaScript: exported from its module. Rust: declared `pub`.
    pub exported: bool,
    /// A struct's or class's named fields and their types (Rust: as
    /// `types::Ty` writes them, generic arguments kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<(String, String)>,
    /// A Rust function's or method's declared return type, as `types::Ty`
    /// writes it (`Self` is the impl's type); a static's or const's type;
    /// what a type alias stands for. Empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub returns: String,
    /// A Rust function's closure parameter's argument types (`f: impl
    /// FnOnce(&Context)` gives `Context`), as `types::Ty` writes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closure_args: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    /// `f()`, `a::b::f()`, `Type::f()`, `new C()`.
    Call,
    /// `x.f()`; `receiver` says what `x` was when it is `self` or `this`.
    MethodCall,
    Macro,
    /// A type named in a signature, field or body.
    Type,
    /// `impl Trait for Type`, `class A extends B`.
    Implements,
}

/// Something a unit refers to, not yet resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ref {
    /// Index into the file's units.
    pub from: usize,
    pub kind: RefKind,
    /// The last segment: `f` in `a::b::f`.
    pub name: String,
    /// The segments before it (`a`, `b`), as written.
    pub path: Vec<String>,
    /// For method calls: the receiver when it is `self`, `this` or a plain
    /// name.
    pub receiver: Option<String>,
    /// For method calls on a plain name: that name's type where the code
    /// declares it (a typed parameter, `let x: T`, `let x = T::new()`,
    /// `new T()`, a JSDoc `@param {T} x`).
    #[serde(default)]
    pub receiver_type: Option<String>,
    pub line: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    /// Rust `use a::b::c [as d]`; `*` for a glob.
    Use,
    /// Rust `mod name;`: the module's file.
    Mod,
    /// JavaScript `import … from 'spec'`.
    Import,
    /// JavaScript `require('spec')`.
    Require,
    /// JavaScript: what a module exports under another name than a unit
    /// of its own (`module.exports = x`, `export { a as b } from './m'`,
    /// `export * from './m'`); always `public`. See `javascript::js_exports`.
    Export,
}

/// A name a file brings in from elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    pub kind: ImportKind,
    /// The name bound in this file (`d` in `use a::b::c as d`; `*` for a
    /// glob or a namespace import of everything).
    pub local: String,
    /// Rust: the path's segments (`a`, `b`, `c`). JavaScript: the module
    /// specifier, then the imported name (`default`, `*` or a name).
    pub path: Vec<String>,
    pub line: u32,
    /// Rust: a `pub use` (any visibility) at the top of its file, which
    /// re-exports the name from the file's module.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public: bool,
}

/// A syntax error kept with the file: parsing goes on around it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub line: u32,
    pub message: String,
}

/// What parsing a file gave.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ParsedFile {
    /// The file unit first, then the units in source order.
    pub units: Vec<Unit>,
    pub refs: Vec<Ref>,
    pub imports: Vec<Import>,
    pub diagnostics: Vec<Diagnostic>,
    /// Why the file was not parsed (binary, not UTF-8, huge).
    pub skipped: Option<String>,
}

impl ParsedFile {
    /// Gives back what the lists were grown by and never used: a full
    /// index holds every file's parse at once, and references, filtered
    /// after they are found, kept 2.4 times the room they take (on the
    /// cargo registry cache, 557 MB held for 229 MB of references).
    pub fn shrink_to_fit(&mut self) {
        self.units.shrink_to_fit();
        self.refs.shrink_to_fit();
        self.imports.shrink_to_fit();
        self.diagnostics.shrink_to_fit();
    }
}
