//! Tests of the merge by unit (`code.rs`).

use super::*;

const BASE: &str = "use std::fmt;\n\nfn one() -> u32 {\n    1\n}\nfn two() -> u32 {\n    2\n}\n";

fn rust(base: &str, ours: &str, theirs: &str) -> Merged {
    merge("src/lib.rs", Language::Rust, base, ours, theirs)
}

#[test]
fn different_functions_merge_even_when_adjacent() {
    let ours = BASE.replace("    1\n", "    10\n");
    let theirs = BASE.replace("    2\n", "    20\n");
    // Lines 4 and 7 are close: still two units.
    let want = BASE.replace("    1\n", "    10\n").replace("    2\n", "    20\n");
    assert_eq!(rust(BASE, &ours, &theirs), Merged::Clean(want));
    // Even the last line of one and the first of the next.
    let ours = BASE.replace("    1\n}", "    1\n} // one");
    let theirs = BASE.replace("fn two()", "pub fn two()");
    match rust(BASE, &ours, &theirs) {
        Merged::Clean(text) => {
            assert!(text.contains("} // one") && text.contains("pub fn two()"), "{text}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_same_function_changed_differently_is_a_conflict_naming_it() {
    let ours = BASE.replace("    1\n", "    10\n");
    let theirs = BASE.replace("    1\n", "    11\n");
    match rust(BASE, &ours, &theirs) {
        Merged::Conflicts { conflicts, text } => {
            assert_eq!(conflicts.len(), 1);
            assert_eq!(conflicts[0].unit, "src/lib.rs::one");
            assert!(text.contains("<<<<<<< main"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

/// TypeScript and Python merge by unit as Rust does: methods of one
/// class apart, one method changed twice a conflict naming it.
#[test]
fn typescript_and_python_methods_merge_by_unit() {
    let cases = [
        (
            "web/a.ts",
            Language::TypeScript,
            "export class S {\n  a(): number {\n    return 1\n  }\n  b(): number {\n    return 2\n  }\n}\n",
            "web/a.ts::S::a",
        ),
        (
            "py/a.py",
            Language::Python,
            "class S:\n    def a(self):\n        return 1\n\n    def b(self):\n        return 2\n",
            "py/a.py::S::a",
        ),
    ];
    for (path, language, base, unit) in cases {
        let ours = base.replace("return 1", "return 10");
        let theirs = base.replace("return 2", "return 20");
        let want = ours.replace("return 2", "return 20");
        assert_eq!(merge(path, language, base, &ours, &theirs), Merged::Clean(want), "{path}");
        let theirs = base.replace("return 1", "return 11");
        match merge(path, language, base, &ours, &theirs) {
            Merged::Conflicts { conflicts, .. } => {
                assert_eq!(conflicts.len(), 1, "{path}");
                assert_eq!(conflicts[0].unit, unit);
            }
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[test]
fn methods_of_one_impl_merge_apart() {
    let base = "struct S;\nimpl S {\n    fn a(&self) -> u32 {\n        1\n    }\n    fn b(&self) -> u32 {\n        2\n    }\n}\n";
    let ours = base.replace("        1\n", "        10\n");
    let theirs = base.replace("        2\n", "        20\n");
    let want = base.replace("        1\n", "        10\n").replace("        2\n", "        20\n");
    assert_eq!(rust(base, &ours, &theirs), Merged::Clean(want));
}

#[test]
fn two_sides_adding_different_functions_at_the_end_keep_both() {
    let ours = format!("{BASE}fn three() {{}}\n");
    let theirs = format!("{BASE}fn four() {{}}\n");
    assert_eq!(
        rust(BASE, &ours, &theirs),
        Merged::Clean(format!("{BASE}fn three() {{}}\nfn four() {{}}\n"))
    );
}

#[test]
fn deleting_a_function_the_other_side_changed_is_a_conflict() {
    let ours = BASE.replace("fn one() -> u32 {\n    1\n}\n", "");
    let theirs = BASE.replace("    1\n", "    10\n");
    match rust(BASE, &ours, &theirs) {
        Merged::Conflicts { conflicts, .. } => assert_eq!(conflicts[0].unit, "src/lib.rs::one"),
        other => panic!("{other:?}"),
    }
}

/// A unit of one name added on both sides conflicts, even where the
/// lines merge (weave's #107); added alike at two places, too.
#[test]
fn a_unit_added_twice_under_one_name_is_a_conflict_naming_it() {
    let three = |n: u32| format!("fn three() -> u32 {{\n    {n}\n}}\n");
    let ours = format!("{BASE}{}", three(3));
    for theirs in [format!("{}{BASE}", three(33)), format!("{}{BASE}", three(3))] {
        assert!(lines::clean_text(&lines::merge(BASE, &ours, &theirs)).is_some());
        match rust(BASE, &ours, &theirs) {
            Merged::Conflicts { conflicts, .. } => {
                assert_eq!(conflicts.len(), 1);
                assert_eq!(conflicts[0].unit, "src/lib.rs::three");
            }
            other => panic!("{other:?}"),
        }
    }
    // The same unit added alike at one place is one unit.
    assert_eq!(rust(BASE, &ours, &ours), Merged::Clean(ours.clone()));
}

/// Doc comments and attributes go with their unit: two documented
/// units added at one place are both kept, main's first.
#[test]
fn documented_units_added_at_one_place_keep_both_with_their_docs() {
    let ours = format!("{BASE}\n/// Three.\n#[inline]\nfn three() {{}}\n");
    let theirs = format!("{BASE}\n/// Four.\nfn four() {{}}\n");
    let want =
        format!("{BASE}\n/// Three.\n#[inline]\nfn three() {{}}\n\n/// Four.\nfn four() {{}}\n");
    assert_eq!(rust(BASE, &ours, &theirs), Merged::Clean(want));
    // JavaScript: a JSDoc above `obj.m = function …` is the unit's.
    let base = "var res = {};\n\n/**\n * Send.\n * @api public\n */\nres.send = function (b) {\n  return b;\n};\n";
    let ours = base.replace("@api public", "@public");
    let theirs = base.replace("return b;", "return b + 1;");
    let want = ours.replace("return b;", "return b + 1;");
    let m = merge("lib/res.js", Language::JavaScript, base, &ours, &theirs);
    assert_eq!(m, Merged::Clean(want));
}

#[test]
fn imports_added_on_both_sides_are_the_union_and_a_rewrite_met_twice_conflicts() {
    let js = "const a = require('a');\n\nfunction f() {}\n";
    let ours = js.replace("('a');\n", "('a');\nconst b = require('b');\n");
    let theirs = js.replace("('a');\n", "('a');\nconst c = require('c');\n");
    let want = js.replace("('a');\n", "('a');\nconst b = require('b');\nconst c = require('c');\n");
    assert_eq!(merge("x.js", Language::JavaScript, js, &ours, &theirs), Merged::Clean(want));
    // Python: one side removes an import, the other adds one there.
    let py = "import os\nimport re\n\n\ndef f():\n    pass\n";
    let ours = py.replace("import re\n", "");
    let theirs = py.replace("import re\n", "import re\nimport sys\n");
    let want = "import os\nimport sys\n\n\ndef f():\n    pass\n";
    assert_eq!(merge("x.py", Language::Python, py, &ours, &theirs), Merged::Clean(want.into()));
    // One import rewritten by both sides, differently: a conflict.
    let rs = "use a::{x, y};\n\nfn f() {}\n";
    let ours = rs.replace("{x, y}", "{x, y, z}");
    let theirs = rs.replace("{x, y}", "{w, x, y}");
    assert!(matches!(rust(rs, &ours, &theirs), Merged::Conflicts { .. }));
}

/// A unit moved on one side and edited on the other: the edit follows
/// the move, and the merge says so.
#[test]
fn an_edit_follows_a_unit_moved_on_the_other_side() {
    let one = "fn one() -> u32 {\n    1\n}\n";
    let ours = format!("{}{one}", BASE.replace(one, ""));
    let theirs = BASE.replace("    1\n", "    10\n");
    assert!(lines::clean_text(&lines::merge(BASE, &ours, &theirs)).is_none());
    let (merged, rule) =
        merge_explained("src/lib.rs", Language::Rust, BASE, &ours, &theirs, &Settled::new());
    assert_eq!(merged, Merged::Clean(ours.replace("    1\n", "    10\n")));
    assert_eq!(rule, Rule::Moved);
    // Edits apart are `units`; a clean line merge is `lines`.
    let apart = BASE.replace("    2\n", "    20\n");
    let (_, rule) =
        merge_explained("src/lib.rs", Language::Rust, BASE, &theirs, &apart, &Settled::new());
    assert_eq!(rule, Rule::Lines);
    let near = BASE.replace("    1\n}", "    1\n} // one");
    let (_, rule) = merge_explained(
        "src/lib.rs",
        Language::Rust,
        BASE,
        &near,
        &BASE.replace("fn two()", "pub fn two()"),
        &Settled::new(),
    );
    assert_eq!(rule, Rule::Units);
}

/// Fields and variants added at one place on both sides: both, main's
/// first; a field changed on both sides stays a conflict.
#[test]
fn members_added_on_both_sides_are_both_kept() {
    let base = "pub enum E {\n    A,\n}\n\npub struct S {\n    a: u32,\n}\n";
    let ours = base
        .replace("    A,\n", "    A,\n    B,\n")
        .replace("    a: u32,\n", "    a: u32,\n    b: u32,\n");
    let theirs = base
        .replace("    A,\n", "    A,\n    /// See.\n    C,\n")
        .replace("    a: u32,\n", "    a: u32,\n    c: u8,\n");
    let want = base
        .replace("    A,\n", "    A,\n    B,\n    /// See.\n    C,\n")
        .replace("    a: u32,\n", "    a: u32,\n    b: u32,\n    c: u8,\n");
    let (merged, rule) =
        merge_explained("src/lib.rs", Language::Rust, base, &ours, &theirs, &Settled::new());
    assert_eq!(merged, Merged::Clean(want));
    assert_eq!(rule, Rule::Insertions);
    let ours = base.replace("a: u32", "a: u64");
    let theirs = base.replace("a: u32", "a: i32");
    assert!(matches!(rust(base, &ours, &theirs), Merged::Conflicts { .. }));
    // A TypeScript interface's members, likewise.
    let ts = "export interface I {\n  a: number;\n}\n\nexport function f(): void {}\n";
    let ours = ts.replace("  a: number;\n", "  a: number;\n  b: string;\n");
    let theirs = ts.replace("  a: number;\n", "  a: number;\n  c?: boolean;\n");
    let want = ts.replace("  a: number;\n", "  a: number;\n  b: string;\n  c?: boolean;\n");
    assert_eq!(merge("web/i.ts", Language::TypeScript, ts, &ours, &theirs), Merged::Clean(want));
}

/// Keys added on both sides at one place of an object literal: both;
/// elements of an array, or statements of a body: a conflict.
#[test]
fn object_keys_added_on_both_sides_are_both_kept_array_elements_are_not() {
    let js = "module.exports = {\n  a: 1,\n};\n\nfunction f() {\n  const xs = [\n    1,\n  ];\n  return xs;\n}\n";
    let add = |at: &str, what: &str| js.replace(at, &format!("{at}{what}"));
    let (ours, theirs) = (add("  a: 1,\n", "  b: 2,\n"), add("  a: 1,\n", "  c: 3,\n"));
    let (merged, rule) =
        merge_explained("lib/x.js", Language::JavaScript, js, &ours, &theirs, &Settled::new());
    assert_eq!(merged, Merged::Clean(add("  a: 1,\n", "  b: 2,\n  c: 3,\n")));
    assert_eq!(rule, Rule::Insertions);
    let (ours, theirs) = (add("    1,\n", "    2,\n"), add("    1,\n", "    3,\n"));
    assert!(matches!(
        merge("lib/x.js", Language::JavaScript, js, &ours, &theirs),
        Merged::Conflicts { .. }
    ));
    let (ours, theirs) = (add("  ];\n", "  g(1,\n    2);\n"), add("  ];\n", "  h(3,\n    4);\n"));
    assert!(matches!(
        merge("lib/x.js", Language::JavaScript, js, &ours, &theirs),
        Merged::Conflicts { .. }
    ));
    // A Python dictionary inside a function, likewise.
    let py = "def f():\n    return {\n        'a': 1,\n    }\n";
    let ours = py.replace("'a': 1,\n", "'a': 1,\n        'b': 2,\n");
    let theirs = py.replace("'a': 1,\n", "'a': 1,\n        'c': 3,\n");
    let want = py.replace("'a': 1,\n", "'a': 1,\n        'b': 2,\n        'c': 3,\n");
    assert_eq!(merge("x.py", Language::Python, py, &ours, &theirs), Merged::Clean(want));
}

#[test]
fn a_file_with_syntax_errors_merges_by_the_units_that_parse() {
    // Edited apart: git's merge, as ever.
    let broken = "fn one( {\n    1\n}\nfn two() {\n    2\n}\n";
    let ours = broken.replace("    1\n", "    10\n");
    let theirs = broken.replace("    2\n", "    20\n");
    assert_eq!(
        rust(broken, &ours, &theirs),
        Merged::Clean(broken.replace("    1\n", "    10\n").replace("    2\n", "    20\n"))
    );
    // Main brings a construct the grammar does not know (syn's `impl !
    // Trait {}`); both sides add a function at the end: both kept.
    let odd = "fn odd() {\n    impl ! {}\n}\n";
    let ours = format!("{BASE}{odd}fn three() {{}}\n");
    let theirs = format!("{BASE}fn four() {{}}\n");
    assert_eq!(
        rust(BASE, &ours, &theirs),
        Merged::Clean(format!("{BASE}{odd}fn three() {{}}\nfn four() {{}}\n"))
    );
}

#[test]
fn only_errors_neither_side_has_count_as_new() {
    let clean = Version::parse("a.rs", "fn a() {}\n", Language::Rust).unwrap();
    let broken = Version::parse("a.rs", "fn a( {}\n", Language::Rust).unwrap();
    assert!(Version::adds_errors(&broken, &clean, &clean));
    assert!(!Version::adds_errors(&broken, &broken, &clean));
    assert!(!Version::adds_errors(&clean, &broken, &broken));
}

#[test]
fn a_unit_both_sides_added_at_different_places_is_a_conflict_naming_it() {
    // The lines conflict (both change `one`), so the merge goes by unit;
    // `extra` added at the top by main and at the end by the session
    // must not be kept twice.
    let extra = "fn extra() {}\n";
    let ours = format!("{extra}{}", BASE.replace("    1\n", "    10\n"));
    let theirs = format!("{}{extra}", BASE.replace("    1\n", "    11\n"));
    let m = rust(BASE, &ours, &theirs);
    let Merged::Conflicts { conflicts, .. } = &m else { panic!("{m:?}") };
    let units: Vec<&str> = conflicts.iter().map(|c| c.unit.as_str()).collect();
    assert!(units.contains(&"src/lib.rs::extra"), "{units:?}");
}
