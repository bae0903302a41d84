//! The merge of one file, against `git merge-file`: Cortex merges cleanly
//! every case git merges cleanly, to the same text, and more cases besides
//! (edits to different units, however close). Scenario cases by hand, then
//! random edits of real files.

use cortex::graph::{Language, parse_file};
use cortex::merge::code::{Merged, merge};
use proptest::prelude::*;

/// `git merge-file -p`: the merged text, or None on conflicts.
fn git_merge(base: &str, ours: &str, theirs: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n);
    std::fs::write(path("ours"), ours).unwrap();
    std::fs::write(path("base"), base).unwrap();
    std::fs::write(path("theirs"), theirs).unwrap();
    let out = std::process::Command::new("git")
        .args(["merge-file", "-p"])
        .arg(path("ours"))
        .arg(path("base"))
        .arg(path("theirs"))
        .output()
        .expect("git merge-file runs");
    match out.status.code() {
        Some(0) => Some(String::from_utf8(out.stdout).unwrap()),
        Some(n) if n > 0 => None,
        _ => panic!("git merge-file failed: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// Merges with Cortex and checks it against git. Returns Cortex's result.
/// Where git merges cleanly and we do not, the one rule that says why: a
/// unit of one name added on both sides (`merge::code`'s `added_twice`)
/// conflicts, however the lines merge.
fn check(path: &str, base: &str, ours: &str, theirs: &str) -> Merged {
    let language = Language::of_path(path.as_bytes()).expect("a code path");
    let ours_first = merge(path, language, base, ours, theirs);
    if let Some(git) = git_merge(base, ours, theirs) {
        let ids = |text: &str| -> Vec<String> {
            let parsed = parse_file(path, text.as_bytes(), language);
            parsed.units.into_iter().map(|u| u.id).collect()
        };
        let (b, o, t) = (ids(base), ids(ours), ids(theirs));
        let added_twice = |id: &String| !b.contains(id) && o.contains(id) && t.contains(id);
        match &ours_first {
            Merged::Conflicts { conflicts, .. }
                if conflicts.iter().all(|c| added_twice(&c.unit)) => {}
            _ => assert_eq!(
                ours_first,
                Merged::Clean(git.clone()),
                "git merges cleanly, so must we, to the same text\nbase:\n{base}\nours:\n{ours}\ntheirs:\n{theirs}"
            ),
        }
    }
    ours_first
}

fn conflict_units(m: &Merged) -> Vec<String> {
    match m {
        Merged::Clean(_) => Vec::new(),
        Merged::Conflicts { conflicts, .. } => conflicts.iter().map(|c| c.unit.clone()).collect(),
    }
}

const RUST: &str = "use std::fmt;

/// One.
pub fn one(x: u32) -> u32 {
    x + 1
}

pub fn two(x: u32) -> u32 {
    x * 2
}

pub struct S {
    n: u32,
}

impl S {
    pub fn get(&self) -> u32 {
        self.n
    }

    pub fn set(&mut self, n: u32) {
        self.n = n;
    }
}
";

const JS: &str = "const path = require('path');

class Store {
  constructor(dir) {
    this.dir = dir;
  }

  load(name) {
    return path.join(this.dir, name);
  }

  save(name, data) {
    return { name, data };
  }
}

module.exports = { Store };
";

#[test]
fn scenarios_merge_by_unit_and_never_disagree_with_git() {
    // Different functions of one Rust file, next to each other: git
    // conflicts (touching lines), we do not.
    let ours = RUST.replace("    x + 1\n}", "    x + 100\n} // changed");
    let theirs = RUST.replace("pub fn two(x: u32)", "pub fn two(y: u32)").replace("x * 2", "y * 2");
    let m = check("src/lib.rs", RUST, &ours, &theirs);
    let Merged::Clean(text) = &m else { panic!("{m:?}") };
    assert!(text.contains("x + 100") && text.contains("y * 2"), "{text}");

    // The same function changed differently: a conflict naming it.
    let ours = RUST.replace("x + 1", "x + 2");
    let theirs = RUST.replace("x + 1", "x + 3");
    assert_eq!(conflict_units(&check("src/lib.rs", RUST, &ours, &theirs)), ["src/lib.rs::one"]);

    // The same edit on both sides.
    let same = RUST.replace("x * 2", "x << 1");
    assert_eq!(check("src/lib.rs", RUST, &same, &same), Merged::Clean(same.clone()));

    // Two methods of one impl, one per side.
    let ours = RUST.replace("        self.n\n", "        self.n + 0\n");
    let theirs = RUST.replace("        self.n = n;\n", "        self.n = n + 0;\n");
    assert!(matches!(check("src/lib.rs", RUST, &ours, &theirs), Merged::Clean(_)));

    // A JavaScript class with two methods edited on two sides, adjacent.
    let ours =
        JS.replace("return path.join(this.dir, name);", "return path.resolve(this.dir, name);");
    let theirs = JS.replace("  save(name, data) {", "  save(name, data, mode) {");
    let m = check("lib/store.js", JS, &ours, &theirs);
    let Merged::Clean(text) = &m else { panic!("{m:?}") };
    assert!(text.contains("path.resolve") && text.contains("mode)"), "{text}");

    // Delete on one side, change on the other: a conflict naming the unit.
    let ours = RUST.replace("pub fn two(x: u32) -> u32 {\n    x * 2\n}\n\n", "");
    let theirs = RUST.replace("x * 2", "x * 3");
    assert_eq!(conflict_units(&check("src/lib.rs", RUST, &ours, &theirs)), ["src/lib.rs::two"]);

    // Both add a function at the same place: both kept.
    let ours = format!("{RUST}\npub fn three() {{}}\n");
    let theirs = format!("{RUST}\npub fn four() {{}}\n");
    let m = check("src/lib.rs", RUST, &ours, &theirs);
    let Merged::Clean(text) = &m else { panic!("{m:?}") };
    assert!(text.contains("fn three") && text.contains("fn four"), "{text}");

    // A file with a syntax error: merged by lines, like git.
    let broken = RUST.replace("pub fn two(x: u32) -> u32 {", "pub fn two(x: u32 -> u32 {");
    let ours = broken.replace("x + 1", "x + 9");
    let theirs = broken.replace("self.n = n;", "self.n = n * 2;");
    assert!(matches!(check("src/lib.rs", &broken, &ours, &theirs), Merged::Clean(_)));
}

/// A random edit: at line `at` (modulo), replace `del` lines with `text`.
#[derive(Clone, Debug)]
struct Edit {
    at: usize,
    del: usize,
    text: String,
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = prop_oneof![
        Just(String::new()),
        Just("    let y = 1;\n".to_owned()),
        Just("// note\n".to_owned()),
        Just("pub fn extra() -> u8 {\n    7\n}\n".to_owned()),
        Just("        self.n += 1;\n".to_owned()),
    ];
    (0usize..200, 0usize..3, text).prop_map(|(at, del, text)| Edit { at, del, text })
}

fn apply(base: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = base.split_inclusive('\n').map(str::to_owned).collect();
    for e in edits {
        let at = e.at % (lines.len() + 1);
        let end = (at + e.del).min(lines.len());
        let new: Vec<String> = e.text.split_inclusive('\n').map(str::to_owned).collect();
        lines.splice(at..end, new);
    }
    lines.concat()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(0x00c0_47e8), ..ProptestConfig::default() })]

    /// Whatever two sides do to a file, when git merges it cleanly we merge
    /// it cleanly to the same text.
    #[test]
    fn random_edits_never_merge_worse_than_git(
        ours in prop::collection::vec(edit(), 1..4),
        theirs in prop::collection::vec(edit(), 1..4),
        js in any::<bool>(),
    ) {
        let (path, base) = if js { ("lib/store.js", JS) } else { ("src/lib.rs", RUST) };
        check(path, base, &apply(base, &ours), &apply(base, &theirs));
    }
}

