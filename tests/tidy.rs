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
const TYPED: &[&str] = &["src/session/", "src/merge/", "src/graph/"];

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
        allowed: Where::Only(&["mcp/"]),
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
    let mut stack = vec![root.join("src"), root.join("mountd/src"), root.join("mcp/src")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
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

/// The library's modules, each a top-level file or directory under `src/`
/// (the CLI aside: it is the binary's), and the modules each names through
/// `crate::` outside comments and unit tests.
fn module_graph(
    root: &Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut graph: std::collections::BTreeMap<_, std::collections::BTreeSet<String>> =
        Default::default();
    let src = root.join("src");
    for path in sources(root) {
        let Ok(rel) = path.strip_prefix(&src) else { continue };
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if ["main", "lib", "cli"].contains(&module.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let uses = graph.entry(module.clone()).or_default();
        for line in text.lines().take_while(|l| *l != "#[cfg(test)]") {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let name: String = line[at + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module && name.starts_with(char::is_lowercase) {
                    uses.insert(name);
                }
            }
        }
    }
    graph
}

/// A cycle among the modules, if any (as the path round it).
fn cycle(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Option<Vec<String>> {
    fn visit(
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut round = path[at..].to_vec();
            round.push(node.to_owned());
            return Some(round);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(round) = visit(graph, next, path, done) {
                return Some(round);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = Default::default();
    graph.keys().find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

/// The library's modules form layers: none reaches, through others, back
/// to itself (a cycle would make the two one module in all but name).
#[test]
fn no_module_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(round) = cycle(&module_graph(root)) {
        panic!("a module cycle: {}", round.join(" -> "));
    }
}

#[test]
fn a_module_cycle_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("src/store")).unwrap();
    std::fs::write(tmp.path().join("src/store/mod.rs"), "use crate::search::terms;\n").unwrap();
    std::fs::write(tmp.path().join("src/index.rs"), "// crate::search in a comment\n").unwrap();
    std::fs::write(tmp.path().join("src/search.rs"), "fn f() { crate::index::run(); }\n").unwrap();
    assert_eq!(cycle(&module_graph(tmp.path())), None);
    std::fs::write(tmp.path().join("src/index.rs"), "use crate::store::Store;\n").unwrap();
    let round = cycle(&module_graph(tmp.path())).expect("the cycle is found");
    assert_eq!(round, ["index", "store", "search", "index"]);
}

/// Longest a function may be without a reason written beside it.
const FN_MAX_LINES: usize = 80;

/// Functions longer than [`FN_MAX_LINES`] without a `Long:` comment (among
/// the comments and attributes right above them) saying why.
fn long_functions(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for path in sources(root) {
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().take_while(|l| *l != "#[cfg(test)]").collect();
        for (start, line) in lines.iter().enumerate() {
            let Some(name) = fn_name(line) else { continue };
            let indent = &line[..line.len() - line.trim_start().len()];
            // No body (a trait's declaration), or all of it on one line.
            let opens = lines[start..].iter().position(|l| l.ends_with('{') || l.ends_with(';'));
            if opens.is_none_or(|at| lines[start + at].ends_with(';')) || line.ends_with('}') {
                continue;
            }
            let close = format!("{indent}}}");
            let Some(len) = lines[start..].iter().position(|l| *l == close) else { continue };
            if len < FN_MAX_LINES {
                continue;
            }
            let said = lines[..start]
                .iter()
                .rev()
                .take_while(|l| {
                    let l = l.trim_start();
                    l.starts_with("//") || l.starts_with("#[")
                })
                .any(|l| l.contains("Long:"));
            if !said {
                out.push(format!("{rel}:{}: fn {name} is {} lines", start + 1, len + 1));
            }
        }
    }
    out
}

/// The name of the function a line starts, if it starts one.
fn fn_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(&rest[..end])
}

/// A function fits one screen of reasoning, or says why it does not.
#[test]
fn functions_fit_a_screen() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let long = long_functions(root);
    assert!(
        long.is_empty(),
        "functions over {FN_MAX_LINES} lines with no `Long:` reason:\n{}",
        long.join("\n")
    );
}

#[test]
fn a_long_function_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("src")).unwrap();
    let body = "    x += 1;\n".repeat(FN_MAX_LINES);
    let text = format!(
        "pub async fn long(\n    x: u32,\n) {{\n{body}}}\n\n/// Long: a table.\nfn said() {{\n{body}}}\n\nfn short() {{}}\ntrait T {{\n    fn f(&self);\n}}\n"
    );
    std::fs::write(tmp.path().join("src/x.rs"), text).unwrap();
    assert_eq!(
        long_functions(tmp.path()),
        [format!("src/x.rs:1: fn long is {} lines", FN_MAX_LINES + 4)]
    );
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
        // `cortex-kernels`: the embedding model's arithmetic, built
        // optimised in every profile.
        "kernels",
        "mcp",
        "migrations",
        "mountd",
        "queries",
        "rustfmt.toml",
        "scripts",
        // `cortex-surreal`: a SurrealDB server for the test suite.
        "server",
        "src",
        "tests",
        // Patched copies of dependencies (`[patch.crates-io]`), each with
        // a PATCHED.md saying why.
        "vendor",
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
/// (the default, which the `cortex` binary requires), and the daemon and
/// the MCP server take the library without default features. rmcp is the
/// MCP server's alone.
#[test]
fn the_cli_dependencies_stay_out_of_the_library_and_the_daemon() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let package = &manifest[manifest.find("[package]").unwrap()..];
    assert!(!package.lines().any(|l| l.starts_with("rmcp")), "the library depends on rmcp");
    for daemon in ["mountd/Cargo.toml", "mcp/Cargo.toml"] {
        let manifest = std::fs::read_to_string(root.join(daemon)).unwrap();
        let cortex = manifest.lines().find(|l| l.starts_with("cortex ")).unwrap();
        assert!(cortex.contains("default-features = false"), "{daemon} takes the CLI: {cortex}");
    }
    for dep in ["clap", "indicatif"] {
        let line = package
            .lines()
            .find(|l| l.starts_with(&format!("{dep} ")) || l.starts_with(&format!("{dep}.")))
            .unwrap_or_else(|| panic!("{dep} is not a dependency of the package"));
        assert!(line.contains("optional = true"), "{dep} is not optional: {line}");
        assert!(package.contains(&format!("\"dep:{dep}\"")), "the cli feature lacks {dep}");
    }
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
