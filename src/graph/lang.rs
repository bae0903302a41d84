//! The languages the graph knows: their grammars and queries.

use std::sync::OnceLock;

use tree_sitter::Query;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Rust,
    JavaScript,
}

/// A language's compiled queries, built once.
pub struct Queries {
    pub units: Query,
    pub refs: Query,
}

impl Language {
    /// The language of a path, by its extension.
    pub fn of_path(path: &[u8]) -> Option<Language> {
        let name = path.rsplit(|&b| b == b'/').next()?;
        let ext = name.rsplit(|&b| b == b'.').next()?;
        if ext.len() == name.len() {
            return None;
        }
        match ext {
            b"rs" => Some(Language::Rust),
            b"js" | b"mjs" | b"cjs" | b"jsx" => Some(Language::JavaScript),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::JavaScript => "javascript",
        }
    }

    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
        }
    }

    /// The query sources, as shipped in `queries/<language>/`.
    pub fn query_sources(self) -> [(&'static str, &'static str); 2] {
        match self {
            Language::Rust => [
                ("rust/units.scm", include_str!("../../queries/rust/units.scm")),
                ("rust/refs.scm", include_str!("../../queries/rust/refs.scm")),
            ],
            Language::JavaScript => [
                ("javascript/units.scm", include_str!("../../queries/javascript/units.scm")),
                ("javascript/refs.scm", include_str!("../../queries/javascript/refs.scm")),
            ],
        }
    }

    /// The compiled queries. They are part of the binary and compiled in a
    /// test, so failing here is a bug, not bad input.
    pub fn queries(self) -> &'static Queries {
        static RUST: OnceLock<Queries> = OnceLock::new();
        static JS: OnceLock<Queries> = OnceLock::new();
        let cell = match self {
            Language::Rust => &RUST,
            Language::JavaScript => &JS,
        };
        cell.get_or_init(|| {
            let grammar = self.grammar();
            let [(_, units), (_, refs)] = self.query_sources();
            let compile = |src: &str| {
                Query::new(&grammar, src).unwrap_or_else(|e| panic!("{} query: {e}", self.as_str()))
            };
            Queries { units: compile(units), refs: compile(refs) }
        })
    }
}