/// Cases random edits found where we once disagreed with git, kept as
/// plain tests so that every run checks them.
#[test]
fn random_cases_that_once_disagreed_with_git() {
    let e = |at, del, text: &str| Edit { at, del, text: text.to_owned() };
    let cases = [
        (
            vec![e(50, 2, ""), e(135, 1, "")],
            vec![e(24, 0, "pub fn extra() -> u8 {\n    7\n}\n"), e(59, 0, "    let y = 1;\n")],
        ),
        (vec![e(0, 0, "")], vec![e(19, 0, "")]),
        (
            vec![e(6, 0, "    let y = 1;\n")],
            vec![
                e(75, 2, "        self.n += 1;\n"),
                e(3, 2, "pub fn extra() -> u8 {\n    7\n}\n"),
                e(39, 2, ""),
            ],
        ),
    ];
    for (ours, theirs) in cases {
        check("src/lib.rs", RUST, &apply(RUST, &ours), &apply(RUST, &theirs));
    }
    // One function added on both sides at two places: git keeps it twice,
    // we name it.
    let extra = "pub fn extra() -> u8 {\n    7\n}\n";
    let m = check(
        "src/lib.rs",
        RUST,
        &apply(RUST, &[e(2, 0, extra)]),
        &apply(RUST, &[e(200, 0, extra)]),
    );
    assert_eq!(conflict_units(&m), vec!["src/lib.rs::extra".to_owned()]);
}
