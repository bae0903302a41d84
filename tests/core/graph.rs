//! The code graph without the store: queries, units, references, edges.

use std::collections::BTreeSet;
use std::path::Path;

use cortex::graph::{Language, parse_file};
use cortex::index::index_head;

use crate::common;

#[test]
fn queries_compile_against_their_grammars() {
    for language in Language::ALL {
        let mut counts = Vec::new();
        for (name, source) in language.query_sources() {
            let query = tree_sitter::Query::new(&language.grammar(), source);
            assert!(query.is_ok(), "queries/{name}: {:?}", query.err());
            counts.push(query.unwrap().pattern_count());
        }
        // And the parser's own copy, all three in one, split where each
        // file's patterns begin.
        let q = language.queries();
        assert_eq!(q.unit_patterns, counts[0]);
        assert_eq!(q.decision_patterns, counts[0] + counts[1]);
        assert_eq!(q.all.pattern_count(), counts.iter().sum::<usize>());
    }
}

fn lines_with<'a>(dump: &'a [String], prefix: &str) -> BTreeSet<&'a str> {
    dump.iter().filter(|l| l.starts_with(prefix)).map(String::as_str).collect()
}

const LIB: &str = "pub mod parse;\nmod util;\nuse crate::parse::Parser;\n\npub fn run() -> u32 { let p = Parser::new(); p.go() + util::twice(1) }\n";
const PARSE: &str = "use crate::util::twice;\n\n/// A parser.\npub struct Parser;\n\nimpl Parser {\n    pub fn new() -> Parser { Parser }\n    pub fn go(&self) -> u32 { twice(self.step()) }\n    fn step(&self) -> u32 { 1 }\n}\n";
const UTIL: &str = "pub fn twice(x: u32) -> u32 { x * 2 }\n";
const JS: &str =
    "import { helper } from './helper.js';\nexport function main() { return helper(2); }\n";
const HELPER: &str = "export function helper(x) { return x + 1; }\n";

fn write_tree(dir: &Path) {
    common::write(dir, "src/lib.rs", LIB.as_bytes());
    common::write(dir, "src/parse.rs", PARSE.as_bytes());
    common::write(dir, "src/util.rs", UTIL.as_bytes());
    common::write(dir, "web/main.js", JS.as_bytes());
    common::write(dir, "web/helper.js", HELPER.as_bytes());
    common::write(dir, "README.md", b"not code\n");
}

#[tokio::test]
async fn an_import_is_indexed_with_resolved_edges() {
    let t = common::store().await;
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path());
    common::import(&t.store, src.path()).await;
    let report = index_head(&t.store).await.unwrap();
    assert!(report.full);
    assert_eq!(report.parsed, 5);
    let d = common::graph_dump(&t.store).await;
    let calls = lines_with(&d, "calls");
    for want in [
        "calls src/lib.rs::run -> src/parse.rs::Parser::new (resolved)",
        "calls src/lib.rs::run -> src/parse.rs::Parser::go (resolved)",
        "calls src/lib.rs::run -> src/util.rs::twice (resolved)",
        "calls src/parse.rs::Parser::go -> src/util.rs::twice (resolved)",
        "calls src/parse.rs::Parser::go -> src/parse.rs::Parser::step (resolved)",
        "calls web/main.js::main -> web/helper.js::helper (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    let imports = lines_with(&d, "imports");
    assert!(imports.contains("imports src/lib.rs -> src/parse.rs (resolved)"), "{imports:#?}");
    assert!(
        imports.contains("imports src/lib.rs -> src/parse.rs::Parser (resolved)"),
        "{imports:#?}"
    );
    assert!(
        imports.contains("imports web/main.js -> web/helper.js::helper (resolved)"),
        "{imports:#?}"
    );
    assert!(
        lines_with(&d, "contains")
            .contains("contains src/parse.rs::impl Parser -> src/parse.rs::Parser::go (resolved)")
    );
    // Nothing to do when nothing changed.
    assert_eq!(index_head(&t.store).await.unwrap().parsed, 0);
}

/// A package's tests and examples call its library by the crate's name
/// (from `Cargo.toml`, `-` read as `_`); another crate's name is not it.
#[tokio::test]
async fn a_crate_is_called_by_its_name_from_its_tests_and_examples() {
    let t = common::store().await;
    let src = tempfile::tempdir().unwrap();
    let d = src.path();
    let files: [(&str, &[u8]); 5] = [
        ("Cargo.toml", b"[package]\nname = \"my-crate\"\nversion = \"0.1.0\"\n"),
        ("src/lib.rs", b"pub mod task;\npub use task::spawn;\n"),
        ("src/task.rs", b"pub fn spawn() {}\npub fn other() {}\n"),
        ("tests/it.rs", b"#[test]\nfn spawns() { my_crate::spawn(); }\n"),
        (
            "examples/ex.rs",
            b"use my_crate::task::other;\nfn main() { other(); futures::spawn(); }\n",
        ),
    ];
    for (path, text) in files {
        common::write(d, path, text);
    }
    common::import(&t.store, d).await;
    index_head(&t.store).await.unwrap();
    let calls = lines_with_owned(&common::graph_dump(&t.store).await, "calls");
    let want = [
        "calls examples/ex.rs::main -> src/task.rs::other (resolved)",
        "calls tests/it.rs::spawns -> src/task.rs::spawn (resolved)",
    ];
    assert_eq!(calls, want.map(str::to_owned).into_iter().collect(), "{calls:#?}");
}

