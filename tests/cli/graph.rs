//! The graph commands as a user runs them, with and without a mount.

use std::path::Path;

use super::{fails, ok};
use crate::cli::mount::Mounted;

const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", "[package]\nname = \"calc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
    (
        "src/lib.rs",
        "pub mod ops;\nuse crate::ops::add;\n\n/// Sums a list.\npub fn total(xs: &[i64]) -> i64 {\n    xs.iter().fold(0, |a, b| add(a, *b))\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn totals() { assert_eq!(super::total(&[1, 2]), 3); }\n}\n",
    ),
    (
        "src/ops.rs",
        "pub fn add(a: i64, b: i64) -> i64 { a + b }\npub fn neg(a: i64) -> i64 { -a }\n",
    ),
    ("web/app.js", "import { fmt } from './fmt.js';\nexport function show(n) { return fmt(n); }\n"),
    ("web/fmt.js", "export function fmt(n) { return `${n}`; }\n"),
];

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(dir, args)).unwrap()
}

fn ids(list: &serde_json::Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect()
}

/// The ids reached by a walk, all levels.
fn reached(answer: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for level in answer["levels"].as_array().unwrap() {
        out.extend(ids(&level["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["unit"].clone())
            .collect()));
    }
    out
}

fn check_commands(dir: &Path) {
    let units = json(dir, &["units", "src/lib.rs", "--json"]);
    let unit_ids = ids(&units["units"]);
    assert!(unit_ids.contains(&"src/lib.rs::total".to_owned()), "{unit_ids:?}");
    assert!(unit_ids.contains(&"src/lib.rs::tests::totals".to_owned()), "{unit_ids:?}");
    let total =
        units["units"].as_array().unwrap().iter().find(|u| u["id"] == "src/lib.rs::total").unwrap();
    assert_eq!(total["doc"], "Sums a list.");
    assert_eq!(total["signature"], "pub fn total(xs: &[i64]) -> i64");
    assert_eq!(total["start_line"], 5);

    let text = ok(dir, &["units", "src"]);
    assert!(text.contains("src/ops.rs") && text.contains("function add"), "{text}");

    let found = json(dir, &["symbol", "add", "--json"]);
    assert_eq!(ids(&found["units"]), ["src/ops.rs::add"]);

    let callers = json(dir, &["callers", "src/ops.rs::add", "--depth", "2", "--json"]);
    assert_eq!(reached(&callers), ["src/lib.rs::total", "src/lib.rs::tests::totals"]);
    assert_eq!(callers["levels"][0]["units"][0]["confidence"], "resolved");

    let callees = json(dir, &["callees", "show", "--json"]);
    assert_eq!(reached(&callees), ["web/fmt.js::fmt"]);

    let deps = json(dir, &["deps", "web/fmt.js", "--json"]);
    let by: Vec<&str> = deps["imported_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["other"].as_str().unwrap())
        .collect();
    assert_eq!(by, ["web/app.js"]);

    let impact = json(dir, &["impact", "src/ops.rs", "--json"]);
    let hit = reached(&impact);
    assert!(hit.contains(&"src/lib.rs::total".to_owned()), "{hit:?}");
    assert_eq!(ids(&impact["tests"]), ["src/lib.rs::tests::totals"]);
    assert!(
        ok(dir, &["impact", "src/ops.rs::neg"]).contains("nothing in the tree depends on them")
    );

    let dot = ok(dir, &["graph", "total", "--format", "dot"]);
    assert!(dot.starts_with("digraph") && dot.contains("calls"), "{dot}");
    let mermaid = ok(dir, &["graph", "total", "--format", "mermaid"]);
    assert!(mermaid.starts_with("graph LR") && mermaid.contains("-->|calls|"), "{mermaid}");

    // Errors: one clear line.
    assert!(fails(dir, &["callers", "nope"]).contains("no unit with that id"));
    assert!(fails(dir, &["units", "Cargo.toml"]).contains("no code files"));
    assert!(fails(dir, &["deps", "missing.rs"]).contains("not a code file"));
}

#[test]
fn graph_commands_on_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    for (path, body) in FILES {
        crate::common::write(tmp.path(), path, body.as_bytes());
    }
    ok(tmp.path(), &["init"]);
    check_commands(tmp.path());
    // Two units of one name: the error names both.
    crate::common::write(tmp.path(), "src/more.rs", b"pub fn neg(a: i64) -> i64 { 0 - a }\n");
    ok(tmp.path(), &["import", "."]);
    let err = fails(tmp.path(), &["callers", "neg"]);
    assert!(err.contains("src/ops.rs::neg") && err.contains("src/more.rs::neg"), "{err}");
}

/// A call through a trait, an interface or a base class may run every
/// method that implements it: those methods' callers include it, reached
/// through the method it implements, however many types up that is.
#[test]
fn callers_of_a_method_include_calls_through_what_it_implements() {
    let tmp = tempfile::tempdir().unwrap();
    let files: &[(&str, &str)] = &[
        (
            "src/lib.rs",
            "pub trait Shape { fn area(&self) -> f64; }\npub struct Square(f64);\nimpl Shape for Square { fn area(&self) -> f64 { self.0 * self.0 } }\npub fn total(s: &dyn Shape) -> f64 { Shape::area(s) }\n",
        ),
        (
            "web/shapes.ts",
            "export interface Sized { size(): number }\nexport abstract class Base implements Sized { abstract size(): number }\nexport class Mid extends Base { size() { return 1 } }\nexport class Leaf extends Mid { size() { return 2 } constructor() { super() } }\nexport function measure(s: Sized) { return s.size() }\nexport function make() { return new Mid() }\n",
        ),
    ];
    for (path, body) in files {
        crate::common::write(tmp.path(), path, body.as_bytes());
    }
    ok(tmp.path(), &["init"]);
    let callers = json(tmp.path(), &["callers", "src/lib.rs::Square::area", "--json"]);
    assert_eq!(reached(&callers), ["src/lib.rs::total"], "{callers}");
    let via = &callers["levels"][0]["units"][0]["via"];
    assert_eq!(via, "src/lib.rs::Shape::area");
    // Leaf::size overrides Mid::size, which implements Base's and Sized's.
    let callers = json(tmp.path(), &["callers", "web/shapes.ts::Leaf::size", "--json"]);
    assert_eq!(reached(&callers), ["web/shapes.ts::measure"], "{callers}");
    // A constructor overrides nothing: `new Mid()` is no caller of Leaf's.
    let callers = json(tmp.path(), &["callers", "web/shapes.ts::Leaf::constructor", "--json"]);
    assert!(reached(&callers).is_empty(), "{callers}");
}

#[test]
fn graph_commands_through_the_daemon_see_writes_at_once() {
    let m = Mounted::new(FILES);
    check_commands(&m.tree);
    // A new caller written through the mount shows at once, and a removed
    // one goes.
    m.sh("printf 'pub fn twice(a: i64) -> i64 { crate::ops::add(a, a) }\\n' > src/twice.rs && echo 'pub mod twice;' >> src/lib.rs");
    let callers = json(&m.tree, &["callers", "src/ops.rs::add", "--json"]);
    assert!(reached(&callers).contains(&"src/twice.rs::twice".to_owned()), "{callers}");
    m.sh("rm src/twice.rs");
    let callers = json(&m.tree, &["callers", "src/ops.rs::add", "--json"]);
    assert_eq!(reached(&callers), ["src/lib.rs::total"]);
}

/// A tiny deterministic generator (xorshift), so that the edits are the
/// same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn random_edits_through_a_mount_leave_the_graph_a_fresh_index_gives() {
    let m = Mounted::new(FILES);
    std::fs::create_dir_all(m.mnt.join("py")).unwrap();
    std::fs::write(m.mnt.join("py/__init__.py"), "from .p0 import p0\n").unwrap();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let names = ["add", "neg", "total", "f0", "f1", "f2", "g0", "g1", "show", "fmt"];
    for step in 0..40 {
        let k = rng.below(4);
        match rng.below(8) {
            0 | 1 => {
                let mut body = String::new();
                for f in 0..=rng.below(3) {
                    let callee = names[rng.below(names.len() as u64) as usize];
                    body.push_str(&format!(
                        "pub fn f{f}() {{ {callee}(); crate::ops::add(1, 2); }}\n"
                    ));
                }
                std::fs::write(m.mnt.join(format!("src/f{k}.rs")), body).unwrap();
            }
            2 => {
                let _ = std::fs::remove_file(m.mnt.join(format!("src/f{k}.rs")));
            }
            3 => {
                let callee = names[rng.below(names.len() as u64) as usize];
                let body = format!(
                    "import {{ fmt }} from './fmt.js';\nexport function g{k}() {{ return fmt({callee}()); }}\n"
                );
                std::fs::write(m.mnt.join(format!("web/g{k}.js")), body).unwrap();
            }
            5 => {
                // TypeScript: typed receivers across modules.
                let (j, callee) = (rng.below(4), names[rng.below(names.len() as u64) as usize]);
                let body = format!(
                    "import {{ Box{j} }} from './t{j}';\nexport class Box{k} {{\n  constructor(private inner: Box{j}) {{}}\n  open(): number {{ return this.inner.open(); }}\n}}\nexport function t{k}(b: Box{k}) {{ return b.open() + {callee}(); }}\n"
                );
                std::fs::write(m.mnt.join(format!("web/t{k}.ts")), body).unwrap();
            }
            6 => {
                // CommonJS defaults and ESM re-exports, chained.
                let (j, callee) = (rng.below(4), names[rng.below(names.len() as u64) as usize]);
                let body = if rng.below(2) == 0 {
                    format!(
                        "const g = require('./c{j}');\nmodule.exports = function () {{ return g() + {callee}(); }};\n"
                    )
                } else {
                    format!(
                        "export * from './c{j}.js';\nexport {{ fmt as c{k} }} from './fmt.js';\n"
                    )
                };
                std::fs::write(m.mnt.join(format!("web/c{k}.js")), body).unwrap();
            }
            7 => {
                // Python: a package's modules calling each other.
                let (j, callee) = (rng.below(4), names[rng.below(names.len() as u64) as usize]);
                let body = format!(
                    "from .p{j} import Box{j}, p{j}\nfrom . import p{j} as other\n\n\nclass Box{k}(Box{j}):\n    def open(self):\n        return self.inner().open() + other.p{j}()\n\n\ndef p{k}():\n    return Box{k}().open() + {callee}()\n"
                );
                std::fs::write(m.mnt.join(format!("py/p{k}.py")), body).unwrap();
            }
            _ => {
                let lib = std::fs::read_to_string(m.mnt.join("src/lib.rs")).unwrap();
                std::fs::write(m.mnt.join("src/lib.rs"), format!("{lib}pub mod f{k};\n")).unwrap();
            }
        }
        if step % 5 == 4 {
            // A query: the daemon flushes and indexes what changed so far.
            ok(&m.tree, &["callers", "src/ops.rs::add", "--json"]);
        }
    }
    m.umount();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use cortex::store::{OpenOptions, Store, StoreLocation};
        let location = StoreLocation::Embedded(m.tree.join(".cortex"));
        // The daemon lets the store go a moment after its last unmount.
        let mut store = None;
        for _ in 0..100 {
            match Store::open(&location, OpenOptions::default()).await {
                Ok(s) => {
                    store = Some(s);
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
        let store = store.expect("the daemon let the store go");
        assert!(store.graph().graph_root().await.unwrap().is_some(), "the daemon indexed");
        let report = cortex::index::index_head(&store).await.unwrap();
        assert!(!report.full);
        let head = store.history().head().await.unwrap();
        let out = tempfile::tempdir().unwrap();
        cortex::export::export(&store, head.root, out.path(), Default::default()).await.unwrap();
        let incremental = crate::common::graph_dump(&store).await;
        store.close().await;
        let fresh = crate::common::store().await;
        crate::common::import(&fresh.store, out.path()).await;
        cortex::index::index_head(&fresh.store).await.unwrap();
        assert_eq!(incremental, crate::common::graph_dump(&fresh.store).await);
    });
}
