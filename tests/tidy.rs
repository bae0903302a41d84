//! The architecture's invariants, checked on the source itself (as
//! rust-analyzer's tidy tests do): each rule names where a dependency or a
//! kind of code may live, and the test fails, naming file and line, when
//! it shows up anywhere else. ARCHITECTURE.md lists them with their reasons.

use std::path::{Path, PathBuf};

/// A rule: where `pattern` (matched at word boundaries) may appear.
/// Paths are from the repository's root; a directory ends in `/`.
struct Rule {
    what: &'static str,
    pattern: &'static str,
    allowed: Where,
}

enum Where {
    /// Only in files under one of these.
    Only(&'static [&'static str]),
    /// Anywhere but in files under these.
    Not(&'static [&'static str]),
}

impl Where {
    fn allows(&self, rel: &str) -> bool {
        match self {
            Where::Only(paths) => paths.iter().any(|p| rel.starts_with(p)),
            Where::Not(paths) => !paths.iter().any(|p| rel.starts_with(p)),
        }
    }
}

/// Where JSON values may not be: the core's own logic speaks its types, and
/// only the edges (the wire, the CLI, MCP) turn them into JSON.
const TYPED: &[&str] = &["src/session.rs", "src/merge/", "src/graph/"];

const RULES: &[Rule] = &[
    Rule {
        what: "SurrealDB is spoken only by the store",
        pattern: "surrealdb",
        allowed: Where::Only(&["src/store/"]),
    },
    Rule {
        what: "SurrealQL is sent only by the store",
        pattern: ".query(",
        allowed: Where::Only(&["src/store/"]),
    },
    Rule {
        what: "FUSE is known only to the daemon",
        pattern: "fuser",
        allowed: Where::Only(&["mountd/"]),
    },
    Rule {
        what: "the command line's parser lives in the CLI",
        pattern: "clap",
        allowed: Where::Only(&["src/main.rs", "src/cli/"]),
    },
    Rule {
        what: "progress bars live in the CLI",
        pattern: "indicatif",
        allowed: Where::Only(&["src/main.rs", "src/cli/"]),
    },
    Rule {
        what: "rmcp is known only to the MCP server",
        pattern: "rmcp",
        allowed: Where::Only(&["src/cli/mcp.rs"]),
    },
    Rule {
        what: "sessions, merges and the graph speak types, not JSON values",
        pattern: "serde_json",
        allowed: Where::Not(TYPED),
    },
    Rule {
        what: "sessions, merges and the graph speak types, not JSON values",
        pattern: "json!",
        allowed: Where::Not(TYPED),
    },
];

/// The Rust sources the rules are about (tests and scripts may use anything).
fn sources(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("src"), root.join("mountd/src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Where `pattern` occurs in `text` as a word of its own (so `fuser` is not
/// found in `fusermount3`), outside `//` comments and a file's unit tests
/// (from a top-level `#[cfg(test)]` on: tests may use what they like).
fn occurs(text: &str, pattern: &str) -> Vec<usize> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line == "#[cfg(test)]" {
            break;
        }
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let found = line.match_indices(pattern).any(|(at, _)| {
            let before = line[..at].chars().next_back();
            let after = line[at + pattern.len()..].chars().next();
            let starts = !pattern.starts_with(word) || !before.is_some_and(word);
            let ends = !pattern.ends_with(word) || !after.is_some_and(word);
            starts && ends
        });
        if found {
            lines.push(n + 1);
        }
    }
    lines
}

fn broken(root: &Path, rules: &[Rule]) -> Vec<String> {
    let mut out = Vec::new();
    for path in sources(root) {
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for rule in rules {
            if rule.allowed.allows(&rel) {
                continue;
            }
            for line in occurs(&text, rule.pattern) {
                out.push(format!("{rel}:{line}: `{}` here, but {}", rule.pattern, rule.what));
            }
        }
    }
    out
}

#[test]
fn the_architecture_holds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let broken = broken(root, RULES);
    assert!(broken.is_empty(), "the architecture is broken:\n{}", broken.join("\n"));
}

/// The top level is the design's: the crates, the data they ship
/// (`queries/`, `migrations/`), tests, scripts and the documents. Anything
/// else (benchmarks, examples, stray output) belongs under one of them.
#[test]
fn the_top_level_is_as_designed() {
    const EXPECTED: &[&str] = &[
        "ARCHITECTURE.md",
        "Cargo.lock",
        "Cargo.toml",
        "README.md",
        "SEMANTICS.md",
        "build.rs",
        "migrations",
        "mountd",
        "queries",
        "rustfmt.toml",
        "scripts",
        "src",
        "tests",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut extra: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && name != "target")
        .filter(|name| !EXPECTED.contains(&name.as_str()))
        .collect();
    extra.sort();
    assert!(extra.is_empty(), "not in the design's top level: {extra:?}");
}

/// The library builds without the command line's dependencies, and the
/// daemon links none of them: they are optional, behind the `cli` feature
/// (the default, which the `cortex` binary requires), and the daemon takes
/// the library without default features.
#[test]
fn the_cli_dependencies_stay_out_of_the_library_and_the_daemon() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let package = &manifest[manifest.find("[package]").unwrap()..];
    for dep in ["clap", "indicatif", "rmcp"] {
        let line = package
            .lines()
            .find(|l| l.starts_with(&format!("{dep} ")) || l.starts_with(&format!("{dep}.")))
            .unwrap_or_else(|| panic!("{dep} is not a dependency of the package"));
        assert!(line.contains("optional = true"), "{dep} is not optional: {line}");
        assert!(package.contains(&format!("\"dep:{dep}\"")), "the cli feature lacks {dep}");
    }
    let daemon = std::fs::read_to_string(root.join("mountd/Cargo.toml")).unwrap();
    let cortex = daemon.lines().find(|l| l.starts_with("cortex ")).unwrap();
    assert!(cortex.contains("default-features = false"), "the daemon takes the CLI: {cortex}");
}

/// The check itself finds what it should: a rule broken on purpose in a
/// scratch tree is reported, its own words and comments are not.
#[test]
fn a_broken_rule_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("src/graph")).unwrap();
    std::fs::create_dir_all(tmp.path().join("mountd/src")).unwrap();
    std::fs::write(
        tmp.path().join("src/graph/x.rs"),
        "// fuser in a comment is fine\nfn f() { Command::new(\"fusermount3\"); }\nuse fuser::Filesystem;\n",
    )
    .unwrap();
    let found = broken(tmp.path(), RULES);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("src/graph/x.rs:3: `fuser`"), "{found:?}");
}