fn lines_with_owned(dump: &[String], prefix: &str) -> BTreeSet<String> {
    lines_with(dump, prefix).into_iter().map(str::to_owned).collect()
}

/// Edits applied one after another: after each, the incremental graph
/// equals a fresh index of the same tree.
#[tokio::test]
async fn incremental_equals_clean() {
    let t = common::store().await;
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path());
    common::import(&t.store, src.path()).await;
    index_head(&t.store).await.unwrap();
    type Edit = Box<dyn Fn(&Path)>;
    let edits: Vec<Edit> = vec![
        // A function renamed: callers now resolve elsewhere or nowhere.
        Box::new(|d| {
            common::write(d, "src/util.rs", b"pub fn thrice(x: u32) -> u32 { x * 3 }\n");
        }),
        // And a new file defines the old name.
        Box::new(|d| {
            common::write(d, "src/extra.rs", b"pub fn twice(x: u32) -> u32 { x + x }\n");
        }),
        // A change no name sees: the file's records are written again, no
        // bucket of the name index is (the store's name cache carries on).
        Box::new(|d| {
            common::write(d, "src/extra.rs", b"pub fn twice(x: u32) -> u32 { x + x } // 2x\n");
        }),
        Box::new(|d| std::fs::remove_file(d.join("web/helper.js")).unwrap()),
        Box::new(|d| {
            common::write(d, "web/helper.js", HELPER.as_bytes());
        }),
        Box::new(|d| {
            common::write(d, "src/parse.rs", b"pub struct Parser;\nimpl Parser { pub fn new() -> Parser { Parser } pub fn go(&self) -> u32 { broken( }\n");
        }),
        Box::new(|d| std::fs::remove_dir_all(d.join("src")).unwrap()),
        Box::new(write_tree),
        // A receiver typed through fields in three files: `a.b.c.go()`.
        Box::new(|d| {
            common::write(d, "src/a.rs", b"pub struct A { pub b: crate::b::B }\n");
            common::write(d, "src/b.rs", b"pub struct B { pub c: crate::c::C }\n");
            common::write(d, "src/c.rs", b"pub struct C;\nimpl C { pub fn go(&self) {} }\n");
            common::write(d, "src/d.rs", b"pub struct D;\nimpl D { pub fn go(&self) {} }\n");
            common::write(
                d,
                "src/user.rs",
                b"use crate::a::A;\npub fn run(a: &A) { a.b.c.go(); }\n",
            );
        }),
        // The middle struct's field changes type: the call goes elsewhere,
        // though the caller names neither B nor D.
        Box::new(|d| {
            common::write(d, "src/b.rs", b"pub struct B { pub c: std::sync::Arc<crate::d::D> }\n");
        }),
    ];
    for (i, edit) in edits.iter().enumerate() {
        edit(src.path());
        common::import(&t.store, src.path()).await;
        let report = index_head(&t.store).await.unwrap();
        assert!(!report.full, "step {i} rebuilt everything");
        let fresh = common::store().await;
        common::import(&fresh.store, src.path()).await;
        index_head(&fresh.store).await.unwrap();
        assert_eq!(
            common::graph_dump(&t.store).await,
            common::graph_dump(&fresh.store).await,
            "after edit {i}"
        );
    }
}

#[test]
fn bad_input_is_skipped_with_a_reason_or_parsed_around() {
    let binary = parse_file("a.rs", b"fn x() {}\0\0", Language::Rust);
    assert_eq!(binary.skipped.as_deref(), Some("binary"));
    let latin1 = parse_file("a.rs", b"fn caf\xe9() {}", Language::Rust);
    assert_eq!(latin1.skipped.as_deref(), Some("not UTF-8"));
    let huge = vec![b' '; cortex::graph::MAX_PARSE_BYTES + 1];
    assert!(parse_file("a.js", &huge, Language::JavaScript).skipped.unwrap().starts_with("huge"));
    let broken =
        parse_file("a.rs", b"fn good() {}\nfn bad( {\nfn also_good() {}\n", Language::Rust);
    assert!(broken.skipped.is_none());
    assert!(!broken.diagnostics.is_empty());
    let names: Vec<&str> = broken.units.iter().map(|u| u.name.as_str()).collect();
    assert!(names.contains(&"good"), "{names:?}");
}

/// Random edits (fixed seed), each indexed incrementally and compared with
/// a fresh index; a test module calls `super::total` inside `assert_eq!`.
#[tokio::test]
async fn random_edits_incremental_equals_clean() {
    let t = common::store().await;
    let src = tempfile::tempdir().unwrap();
    let d = src.path();
    common::write(d, "src/lib.rs", b"pub mod ops;\nuse crate::ops::add;\n\n/// Sums a list.\npub fn total(xs: &[i64]) -> i64 {\n    xs.iter().fold(0, |a, b| add(a, *b))\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn totals() { assert_eq!(super::total(&[1, 2]), 3); }\n}\n");
    common::write(
        d,
        "src/ops.rs",
        b"pub fn add(a: i64, b: i64) -> i64 { a + b }\npub fn neg(a: i64) -> i64 { -a }\n",
    );
    common::import(&t.store, d).await;
    index_head(&t.store).await.unwrap();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut below = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let names = ["add", "neg", "total", "f0", "f1", "f2"];
    for step in 0..40 {
        let k = below(4);
        match below(3) {
            0 => {
                let callee = names[below(6) as usize];
                common::write(
                    d,
                    &format!("src/f{k}.rs"),
                    format!("pub fn f0() {{ {callee}(); }}\n").as_bytes(),
                );
            }
            1 => {
                let _ = std::fs::remove_file(d.join(format!("src/f{k}.rs")));
            }
            _ => {
                let lib = std::fs::read_to_string(d.join("src/lib.rs")).unwrap();
                std::fs::write(d.join("src/lib.rs"), format!("{lib}pub mod f{k};\n")).unwrap();
            }
        }
        common::import(&t.store, d).await;
        index_head(&t.store).await.unwrap();
        let after = common::graph_dump(&t.store).await;
        let fresh = common::store().await;
        common::import(&fresh.store, d).await;
        index_head(&fresh.store).await.unwrap();
        let clean = common::graph_dump(&fresh.store).await;
        let a: BTreeSet<_> = after.iter().collect();
        let c: BTreeSet<_> = clean.iter().collect();
        assert_eq!(
            after,
            clean,
            "step {step}: only incremental {:?} only clean {:?}",
            a.difference(&c).collect::<Vec<_>>(),
            c.difference(&a).collect::<Vec<_>>()
        );
    }
}

