//! `cortex search` and `cortex index` as a user runs them: on a store, then
//! through the daemon of a mount, where a unit written through the mount is
//! found at once and embedded in the background; a session's search is its
//! own.

use std::path::Path;

use super::{fails, ok};
use crate::cli::mount::Mounted;

const FILES: &[(&str, &str)] = &[
    (
        "src/net.rs",
        "/// Sends a file to the server, trying again after a network failure.\npub fn retry_upload(path: &str, attempts: u32) -> bool {\n    (0..attempts).any(|_| send(path))\n}\n\nfn send(_path: &str) -> bool { true }\n",
    ),
    (
        "web/cart.js",
        "export function computeTotalPrice(items, taxRate) {\n  return items.reduce((s, i) => s + i.price, 0) * (1 + taxRate);\n}\n",
    ),
];

fn search(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["search"];
    all.extend_from_slice(args);
    all.push("--json");
    serde_json::from_str(&ok(dir, &all)).unwrap()
}

fn first(results: &serde_json::Value) -> String {
    results["results"][0]["id"].as_str().unwrap_or("(none)").to_owned()
}

#[test]
fn search_on_a_store_then_through_the_daemon_and_a_session() {
    // On a store, no daemon: keyword search at once; index --wait embeds.
    let tmp = tempfile::tempdir().unwrap();
    for (path, text) in FILES {
        crate::common::write(tmp.path(), path, text.as_bytes());
    }
    ok(tmp.path(), &["init", "."]);
    let r = search(tmp.path(), &["total price", "--mode", "keyword"]);
    assert_eq!(first(&r), "web/cart.js::computeTotalPrice");
    assert_eq!(r["embedded"], 0);
    let text = ok(tmp.path(), &["index", "--wait"]);
    assert!(text.contains("embedded: 3 of 3 units (100%)"), "{text}");
    let r = search(tmp.path(), &["send a file again when the network fails"]);
    assert_eq!(first(&r), "src/net.rs::retry_upload");
    let text = ok(tmp.path(), &["status"]);
    assert!(text.contains("search:      3 units, 3 embedded (100%)"), "{text}");
    // Bad filters are refused with a reason.
    let err = fails(tmp.path(), &["search", "x", "--kind", "gizmo"]);
    assert!(err.contains("unknown kind"), "{err}");
    let err = fails(tmp.path(), &["search", "x", "--session", "Bad Name"]);
    assert!(err.contains("session name"), "{err}");

    // Through a mount's daemon: a new unit is found at once by keyword,
    // and by meaning once `index --wait` has followed the embedder.
    let m = Mounted::new(FILES);
    m.sh("printf '/// Packs files into a compressed archive.\\npub fn make_archive(files: &[&str]) {}\\n' > src/zip.rs");
    let r = search(&m.tree, &["archive", "--mode", "keyword"]);
    assert_eq!(first(&r), "src/zip.rs::make_archive");
    ok(&m.tree, &["index", "--wait"]);
    let r = search(&m.tree, &["compress several files into one", "--mode", "semantic"]);
    assert_eq!(first(&r), "src/zip.rs::make_archive");
    assert_eq!(r["embedded"], r["units"]);
    // Filters before the cut.
    let r =
        search(&m.tree, &["compress several files into one", "--path", "web/**", "--limit", "1"]);
    assert_eq!(first(&r), "web/cart.js::computeTotalPrice");

    // A session's search sees its writes; main's does not.
    ok(&m.tree, &["session", "new", "s1"]);
    let smnt = m.tmp.path().join("s1");
    std::fs::create_dir(&smnt).unwrap();
    ok(&m.tree, &["mount", "--session", "s1", smnt.to_str().unwrap()]);
    crate::cli::mount::run_sh(
        &smnt,
        "printf '/// Turns a temperature in Celsius into Fahrenheit.\\npub fn to_fahrenheit(c: f64) -> f64 { c * 1.8 + 32.0 }\\n' > src/temp.rs",
    );
    ok(&m.tree, &["index", "--session", "s1", "--wait"]);
    let q = "convert degrees between temperature scales";
    let r = search(&m.tree, &[q, "--session", "s1", "--limit", "1"]);
    assert_eq!(first(&r), "src/temp.rs::to_fahrenheit");
    let r = search(&m.tree, &[q, "--limit", "5"]);
    let ids: Vec<&str> =
        r["results"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert!(!ids.iter().any(|id| id.contains("temp.rs")), "{ids:?}");
    ok(&m.tree, &["umount", smnt.to_str().unwrap()]);
    m.umount();
}
