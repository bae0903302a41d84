//! The merge scenario suite through real mounts: each case a base tree,
//! an edit through main's mount and one through a session's, then `cortex
//! merge`. Text files changed on both sides are also merged with `git
//! merge-file`: where git merges cleanly, Cortex must too, to the same
//! bytes; Cortex also merges cases git cannot (different units on touching
//! lines), and never merges to a wrong result.

use std::path::Path;

use super::ok;
use crate::cli::mount::Mounted;

const RS: &str = "pub fn one() -> u32 {\n    1\n}\npub fn two() -> u32 {\n    2\n}\n";
const JS: &str = "class Store {\n  load(n) {\n    return n;\n  }\n  save(n) {\n    return n;\n  }\n}\nmodule.exports = { Store };\n";

/// An edit: write a file (Some) or delete it (None); or rename (from, to).
enum Op {
    Write(&'static str, String),
    Delete(&'static str),
    Rename(&'static str, &'static str),
}

/// A mocha suite, and a test added at its end.
const SUITE: &str =
    "describe('math', function () {\n  it('is', function () {\n    assert(1);\n  });\n});\n";

fn test_block(name: &str, value: &str) -> String {
    format!("\n  it('{name}', function () {{\n    assert({value});\n  }});\n")
}

fn with_test(name: &str, value: &str) -> String {
    SUITE.replace("});\n});\n", &format!("}});\n{}}});\n", test_block(name, value)))
}

struct Case {
    name: &'static str,
    base: Vec<(&'static str, Vec<u8>)>,
    main: Vec<Op>,
    session: Vec<Op>,
    /// Conflicting units (or paths) expected; empty for a clean merge.
    conflicts: Vec<&'static str>,
    /// Files main must hold after a clean merge.
    after: Vec<(&'static str, Option<String>)>,
}

fn apply(root: &Path, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Write(p, body) => std::fs::write(root.join(p), body).unwrap(),
            Op::Delete(p) => std::fs::remove_file(root.join(p)).unwrap(),
            Op::Rename(a, b) => std::fs::rename(root.join(a), root.join(b)).unwrap(),
        }
    }
}

fn git_merge(base: &[u8], ours: &[u8], theirs: &[u8]) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    for (n, d) in [("o", ours), ("b", base), ("t", theirs)] {
        std::fs::write(dir.path().join(n), d).unwrap();
    }
    let out = std::process::Command::new("git")
        .args(["merge-file", "-p", "o", "b", "t"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    (out.status.code() == Some(0)).then_some(out.stdout)
}

fn cases() -> Vec<Case> {
    let rs = || vec![("lib.rs", RS.as_bytes().to_vec())];
    vec![
        Case {
            name: "different functions of one Rust file, touching lines",
            base: rs(),
            main: vec![Op::Write("lib.rs", RS.replace("    1\n}", "    10\n} // one"))],
            session: vec![Op::Write("lib.rs", RS.replace("pub fn two()", "pub(crate) fn two()"))],
            conflicts: vec![],
            after: vec![(
                "lib.rs",
                Some(
                    RS.replace("    1\n}", "    10\n} // one")
                        .replace("pub fn two()", "pub(crate) fn two()"),
                ),
            )],
        },
        Case {
            name: "the same function changed differently",
            base: rs(),
            main: vec![Op::Write("lib.rs", RS.replace("    1\n", "    10\n"))],
            session: vec![Op::Write("lib.rs", RS.replace("    1\n", "    11\n"))],
            conflicts: vec!["lib.rs::one"],
            after: vec![],
        },
        Case {
            name: "a JavaScript class with two methods edited on two sides",
            base: vec![("store.js", JS.as_bytes().to_vec())],
            main: vec![Op::Write("store.js", JS.replacen("return n;", "return n + 1;", 1))],
            session: vec![Op::Write("store.js", JS.replace("  save(n) {", "  save(n, m) {"))],
            conflicts: vec![],
            after: vec![(
                "store.js",
                Some(
                    JS.replacen("return n;", "return n + 1;", 1)
                        .replace("  save(n) {", "  save(n, m) {"),
                ),
            )],
        },
        Case {
            name: "delete on one side, modify on the other",
            base: rs(),
            main: vec![Op::Delete("lib.rs")],
            session: vec![Op::Write("lib.rs", RS.replace("    2\n", "    20\n"))],
            conflicts: vec!["lib.rs"],
            after: vec![],
        },
        Case {
            name: "add/add of one file with different functions",
            base: vec![("keep.txt", b"k\n".to_vec())],
            main: vec![Op::Write("new.rs", "pub fn a() {}\n".into())],
            session: vec![Op::Write("new.rs", "pub fn b() {}\n".into())],
            conflicts: vec![],
            after: vec![("new.rs", Some("pub fn a() {}\npub fn b() {}\n".into()))],
        },
        Case {
            name: "rename on one side, edit on the other",
            base: rs(),
            main: vec![Op::Write("lib.rs", RS.replace("    2\n", "    22\n"))],
            session: vec![Op::Rename("lib.rs", "core.rs")],
            conflicts: vec![],
            after: vec![("lib.rs", None), ("core.rs", Some(RS.replace("    2\n", "    22\n")))],
        },
        Case {
            name: "identical edits",
            base: rs(),
            main: vec![Op::Write("lib.rs", RS.replace("    2\n", "    3\n"))],
            session: vec![Op::Write("lib.rs", RS.replace("    2\n", "    3\n"))],
            conflicts: vec![],
            after: vec![("lib.rs", Some(RS.replace("    2\n", "    3\n")))],
        },
        Case {
            name: "a binary file changed on both sides",
            base: vec![("blob.bin", b"\0\x01base".to_vec())],
            main: vec![Op::Write("blob.bin", "\0main".into())],
            session: vec![Op::Write("blob.bin", "\0session".into())],
            conflicts: vec!["blob.bin"],
            after: vec![],
        },
        Case {
            name: "a function of one name added on both sides, apart (git merges it twice)",
            base: rs(),
            main: vec![Op::Write("lib.rs", format!("{RS}pub fn three() -> u32 {{\n    3\n}}\n"))],
            session: vec![Op::Write(
                "lib.rs",
                format!("pub fn three() -> u32 {{\n    33\n}}\n{RS}"),
            )],
            conflicts: vec!["lib.rs::three"],
            after: vec![],
        },
        Case {
            name: "documented functions added at one place on both sides",
            base: rs(),
            main: vec![Op::Write("lib.rs", format!("{RS}\n/// Three.\npub fn three() {{}}\n"))],
            session: vec![Op::Write("lib.rs", format!("{RS}\n/// Four.\npub fn four() {{}}\n"))],
            conflicts: vec![],
            after: vec![(
                "lib.rs",
                Some(format!(
                    "{RS}\n/// Three.\npub fn three() {{}}\n\n/// Four.\npub fn four() {{}}\n"
                )),
            )],
        },
        Case {
            name: "imports added on both sides at one place",
            base: vec![("use.rs", format!("use std::fmt;\n\n{RS}").into_bytes())],
            main: vec![Op::Write("use.rs", format!("use std::fmt;\nuse std::io;\n\n{RS}"))],
            session: vec![Op::Write("use.rs", format!("use std::fmt;\nuse std::fs;\n\n{RS}"))],
            conflicts: vec![],
            after: vec![(
                "use.rs",
                Some(format!("use std::fmt;\nuse std::io;\nuse std::fs;\n\n{RS}")),
            )],
        },
        Case {
            name: "tests added on both sides at one place of a JavaScript suite",
            base: vec![("t.test.js", SUITE.as_bytes().to_vec())],
            main: vec![Op::Write("t.test.js", with_test("adds", "3"))],
            session: vec![Op::Write("t.test.js", with_test("subtracts", "-1"))],
            conflicts: vec![],
            after: vec![(
                "t.test.js",
                Some(SUITE.replace(
                    "});\n});\n",
                    &format!(
                        "}});\n{}{}}});\n",
                        test_block("adds", "3"),
                        test_block("subtracts", "-1")
                    ),
                )),
            )],
        },
        Case {
            name: "a test added on both sides under one name",
            base: vec![("t.test.js", SUITE.as_bytes().to_vec())],
            main: vec![Op::Write("t.test.js", with_test("adds", "3"))],
            session: vec![Op::Write("t.test.js", with_test("adds", "4"))],
            conflicts: vec!["t.test.js::describe('math')::it('adds')"],
            after: vec![],
        },
        Case {
            name: "a function moved to another file on one side, edited on the other",
            base: vec![
                ("a.rs", RS.as_bytes().to_vec()),
                ("b.rs", b"pub fn three() -> u32 {\n    3\n}\n".to_vec()),
            ],
            main: vec![
                Op::Write("a.rs", "pub fn one() -> u32 {\n    1\n}\n".into()),
                Op::Write(
                    "b.rs",
                    "pub fn three() -> u32 {\n    3\n}\npub fn two() -> u32 {\n    2\n}\n".into(),
                ),
            ],
            session: vec![Op::Write("a.rs", RS.replace("    2\n", "    22\n"))],
            conflicts: vec![],
            after: vec![
                ("a.rs", Some("pub fn one() -> u32 {\n    1\n}\n".into())),
                (
                    "b.rs",
                    Some(
                        "pub fn three() -> u32 {\n    3\n}\npub fn two() -> u32 {\n    22\n}\n"
                            .into(),
                    ),
                ),
            ],
        },
        Case {
            name: "a file with syntax errors, edited apart",
            base: vec![("bad.rs", b"fn a( {\n    1\n}\n\n\nfn b() {\n    2\n}\n".to_vec())],
            main: vec![Op::Write("bad.rs", "fn a( {\n    10\n}\n\n\nfn b() {\n    2\n}\n".into())],
            session: vec![Op::Write(
                "bad.rs",
                "fn a( {\n    1\n}\n\n\nfn b() {\n    20\n}\n".into(),
            )],
            conflicts: vec![],
            after: vec![("bad.rs", Some("fn a( {\n    10\n}\n\n\nfn b() {\n    20\n}\n".into()))],
        },
    ]
}

/// The rule `merge` reports for a case's merged files, where it is more
/// than lines.
fn rules_of(case: &str) -> Vec<(&'static str, &'static str)> {
    match case {
        "tests added on both sides at one place of a JavaScript suite" => {
            vec![("t.test.js", "insertions")]
        }
        "documented functions added at one place on both sides" => vec![("lib.rs", "insertions")],
        "imports added on both sides at one place" => vec![("use.rs", "insertions")],
        "rename on one side, edit on the other" => vec![("lib.rs -> core.rs", "moved")],
        "a function moved to another file on one side, edited on the other" => {
            vec![("a.rs", "moved"), ("b.rs", "moved")]
        }
        "different functions of one Rust file, touching lines" => vec![("lib.rs", "units")],
        _ => vec![],
    }
}

#[test]
fn merge_scenarios_through_mounts_against_git() {
    for case in cases() {
        let files: Vec<(&str, String)> =
            case.base.iter().map(|(p, d)| (*p, String::from_utf8_lossy(d).into_owned())).collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, d)| (*p, d.as_str())).collect();
        let m = Mounted::new(&files);
        // Binary bases are written as bytes (the tree holds them as given).
        for (p, d) in &case.base {
            if std::str::from_utf8(d).is_err() || d.contains(&0) {
                std::fs::write(m.mnt.join(p), d).unwrap();
            }
        }
        let s = m.tmp.path().join("session");
        std::fs::create_dir_all(&s).unwrap();
        ok(&m.tree, &["mount", "--session", "s", "--create", s.to_str().unwrap()]);
        let base: Vec<(String, Vec<u8>)> = case
            .base
            .iter()
            .map(|(p, _)| (p.to_string(), std::fs::read(m.mnt.join(p)).unwrap()))
            .collect();
        apply(&m.mnt, &case.main);
        apply(&s, &case.session);
        // git's view of each text file both sides changed.
        let mut git: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        for (p, b) in &base {
            let (o, t) = (std::fs::read(m.mnt.join(p)), std::fs::read(s.join(p)));
            if let (Ok(o), Ok(t)) = (o, t)
                && o != *b
                && t != *b
                && !b.contains(&0)
            {
                git.push((p.clone(), git_merge(b, &o, &t)));
            }
        }
        ok(&m.tree, &["umount", s.to_str().unwrap()]);

        let out = super::cortex(&m.tree, &["merge", "s", "--json"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}: {}", case.name, String::from_utf8_lossy(&out.stderr)));
        let units: Vec<&str> = report["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["unit"].as_str().unwrap())
            .collect();
        assert_eq!(units, case.conflicts, "{}", case.name);
        for (path, rule) in rules_of(case.name) {
            assert_eq!(report["rules"][path], rule, "{}: the rule that merged {path}", case.name);
        }
        assert_eq!(out.status.success(), case.conflicts.is_empty(), "{}: exit status", case.name);
        if !case.conflicts.is_empty() {
            continue;
        }
        for (p, want) in &case.after {
            let got = std::fs::read_to_string(m.mnt.join(p)).ok();
            assert_eq!(&got, want, "{}: {p}", case.name);
        }
        for (p, merged) in git {
            if let Some(g) = merged {
                assert_eq!(
                    std::fs::read(m.mnt.join(&p)).unwrap(),
                    g,
                    "{}: git merges {p} cleanly",
                    case.name
                );
            }
        }
    }
}

/// A call the session writes to a function main removed: both merge
/// cleanly by lines and units, and the result would not build. The merge
/// names it as a warning and completes; `--strict` makes it a conflict.
#[test]
fn a_call_to_a_function_the_other_side_removed_is_a_warning_or_with_strict_a_conflict() {
    let lib = "pub fn keep() -> u32 {\n    1\n}\n\npub fn gone() -> u32 {\n    2\n}\n";
    let user = "pub fn user() -> u32 {\n    crate::lib::keep()\n}\n";
    let m = Mounted::new(&[("lib.rs", lib), ("user.rs", user)]);
    let s = m.tmp.path().join("session");
    std::fs::create_dir_all(&s).unwrap();
    ok(&m.tree, &["mount", "--session", "s", "--create", s.to_str().unwrap()]);
    std::fs::write(m.mnt.join("lib.rs"), lib.replace("\npub fn gone() -> u32 {\n    2\n}\n", ""))
        .unwrap();
    std::fs::write(s.join("user.rs"), user.replace("keep()", "keep() + crate::lib::gone()"))
        .unwrap();
    ok(&m.tree, &["umount", s.to_str().unwrap()]);

    let strict = super::cortex(&m.tree, &["merge", "s", "--strict", "--dry-run", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&strict.stdout).unwrap();
    let conflicts = report["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{report}");
    assert_eq!(conflicts[0]["kind"], "dangling-call");
    assert_eq!(conflicts[0]["unit"], "user.rs::user");
    assert!(!strict.status.success());

    let report: serde_json::Value =
        serde_json::from_str(&ok(&m.tree, &["merge", "s", "--json"])).unwrap();
    assert!(report["conflicts"].as_array().unwrap().is_empty(), "{report}");
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{report}");
    assert_eq!(warnings[0]["caller"], "user.rs::user");
    assert_eq!(warnings[0]["callee"], "lib.rs::gone");
    assert_eq!(warnings[0]["removed_by"], "main");
    assert!(report["snapshot"].is_u64(), "the merge completed: {report}");
}