/// A file fetched by scripts/fixtures.sh, by its path under the fixtures.
fn fixture_file(path: &str) -> Vec<u8> {
    let root =
        std::env::var_os("CORTEX_FIXTURES").map(std::path::PathBuf::from).unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap())
                .join(".cache/cortex-fixtures")
        });
    let file = root.join(path);
    std::fs::read(&file).unwrap_or_else(|e| {
        panic!("{}: {e}; run scripts/fixtures.sh (scripts/test.sh does)", file.display())
    })
}

/// A parse as text, one line per unit, import, reference and diagnostic.
fn render(parsed: &cortex::graph::ParsedFile) -> String {
    let mut out = String::new();
    for u in &parsed.units {
        let doc = u.doc.lines().next().unwrap_or("");
        let flags = [(u.is_test, " test"), (u.exported, " exported")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| *f)
            .collect::<String>();
        out.push_str(&format!(
            "unit {} [{}] {}-{} cx={}{flags} | {} | {}\n",
            u.id,
            u.kind.as_str(),
            u.start_line,
            u.end_line,
            u.complexity,
            u.signature,
            doc.chars().take(60).collect::<String>()
        ));
    }
    for i in &parsed.imports {
        out.push_str(&format!("import {:?} {} <- {}\n", i.kind, i.local, i.path.join(" ")));
    }
    for r in &parsed.refs {
        let mut target = r.path.clone();
        target.push(r.name.clone());
        let receiver = r.receiver.as_deref().map(|x| format!(" on {x}")).unwrap_or_default();
        out.push_str(&format!(
            "ref {} {:?} {}{receiver} @{}\n",
            parsed.units[r.from].qname,
            r.kind,
            target.join("::"),
            r.line
        ));
    }
    for d in &parsed.diagnostics {
        out.push_str(&format!("diagnostic {} {}\n", d.line, d.message));
    }
    out
}

/// Units, imports and references of real files nobody here wrote: crates
/// from cargo's registry (versions pinned by Cargo.lock) and npm packages.
#[test]
fn units_of_real_files() {
    let crates = [
        ("anyhow_context", "anyhow-1.0.104", "src/context.rs"),
        ("anyhow_chain", "anyhow-1.0.104", "src/chain.rs"),
        ("semver_eval", "semver-1.0.28", "src/eval.rs"),
    ];
    for (name, krate, path) in crates {
        let bytes = std::fs::read(crate::cli::registry_crate(krate).join(path)).unwrap();
        let parsed = parse_file(path, &bytes, Language::Rust);
        insta::assert_snapshot!(name, render(&parsed));
    }
    // (snapshot, where the file is, its language)
    let files = [
        ("express_route", "npm/express-4.21.2/package/lib/router/route.js", Language::JavaScript),
        ("commander_option", "npm/commander-12.1.0/package/lib/option.js", Language::JavaScript),
        ("ms_index", "npm/ms-2.1.3/package/index.js", Language::JavaScript),
        (
            "rxjs_subscription",
            "npm/rxjs-7.8.1/package/src/internal/Subscription.ts",
            Language::TypeScript,
        ),
        ("mobx_atom", "npm/mobx-6.13.5/package/src/core/atom.ts", Language::TypeScript),
        ("immer_proxy", "npm/immer-10.1.1/package/src/core/proxy.ts", Language::TypeScript),
        ("flask_config", "pypi/flask-3.0.3/src/flask/config.py", Language::Python),
        ("click_decorators", "pypi/click-8.1.7/src/click/decorators.py", Language::Python),
        ("requests_auth", "pypi/requests-2.32.3/src/requests/auth.py", Language::Python),
    ];
    for (name, fixture, language) in files {
        // The path within its package, as the graph would see it.
        let path = fixture.split('/').skip(2).collect::<Vec<_>>().join("/");
        let path = path.strip_prefix("package/").unwrap_or(&path);
        let parsed = parse_file(path, &fixture_file(fixture), language);
        insta::assert_snapshot!(name, render(&parsed));
    }
}

