//! The languages the graph knows: their grammars and queries.

use std::sync::OnceLock;

use tree_sitter::Query;

/// A code file's language; `tsx` is TypeScript with JSX (`.tsx`): its own
/// grammar, TypeScript's queries.
// No doc comments on the variants: see `UnitKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    JavaScript,
    TypeScript,
    Tsx,
    Python,
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A language's compiled queries, built once.
pub struct Queries {
    /// Units, references and decision points in one query, so that a
    /// file's tree is walked once for all: its patterns are the units'
    /// (`..unit_patterns`), then the references', then the decisions'
    /// (`decision_patterns..`).
    pub all: Query,
    pub unit_patterns: usize,
    pub decision_patterns: usize,
}

impl Language {
    pub const ALL: [Language; 5] = [
        Language::Rust,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Python,
    ];

    /// JavaScript or a dialect of it: modules, classes and calls are
    /// read and resolved alike.
    pub fn is_js(self) -> bool {
        matches!(self, Language::JavaScript | Language::TypeScript | Language::Tsx)
    }

    /// TypeScript or TSX: type annotations say what receivers are.
    pub fn is_typescript(self) -> bool {
        matches!(self, Language::TypeScript | Language::Tsx)
    }

    /// Compiles every language's queries now, so that the first file
    /// parsed does not wait for them (the first write through a fresh
    /// mount took 70 ms to parse one file, 3 ms after).
    pub fn compile_all() {
        for language in Language::ALL {
            language.queries();
        }
    }

    /// The language of a path, by its extension. TypeScript declaration
    /// files (`.d.ts`) are not code: they have no bodies to call, merge or
    /// search, and they repeat the names of the code they describe (which
    /// would turn every match by name between the two ambiguous).
    pub fn of_path(path: &[u8]) -> Option<Language> {
        let name = path.rsplit(|&b| b == b'/').next()?;
        let ext = name.rsplit(|&b| b == b'.').next()?;
        if ext.len() == name.len() {
            return None;
        }
        let declarations = [&b".d.ts"[..], b".d.mts", b".d.cts"];
        match ext {
            b"rs" => Some(Language::Rust),
            b"js" | b"mjs" | b"cjs" | b"jsx" => Some(Language::JavaScript),
            _ if declarations.iter().any(|d| name.ends_with(d)) => None,
            b"ts" | b"mts" | b"cts" => Some(Language::TypeScript),
            b"tsx" => Some(Language::Tsx),
            b"py" => Some(Language::Python),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::Python => "python",
        }
    }

    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Language::Python => tree_sitter_python::LANGUAGE.into(),
        }
    }

    /// The query sources, as shipped in `queries/<language>/`.
    pub fn query_sources(self) -> [(&'static str, &'static str); 3] {
        match self {
            Language::Rust => [
                ("rust/units.scm", include_str!("../../queries/rust/units.scm")),
                ("rust/refs.scm", include_str!("../../queries/rust/refs.scm")),
                ("rust/decisions.scm", include_str!("../../queries/rust/decisions.scm")),
            ],
            Language::JavaScript => [
                ("javascript/units.scm", include_str!("../../queries/javascript/units.scm")),
                ("javascript/refs.scm", include_str!("../../queries/javascript/refs.scm")),
                (
                    "javascript/decisions.scm",
                    include_str!("../../queries/javascript/decisions.scm"),
                ),
            ],
            Language::TypeScript | Language::Tsx => [
                ("typescript/units.scm", include_str!("../../queries/typescript/units.scm")),
                ("typescript/refs.scm", include_str!("../../queries/typescript/refs.scm")),
                // The same statements decide in both.
                (
                    "javascript/decisions.scm",
                    include_str!("../../queries/javascript/decisions.scm"),
                ),
            ],
            Language::Python => [
                ("python/units.scm", include_str!("../../queries/python/units.scm")),
                ("python/refs.scm", include_str!("../../queries/python/refs.scm")),
                ("python/decisions.scm", include_str!("../../queries/python/decisions.scm")),
            ],
        }
    }

    /// The compiled queries. They are part of the binary and compiled in a
    /// test, so failing here is a bug, not bad input.
    pub fn queries(self) -> &'static Queries {
        static RUST: OnceLock<Queries> = OnceLock::new();
        static JS: OnceLock<Queries> = OnceLock::new();
        static TS: OnceLock<Queries> = OnceLock::new();
        static TSX: OnceLock<Queries> = OnceLock::new();
        static PY: OnceLock<Queries> = OnceLock::new();
        let cell = match self {
            Language::Rust => &RUST,
            Language::JavaScript => &JS,
            Language::TypeScript => &TS,
            Language::Tsx => &TSX,
            Language::Python => &PY,
        };
        cell.get_or_init(|| {
            let grammar = self.grammar();
            let [(_, units_src), (_, refs_src), (_, decisions_src)] = self.query_sources();
            let compile = |src: &str| {
                Query::new(&grammar, src).unwrap_or_else(|e| panic!("{} query: {e}", self.as_str()))
            };
            // One compile (the costly part of a query is its analysis, a
            // tenth of a second for these): which source a pattern came
            // from is where it starts.
            let all = compile(&format!("{units_src}\n{refs_src}\n{decisions_src}"));
            let before = |end: usize| {
                (0..all.pattern_count()).filter(|&i| all.start_byte_for_pattern(i) < end).count()
            };
            let unit_patterns = before(units_src.len());
            let decision_patterns = before(units_src.len() + 1 + refs_src.len());
            Queries { all, unit_patterns, decision_patterns }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::UnitKind;

    /// JSON (CLI, MCP, the wire) names languages and kinds as the text
    /// output does.
    #[test]
    fn serialised_names_are_the_shown_names() {
        for language in Language::ALL {
            assert_eq!(serde_json::to_value(language).unwrap(), language.as_str());
        }
        for kind in crate::graph::ALL_KINDS {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(UnitKind::parse(kind.as_str()), Some(kind));
        }
    }
}
