//! Each command end to end, on real code, and its errors.

use std::process::Command;

use cortex::store::{OpenOptions, Store, StoreLocation};

use super::{copy_tree, cortex, fails, ok, registry_crate};
use crate::common::{awkward_tree, picture};

#[test]
fn init_export_round_trips_a_real_crate() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tokio");
    copy_tree(&registry_crate("tokio-"), &tree);
    // Make it harder than the registry's copy: a symlink, an exec bit, an
    // empty directory.
    std::os::unix::fs::symlink("src/lib.rs", tree.join("lib-link")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", tree.join("outside-link")).unwrap();
    crate::common::chmod(&tree.join("README.md"), 0o755);
    std::fs::create_dir(tree.join("empty")).unwrap();
    let before = picture(&tree);

    let out = ok(&tree, &["init", "--no-ignore"]);
    assert!(out.contains("initialised cortex store at"), "{out}");
    assert!(out.contains("imported ") && out.contains(" files"), "{out}");

    let export = tmp.path().join("export");
    ok(&tree, &["export", export.to_str().unwrap()]);
    let mut expected = before;
    expected.retain(|path, _| !path.starts_with(b".cortex"));
    assert_eq!(picture(&export), expected);
    let diff = Command::new("diff")
        .args(["-r", "--no-dereference", "-x", ".cortex"])
        .arg(&tree)
        .arg(&export)
        .output()
        .unwrap();
    assert!(diff.status.success(), "{}", String::from_utf8_lossy(&diff.stdout));
    // The symlink that points out of the tree was written as a symlink.
    assert_eq!(
        std::fs::read_link(export.join("outside-link")).unwrap().to_str(),
        Some("/etc/hostname")
    );

    // Exporting again into the same place needs --force.
    let err = fails(&tree, &["export", export.to_str().unwrap()]);
    assert!(err.contains("not empty") && err.contains("--force"), "{err}");
    ok(&tree, &["export", "--force", export.to_str().unwrap()]);
}

#[test]
fn status_ls_cat_log_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("proj");
    std::fs::create_dir(&tree).unwrap();
    awkward_tree(&tree);
    ok(&tree, &["init"]);

    let status = ok(&tree, &["status"]);
    assert!(
        status.contains("(surrealkv)")
            && status.contains(&format!("schema:      version {}", cortex::store::SCHEMA_VERSION)),
        "{status}"
    );
    assert!(status.contains("snapshot #1"), "{status}");
    assert!(
        status.contains("code graph:  2 files, 2 units") && !status.contains("behind"),
        "{status}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&tree, &["status", "--json"])).unwrap();
    assert_eq!(json["kind"], "surrealkv");
    assert_eq!(json["head"], 1);
    assert_eq!(json["last_change"]["source"], "init");
    assert!(json["files"].as_u64().unwrap() >= 12, "{json}");

    // From a subdirectory, the store is found by walking up.
    let sub = tree.join("src");
    assert_eq!(
        ok(&sub, &["cat", "src/lib.rs"]).as_bytes(),
        std::fs::read(sub.join("lib.rs")).unwrap()
    );
    let big = Command::new(env!("CARGO_BIN_EXE_cortex"))
        .args(["cat", "big/large.dat"])
        .current_dir(&tree)
        .output()
        .unwrap();
    assert_eq!(big.stdout, std::fs::read(tree.join("big/large.dat")).unwrap());

    let ls = ok(&tree, &["ls"]);
    assert!(ls.contains("src/") && ls.contains("link-to-lib -> src/lib.rs"), "{ls}");
    let bin = ok(&tree, &["ls", "bin"]);
    assert!(bin.lines().any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with(" run.sh")), "{bin}");
    let items: serde_json::Value =
        serde_json::from_str(&ok(&tree, &["ls", "--json", "src"])).unwrap();
    assert_eq!(items[0]["path"], "src/lib.rs");
    assert_eq!(items[0]["kind"], "file");
    let one: serde_json::Value =
        serde_json::from_str(&ok(&tree, &["ls", "--json", "bin/run.sh"])).unwrap();
    assert_eq!(one[0]["mode"], "755");
    let odd: serde_json::Value = serde_json::from_str(&ok(&tree, &["ls", "--json"])).unwrap();
    assert!(odd.as_array().unwrap().iter().any(|e| e["name_hex"] == "6c6174696e312de9ff"), "{odd}");

    std::fs::write(tree.join("src/lib.rs"), b"pub fn changed() {}\n").unwrap();
    let again = ok(&tree, &["import", "."]);
    assert!(again.contains("snapshot #2 (+0 ~1 -0)"), "{again}");
    let same = ok(&tree, &["import", "."]);
    assert!(same.trim_end().ends_with("no change"), "{same}");

    let log = ok(&tree, &["log"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].starts_with("#2") && lines[0].contains("import") && lines[0].contains("~1"),
        "{log}"
    );
    assert!(lines[1].starts_with("#1") && lines[1].contains("init"), "{log}");
    let log: serde_json::Value =
        serde_json::from_str(&ok(&tree, &["log", "--json", "-n", "1"])).unwrap();
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["modified"], 1);
}