/// Python: classes, functions and methods (decorators on the unit,
/// docstrings as docs); imports absolute and relative, aliased, through a
/// package's `__init__.py`; `self.m()` (also inherited), `cls.m()`,
/// `Type.m()`, instances of imported classes, calls through module
/// aliases; `X()` runs `X.__init__`; test files.
#[test]
fn python_units_imports_and_calls() {
    let init = "from .core import App, make_app\nfrom . import util\n";
    let core = "\"\"\"The core.\"\"\"\nfrom .util import helper as h\nfrom . import util\n\n\nclass App:\n    \"\"\"An app.\"\"\"\n\n    def __init__(self, name: str):\n        self.name = name\n\n    @property\n    def title(self):\n        return h(self.name)\n\n    def step(self):\n        util.helper('x')\n        return self.title\n\n    @classmethod\n    def create(cls):\n        return cls.build()\n\n    @staticmethod\n    def build():\n        return App('a')\n\n\ndef make_app() -> App:\n    app = App('x')\n    app.step()\n    return app\n";
    let util = "def helper(s):\n    return s.upper()\n\n\ndef _private():\n    pass\n";
    let test = "from pkg import App, make_app\nimport pkg.util as u\n\n\ndef test_app():\n    a = make_app()\n    App.create()\n    u.helper('y')\n";
    let parsed = parse_file("src/pkg/core.py", core.as_bytes(), Language::Python);
    let title = parsed.units.iter().find(|u| u.name == "title").unwrap();
    assert_eq!(
        (title.kind.as_str(), title.signature.as_str()),
        ("method", "@property def title(self)")
    );
    let app = parsed.units.iter().find(|u| u.name == "App").unwrap();
    assert_eq!((app.doc.as_str(), app.exported), ("An app.", true));
    let calls = calls_of(&[
        ("src/pkg/__init__.py", init),
        ("src/pkg/core.py", core),
        ("src/pkg/util.py", util),
        ("tests/test_app.py", test),
    ]);
    for want in [
        "src/pkg/core.py::App::title -> src/pkg/util.py::helper (resolved)",
        "src/pkg/core.py::App::step -> src/pkg/util.py::helper (resolved)",
        "src/pkg/core.py::App::create -> src/pkg/core.py::App::build (resolved)",
        "src/pkg/core.py::App::build -> src/pkg/core.py::App::__init__ (resolved)",
        "src/pkg/core.py::make_app -> src/pkg/core.py::App::step (resolved)",
        "tests/test_app.py::test_app -> src/pkg/core.py::make_app (resolved)",
        "tests/test_app.py::test_app -> src/pkg/core.py::App::create (resolved)",
        "tests/test_app.py::test_app -> src/pkg/util.py::helper (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    // `self.m()` of a method the class inherits from a base elsewhere.
    let base = "class Base:\n    def shared(self):\n        return 1\n";
    let child = "from .base import Base\n\n\nclass Child(Base):\n    def run(self):\n        return self.shared()\n";
    let inherited = calls_of(&[("pkg/base.py", base), ("pkg/child.py", child)]);
    let want = "pkg/child.py::Child::run -> pkg/base.py::Base::shared (resolved)";
    assert!(inherited.contains(want), "missing {want}\n{inherited:#?}");
    let test = parse_file("tests/test_app.py", test.as_bytes(), Language::Python);
    assert!(test.units.iter().all(|u| u.is_test));
}

/// Python as it runs: `super().m()` is the base's m (through bases of the
/// same file too), an `@overload`ed method is called in each of its
/// definitions, and `pkg.X(…)` through a package's re-export runs
/// `X.__init__`.
#[test]
fn python_super_overloads_and_constructors_through_a_module() {
    let init = "from .types import Choice\n";
    let types = "import typing as t\n\n\nclass Param:\n    def convert(self, v):\n        return v\n\n\nclass Middle(Param):\n    pass\n\n\nclass Choice(Middle):\n    def __init__(self, options):\n        self.options = options\n\n    def convert(self, v):\n        return super().convert(v)\n\n    @t.overload\n    def pick(self, i: int) -> str: ...\n\n    @t.overload\n    def pick(self, i: str) -> str: ...\n\n    def pick(self, i):\n        return self.options[i]\n\n    def first(self):\n        return self.pick(0)\n\n\ndef use(c: Choice):\n    return c.pick(1)\n";
    let test = "import pkg\n\n\ndef test_choice():\n    pkg.Choice(['a'])\n";
    let calls = calls_of(&[
        ("src/pkg/__init__.py", init),
        ("src/pkg/types.py", types),
        ("tests/test_choice.py", test),
    ]);
    for want in [
        "src/pkg/types.py::Choice::convert -> src/pkg/types.py::Param::convert (resolved)",
        "src/pkg/types.py::Choice::first -> src/pkg/types.py::Choice::pick (resolved)",
        "src/pkg/types.py::Choice::first -> src/pkg/types.py::Choice::pick#3 (resolved)",
        "src/pkg/types.py::use -> src/pkg/types.py::Choice::pick (resolved)",
        "src/pkg/types.py::use -> src/pkg/types.py::Choice::pick#3 (resolved)",
        "tests/test_choice.py::test_choice -> src/pkg/types.py::Choice::__init__ (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    assert!(!calls.iter().any(|c| c.contains("(ambiguous)")), "{calls:#?}");
}

/// A method a class inherits from a base in another file, any number of
/// classes up, each base found as its own file imports it: through
/// `self.m()`, `super().m()` of a base named through its module (`class
/// A(m.B)`), a typed receiver, and (JavaScript) an instance of a class
/// `require`d from a module that `require`s its base in turn.
#[test]
fn methods_inherited_across_files_resolve_to_the_base_that_has_them() {
    let base = "class Base:\n    def shared(self):\n        return 1\n";
    let mid = "from .base import Base\n\n\nclass Mid(Base):\n    pass\n";
    let leaf = "from pkg.mid import Mid\n\n\nclass Leaf(Mid):\n    def run(self):\n        return self.shared()\n\n\ndef use(leaf: Leaf):\n    return leaf.shared()\n";
    let other = "class Other:\n    def shared(self):\n        return 2\n";
    let by_module = "from pkg import mid\n\n\nclass Leaf2(mid.Mid):\n    def shared(self):\n        return super().shared()\n";
    let calls = calls_of(&[
        ("src/pkg/base.py", base),
        ("src/pkg/mid.py", mid),
        ("src/pkg/leaf.py", leaf),
        ("src/pkg/other.py", other),
        ("src/pkg/leaf2.py", by_module),
    ]);
    for want in [
        "src/pkg/leaf.py::Leaf::run -> src/pkg/base.py::Base::shared (resolved)",
        "src/pkg/leaf.py::use -> src/pkg/base.py::Base::shared (resolved)",
        "src/pkg/leaf2.py::Leaf2::shared -> src/pkg/base.py::Base::shared (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    assert!(!calls.iter().any(|c| c.contains("Other")), "{calls:#?}");

    let base = "class Base { hello() { return 1 } }\nmodule.exports = Base\n";
    let mid = "const Base = require('./base')\nclass Mid extends Base {}\nmodule.exports = Mid\n";
    let other = "class Other { hello() { return 2 } }\nmodule.exports = Other\n";
    let user = "const Mid = require('./mid')\nfunction use() {\n  const m = new Mid()\n  return m.hello()\n}\nmodule.exports = use\n";
    let calls = calls_of(&[
        ("lib/base.js", base),
        ("lib/mid.js", mid),
        ("lib/other.js", other),
        ("lib/use.js", user),
    ]);
    let want = "lib/use.js::use -> lib/base.js::Base::hello (resolved)";
    assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    assert!(!calls.iter().any(|c| c.contains("Other")), "{calls:#?}");
}

/// pytest: a test's parameter is what the fixture of that name returns
/// (the test's own file first, then the nearest `conftest.py` above it),
/// also in a function nested in the test.
#[test]
fn python_test_parameters_are_typed_by_their_fixtures() {
    let runner = "class Runner:\n    def invoke(self, cli):\n        return cli\n\n\nclass Other:\n    def invoke(self, cli):\n        return None\n";
    let conftest = "import pytest\nfrom pkg.runner import Runner\n\n\n@pytest.fixture\ndef runner(request):\n    r = Runner()\n    return r\n";
    let test = "def test_run(runner, tmp_path):\n    runner.invoke('x')\n\n\ndef helper(runner):\n    runner.invoke('y')\n\n\ndef test_nested(runner):\n    def view():\n        return runner.invoke('w')\n\n    return view\n";
    let own = "import pytest\nfrom pkg.runner import Other\n\n\n@pytest.fixture\ndef runner() -> Other:\n    return Other()\n\n\ndef test_own(runner):\n    runner.invoke('z')\n";
    let calls = calls_of(&[
        ("src/pkg/runner.py", runner),
        ("tests/conftest.py", conftest),
        ("tests/cli/test_run.py", test),
        ("tests/cli/test_own.py", own),
    ]);
    for want in [
        "tests/cli/test_run.py::test_run -> src/pkg/runner.py::Runner::invoke (resolved)",
        "tests/cli/test_own.py::test_own -> src/pkg/runner.py::Other::invoke (resolved)",
        "tests/cli/test_run.py::test_nested::view -> src/pkg/runner.py::Runner::invoke (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    for wrong in [
        "tests/cli/test_run.py::test_run -> src/pkg/runner.py::Other::invoke (resolved)",
        "tests/cli/test_own.py::test_own -> src/pkg/runner.py::Runner::invoke (resolved)",
    ] {
        assert!(!calls.contains(wrong), "{wrong}\n{calls:#?}");
    }
    assert_eq!(Language::of_path(b"pkg/a.py"), Some(Language::Python));
}

/// Python values typed through calls: `x = f()` and `y = x.m()` by the
/// classes their functions return, `self.m()` likewise, and a fixture that
/// returns a method's value on another fixture (`client(app)` returning
/// `app.test_client()`), a method called on a call's value
/// (`app.test_client().open()`), and fields typed by an annotated
/// parameter (`self.app = app`, read in a subclass too), by a method of
/// the class (`self.client = self.make_client()`) or declared in the class
/// body (a dataclass).
#[test]
fn python_values_are_typed_by_what_calls_return() {
    let app = "class Client:\n    def open(self, path):\n        return path\n\n\nclass App:\n    def test_client(self) -> Client:\n        return Client()\n\n    def client_of_self(self):\n        c = self.test_client()\n        return c.open('/')\n\n\ndef make_app():\n    return App()\n";
    let other = "class Other:\n    def open(self, path):\n        return None\n";
    let user = "from pkg.app import make_app\n\n\ndef run():\n    app = make_app()\n    client = app.test_client()\n    return client.open('/x')\n";
    let conftest = "import pytest\nfrom pkg.app import App\n\n\n@pytest.fixture\ndef app():\n    app = App()\n    return app\n\n\n@pytest.fixture\ndef client(app):\n    return app.test_client()\n";
    let test = "def test_open(client):\n    client.open('/')\n\n\ndef test_inline(app):\n    app.test_client().open('/')\n";
    let state = "from dataclasses import dataclass\n\nfrom .app import App, Client\n\n\nclass Base:\n    def __init__(self, app: App):\n        self.app = app\n\n\nclass State(Base):\n    def register(self):\n        return self.app.test_client()\n\n\n@dataclass\nclass Config:\n    app: App\n\n    def go(self):\n        return self.app.test_client()\n\n\ndef use(s: State):\n    return s.app.test_client()\n\n\nclass Holder:\n    def __init__(self, app: App):\n        self.app = app\n        self.client = self.make_client()\n\n    def make_client(self) -> Client:\n        return self.app.test_client()\n\n    def go(self):\n        return self.client.open('/')\n\n\ndef outside(h: Holder):\n    return h.client.open('/')\n";
    let calls = calls_of(&[
        ("src/pkg/state.py", state),
        ("src/pkg/app.py", app),
        ("src/pkg/other.py", other),
        ("src/pkg/user.py", user),
        ("tests/conftest.py", conftest),
        ("tests/test_open.py", test),
    ]);
    for want in [
        "src/pkg/app.py::App::client_of_self -> src/pkg/app.py::Client::open (resolved)",
        "src/pkg/user.py::run -> src/pkg/app.py::App::test_client (resolved)",
        "src/pkg/user.py::run -> src/pkg/app.py::Client::open (resolved)",
        "tests/test_open.py::test_open -> src/pkg/app.py::Client::open (resolved)",
        "tests/test_open.py::test_inline -> src/pkg/app.py::Client::open (resolved)",
        "src/pkg/state.py::State::register -> src/pkg/app.py::App::test_client (resolved)",
        "src/pkg/state.py::Config::go -> src/pkg/app.py::App::test_client (resolved)",
        "src/pkg/state.py::use -> src/pkg/app.py::App::test_client (resolved)",
        "src/pkg/state.py::Holder::go -> src/pkg/app.py::Client::open (resolved)",
        "src/pkg/state.py::outside -> src/pkg/app.py::Client::open (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    assert!(!calls.iter().any(|c| c.contains("Other")), "{calls:#?}");
}

/// A module's typed names (`g: _AppCtxGlobals = LocalProxy(…)`, `app =
/// App()`) type the calls on them, in the module and where they are
/// imported (through a package's `__init__.py` too); a function's own
/// binding of that name hides the module's.
#[test]
fn python_module_names_are_typed_by_their_class() {
    let ctx = "class Globals:\n    def setdefault(self, k, v):\n        return v\n";
    let other = "class Other:\n    def setdefault(self, k, v):\n        return k\n";
    let globals = "from .ctx import Globals\n\ng: Globals = make_proxy()\napp = Globals()\n\n\ndef here():\n    return app.setdefault('a', 1)\n\n\ndef shadowed(app):\n    return app.setdefault('a', 1)\n";
    let init = "from .globals import g as g\n";
    let user = "import pkg\nfrom pkg import g\n\n\ndef use():\n    g.setdefault('seen', [])\n\n\ndef through_module():\n    pkg.g.setdefault('seen', [])\n";
    let calls = calls_of(&[
        ("src/pkg/ctx.py", ctx),
        ("src/pkg/other.py", other),
        ("src/pkg/globals.py", globals),
        ("src/pkg/__init__.py", init),
        ("src/user.py", user),
    ]);
    for want in [
        "src/user.py::use -> src/pkg/ctx.py::Globals::setdefault (resolved)",
        "src/user.py::through_module -> src/pkg/ctx.py::Globals::setdefault (resolved)",
        "src/pkg/globals.py::here -> src/pkg/ctx.py::Globals::setdefault (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    let shadowed = "src/pkg/globals.py::shadowed -> src/pkg/ctx.py::Globals::setdefault (resolved)";
    assert!(!calls.contains(shadowed), "{calls:#?}");
}

/// TypeScript: interfaces, enums, type aliases, namespaces and abstract
/// classes are units; annotations type receivers (parameters, `const x:
/// T`, fields, constructor parameter properties, return types); `.tsx`
/// parses with JSX; `.d.ts` files are no code.
#[test]
fn typescript_units_and_typed_receivers() {
    let store = "export interface Repo { find(id: string): Item | undefined }\nexport type Item = { id: string }\nexport enum Mode { A, B }\nexport abstract class Base { abstract name(): string; hello() { return this.name() } }\nexport class Store extends Base implements Repo {\n  private items: Map<string, Item> = new Map()\n  constructor(private readonly log: Logger) { super() }\n  name() { return 'store' }\n  find(id: string): Item | undefined { this.log.write(id); return this.items.get(id) }\n}\nexport class Logger { write(s: string): void {} }\nexport namespace Util { export function helper() {} }\n";
    let app = "import { Store, Logger } from './store.js'\nimport * as S from './store'\nfunction make(): Store { return new Store(new Logger()) }\nexport function App(props: { s: Store }) {\n  const s = make()\n  s.find('a')\n  const t: Logger = new S.Logger()\n  t.write('x')\n  return <div>{s.name()}</div>\n}\n";
    let parsed = parse_file("src/store.ts", store.as_bytes(), Language::TypeScript);
    let kinds: Vec<String> =
        parsed.units.iter().map(|u| format!("{} {}", u.kind.as_str(), u.qname)).collect();
    for want in [
        "interface Repo",
        "method Repo::find",
        "type Item",
        "enum Mode",
        "class Base",
        "method Base::name",
        "module Util",
        "function Util::helper",
    ] {
        assert!(kinds.iter().any(|k| k == want), "missing {want}: {kinds:?}");
    }
    let tsx = parse_file("src/app.tsx", app.as_bytes(), Language::Tsx);
    assert!(tsx.diagnostics.is_empty(), "{:?}", tsx.diagnostics);
    let calls = calls_of(&[("src/store.ts", store), ("src/app.tsx", app)]);
    for want in [
        "src/app.tsx::make -> src/store.ts::Store::constructor (resolved)",
        "src/app.tsx::App -> src/store.ts::Store::find (resolved)",
        "src/app.tsx::App -> src/store.ts::Store::name (resolved)",
        "src/app.tsx::App -> src/store.ts::Logger::write (resolved)",
        "src/store.ts::Store::find -> src/store.ts::Logger::write (resolved)",
        "src/store.ts::Base::hello -> src/store.ts::Base::name (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    // Methods implement their interface's and override their base's.
    let implements =
        edges_of(&[("src/store.ts", store)], cortex::graph::resolve::EdgeKind::Implements);
    for want in [
        "src/store.ts::Store::find -> src/store.ts::Repo::find (resolved)",
        "src/store.ts::Store::name -> src/store.ts::Base::name (resolved)",
    ] {
        assert!(implements.contains(want), "missing {want}\n{implements:#?}");
    }
    assert_eq!(Language::of_path(b"src/types.d.ts"), None);
    assert_eq!(Language::of_path(b"src/app.tsx"), Some(Language::Tsx));
    assert_eq!(Language::of_path(b"src/a.mts"), Some(Language::TypeScript));
}

/// A callback's untyped parameters are typed by the function or the
/// constructor it is handed to, when that declares its callback's
/// parameters (`operate((source, subscriber) => subscriber.complete())`
/// with `init: (source: Observable<T>, subscriber: Subscriber<T>) =>
/// void`); a callee that declares none, or declares a type parameter
/// (`(item: T) => void`), types nothing.
#[test]
fn typescript_callback_parameters_are_typed_by_their_callee() {
    let subscriber = "export class Subscriber<T> {\n  next(value: T) {}\n  complete() {}\n}\nexport class Other {\n  complete() {}\n}\n";
    let observable = "import { Subscriber } from './subscriber';\nexport class Observable<T> {\n  constructor(subscribe?: (this: Observable<T>, subscriber: Subscriber<T>) => void) {}\n}\n";
    let lift = "import { Subscriber } from './subscriber';\nexport function operate<T>(init: (source: number, subscriber: Subscriber<T>) => void) {\n  return init;\n}\nexport function untyped(init) {\n  return init;\n}\nexport function each<T>(f: (item: T) => void) {\n  return f;\n}\n";
    let take = "import { each, operate, untyped } from './lift';\nimport { Observable } from './observable';\nexport function take() {\n  return operate((source, subscriber) => {\n    subscriber.complete();\n  });\n}\nexport function make() {\n  return new Observable((subscriber) => subscriber.next(1));\n}\nexport function guess() {\n  untyped((s) => s.complete());\n  each((item) => item.complete());\n}\n";
    let calls = calls_of(&[
        ("src/subscriber.ts", subscriber),
        ("src/observable.ts", observable),
        ("src/lift.ts", lift),
        ("src/take.ts", take),
    ]);
    for want in [
        "src/take.ts::take -> src/subscriber.ts::Subscriber::complete (resolved)",
        "src/take.ts::make -> src/subscriber.ts::Subscriber::next (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    let guessed: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("src/take.ts::guess ->") && c.contains("::complete"))
        .collect();
    assert!(
        !guessed.is_empty() && guessed.iter().all(|c| !c.ends_with("(resolved)")),
        "{guessed:#?}"
    );
}

/// tokio-style `cfg_rt! { … }` bodies are token trees to the grammar; their
/// items are units all the same, and calls between them are seen.
#[test]
fn items_inside_item_level_macros_are_units() {
    let src = b"cfg_rt! {\n    /// Spawns.\n    pub fn spawn() -> u32 { inner() }\n    fn inner() -> u32 { 1 }\n}\nimpl S { cfg_x! { fn m(&self) {} } }\n";
    let parsed = parse_file("src/lib.rs", src, Language::Rust);
    let ids: Vec<&str> = parsed.units.iter().map(|u| u.id.as_str()).collect();
    assert!(ids.contains(&"src/lib.rs::spawn") && ids.contains(&"src/lib.rs::inner"), "{ids:?}");
    assert!(ids.contains(&"src/lib.rs::S::m"), "{ids:?}");
    let spawn = parsed.units.iter().find(|u| u.name == "spawn").unwrap();
    assert_eq!((spawn.start_line, spawn.doc.as_str()), (3, "Spawns."));
    let calls: Vec<(&str, &str)> =
        parsed.refs.iter().map(|r| (parsed.units[r.from].name.as_str(), r.name.as_str())).collect();
    assert!(calls.contains(&("spawn", "inner")), "{calls:?}");
}

/// The call edges of a set of files, resolved together, as
/// `from -> to (confidence)` lines.
pub(super) fn calls_of(files: &[(&str, &str)]) -> BTreeSet<String> {
    edges_of(files, cortex::graph::resolve::EdgeKind::Calls)
}

fn edges_of(files: &[(&str, &str)], kind: cortex::graph::resolve::EdgeKind) -> BTreeSet<String> {
    use cortex::graph::resolve::{Symbol, SymbolTable, resolve_file};
    let parsed: Vec<_> = files
        .iter()
        .map(|(path, text)| {
            let language = Language::of_path(path.as_bytes()).unwrap();
            (*path, language, parse_file(path, text.as_bytes(), language))
        })
        .collect();
    let mut table = SymbolTable::default();
    for (path, _, p) in &parsed {
        table.add_file(path);
        for s in Symbol::all_of(path, p) {
            table.add(s);
        }
    }
    let mut out = BTreeSet::new();
    for (path, language, p) in &parsed {
        for e in resolve_file(path, *language, &p.units, &p.refs, &p.imports, &table).edges {
            if e.kind == kind {
                out.insert(format!("{} -> {} ({})", e.from, e.to, e.confidence.as_str()));
            }
        }
    }
    out
}

/// An impl for a reference names its type: `impl<'a> Trait for &'a mut
/// Thing` is Thing's, and its methods are `Thing::method`.
#[test]
fn impls_for_references_are_named_after_their_type() {
    let text = "pub struct Thing;\nimpl<'a> Iterator for &'a mut Thing { type Item = u8; fn next(&mut self) -> Option<u8> { None } }\nimpl<'de> From<u8> for &'de Thing { fn from(_: u8) -> Self { unreachable() } }\n";
    let parsed = parse_file("src/lib.rs", text.as_bytes(), Language::Rust);
    let ids: Vec<&str> = parsed.units.iter().map(|u| u.id.as_str()).collect();
    assert!(ids.contains(&"src/lib.rs::Thing::next"), "{ids:?}");
    assert!(ids.contains(&"src/lib.rs::Thing::from"), "{ids:?}");
}

/// CommonJS and ESM exports as real packages write them: `module.exports =
/// <anonymous>` is a unit named after its module; a `require` at the
/// bottom of a file, a directory's index, an exports object of requires,
/// `export { a as b } from`, `export *`, `new X()` of a required class and
/// `exports.f()` all resolve.
#[test]
fn javascript_module_forms_are_followed() {
    let calls = calls_of(&[
        ("functions/eq.js", "module.exports = (a, b) => a === b\n"),
        (
            "functions/cmp.js",
            "const eq = require('./eq')\nconst cmp = (a, b) => eq(a, b)\nmodule.exports = cmp\n",
        ),
        (
            "classes/comparator.js",
            "class Comparator {\n  constructor () {}\n  test (v) { return cmp(v, 1) }\n}\nmodule.exports = Comparator\nconst cmp = require('../functions/cmp')\n",
        ),
        (
            "lib/index.js",
            "const Comparator = require('../classes/comparator')\nmodule.exports = { Comparator, same: require('../functions/eq') }\n",
        ),
        (
            "esm/index.js",
            "export { same as equal } from '../lib/index.js'\nexport * from './more.js'\n",
        ),
        ("esm/more.js", "export default function () {}\nexport function extra () {}\n"),
        ("util.js", "exports.a = function () { exports.b() }\nexports.b = function () {}\n"),
        (
            "use.js",
            "const lib = require('./lib')\nimport { equal, extra } from './esm/index.js'\nimport anon from './esm/more.js'\nconst C = require('./classes/comparator')\nfunction run () {\n  const d = new C()\n  d.test(1)\n  lib.same(1, 2)\n  equal(1, 2)\n  extra()\n  anon()\n}\n",
        ),
    ]);
    for want in [
        "functions/cmp.js::cmp -> functions/eq.js::eq (resolved)",
        "classes/comparator.js::Comparator::test -> functions/cmp.js::cmp (resolved)",
        "use.js::run -> classes/comparator.js::Comparator (resolved)",
        "use.js::run -> classes/comparator.js::Comparator::constructor (resolved)",
        "use.js::run -> classes/comparator.js::Comparator::test (resolved)",
        "use.js::run -> functions/eq.js::eq (resolved)",
        "use.js::run -> esm/more.js::more (resolved)",
        "use.js::run -> esm/more.js::extra (resolved)",
        "util.js::a -> util.js::b (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    let parsed =
        parse_file("esm/more.js", b"export default function () {}\n", Language::JavaScript);
    let names: Vec<&str> = parsed.units.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(names, ["esm/more.js", "esm/more.js::more"]);
}

/// A field assigned an instance in a method (`this.x = new T()`,
/// `self.x = T()`) types `this.x.m()` / `self.x.m()`.
#[test]
fn fields_assigned_instances_type_their_receivers() {
    let js = calls_of(&[
        ("lib/pool.js", "class Pool {\n  take () {}\n}\nmodule.exports = Pool\n"),
        (
            "lib/client.js",
            "const Pool = require('./pool')\nclass Client {\n  constructor () { this.pool = new Pool() }\n  run () { return this.pool.take() }\n}\n",
        ),
    ]);
    let want = "lib/client.js::Client::run -> lib/pool.js::Pool::take (resolved)";
    assert!(js.contains(want), "missing {want}\n{js:#?}");
    let py = calls_of(&[
        ("pkg/pool.py", "class Pool:\n    def take(self):\n        pass\n"),
        (
            "pkg/client.py",
            "from .pool import Pool\n\n\nclass Client:\n    def __init__(self):\n        self.pool = Pool()\n\n    def run(self):\n        return self.pool.take()\n",
        ),
    ]);
    let want = "pkg/client.py::Client::run -> pkg/pool.py::Pool::take (resolved)";
    assert!(py.contains(want), "missing {want}\n{py:#?}");
}