#[test]
fn errors_are_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("proj");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a.txt"), b"a\n").unwrap();

    let err = fails(&tree, &["status"]);
    assert!(err.contains("no cortex store") && err.contains("cortex init"), "{err}");
    let err = fails(tmp.path(), &["init", "does-not-exist"]);
    assert!(err.contains("does-not-exist") && err.contains("not a directory"), "{err}");

    ok(&tree, &["init"]);
    let err = fails(&tree, &["init"]);
    assert!(err.contains("already has a cortex store"), "{err}");
    let err = fails(&tree, &["cat", "nope.txt"]);
    assert!(err.contains("no such file or directory in the tree: nope.txt"), "{err}");
    let err = fails(&tree, &["cat", "../outside"]);
    assert!(err.contains("leaves the tree"), "{err}");
    let err = fails(&tree, &["import", "missing-dir"]);
    assert!(err.contains("missing-dir") && err.contains("No such file"), "{err}");
    let err = fails(&tree, &["--store", "ftp://x", "status"]);
    assert!(err.contains("unsupported store scheme"), "{err}");
    let err = fails(&tree, &["--store", tmp.path().join("nowhere").to_str().unwrap(), "status"]);
    assert!(err.contains("no cortex store at"), "{err}");
    // Nothing above changed main.
    assert!(ok(&tree, &["status"]).contains("snapshot #1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_store_names_its_holder() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.txt"), b"a\n").unwrap();
    ok(tmp.path(), &["init"]);
    let location = StoreLocation::Embedded(tmp.path().join(".cortex"));
    let held = Store::open(&location, OpenOptions::default()).await.unwrap();
    let err = fails(tmp.path(), &["status"]);
    let me = format!("pid {}", std::process::id());
    assert!(err.contains("in use by another process") && err.contains(&me), "{err}");
    held.close().await;
    ok(tmp.path(), &["status"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_from_a_newer_cortex_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.txt"), b"a\n").unwrap();
    ok(tmp.path(), &["init"]);
    {
        let location = StoreLocation::Embedded(tmp.path().join(".cortex"));
        let store = Store::open(&location, OpenOptions::default()).await.unwrap();
        store.force_schema_version_for_tests(99).await.unwrap();
        store.close().await;
    }
    let err = fails(tmp.path(), &["status"]);
    assert!(err.contains("schema version 99 is newer") && err.contains("upgrade cortex"), "{err}");
}

#[test]
fn a_corrupted_store_is_reported_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.txt"), b"a\n").unwrap();
    ok(tmp.path(), &["init"]);
    // Overwrite every file of the engine's directory with garbage.
    let mut stack = vec![tmp.path().join(".cortex/store")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                std::fs::write(&path, b"\x00garbage\xffnot a store\n".repeat(64)).unwrap();
            }
        }
    }
    let out = cortex(tmp.path(), &["status"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("cortex: ") && err.contains("store"), "{err}");
}

/// A name in the tree cannot drive the terminal of whoever lists it: ESC,
/// newline and DEL are printed as escapes, one entry per line; `--json`
/// keeps the name exactly.
#[test]
fn ls_escapes_control_characters_in_names() {
    let tmp = tempfile::tempdir().unwrap();
    let names = ["red\x1b[31mtext", "two\nlines", "del\x7f", "plain.txt"];
    for name in names {
        std::fs::write(tmp.path().join(name), b"x").unwrap();
    }
    std::os::unix::fs::symlink("to\x1b]0;title\x07", tmp.path().join("link")).unwrap();
    ok(tmp.path(), &["init", "."]);
    let out = ok(tmp.path(), &["ls"]);
    assert!(!out.contains('\x1b') && !out.contains('\x7f') && !out.contains('\x07'), "{out:?}");
    assert_eq!(out.lines().count(), names.len() + 1, "{out}");
    assert!(out.contains("red\\u{1b}[31mtext") && out.contains("two\\nlines"), "{out}");
    assert!(out.contains("link -> to\\u{1b}]0;title\\u{7}"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&ok(tmp.path(), &["ls", "--json"])).unwrap();
    let listed: Vec<&str> =
        json.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(listed.contains(&"two\nlines") && listed.contains(&"red\x1b[31mtext"), "{listed:?}");
}

/// The bytes under a directory, recursively.
fn bytes_under(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() { bytes_under(&entry.path()) } else { meta.len() };
    }
    total
}

/// Importing an unchanged tree again writes nothing: the store (each
/// process ending with the engine's tables written out) stays its size.
#[test]
fn a_tree_imported_again_unchanged_does_not_grow_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("semver");
    copy_tree(&registry_crate("semver-1."), &tree);
    let store = tree.join(".cortex");
    ok(&tree, &["init", "--no-ignore"]);
    ok(&tree, &["search", "--mode", "keyword", "compare two versions"]);
    let first = bytes_under(&store);
    for _ in 0..3 {
        ok(&tree, &["import", "--no-ignore", "."]);
        ok(&tree, &["search", "--mode", "keyword", "compare two versions"]);
    }
    let again = bytes_under(&store);
    assert!(again <= first + first / 20, "re-imported unchanged: {first} -> {again} bytes");
}
