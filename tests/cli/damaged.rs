//! Damaged stores: opening one refuses it with one line and changes no
//! byte of it (the engine's own repair would lose data), a torn log tail
//! is recovered exactly, and `cortex fsck` finds the damage and recovers
//! the newest intact snapshot into a new store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{cortex, ok};

/// Every file below `dir`, with its bytes.
pub fn files_of(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
}

/// A store whose write-ahead log holds commits the engine has not put in
/// its tables yet: a daemon wrote them (each fsynced), then was killed.
/// Returns the tree (with its `.cortex`) and the files the daemon wrote.
fn store_with_a_live_log(root: &Path) -> (PathBuf, Vec<(String, Vec<u8>)>) {
    let tree = root.join("tree");
    std::fs::create_dir_all(tree.join("src")).unwrap();
    for i in 0..40 {
        let body = format!("pub fn f{i}() -> usize {{ {i} }}\n// {}\n", "x".repeat(6000 + i));
        std::fs::write(tree.join(format!("src/f{i}.rs")), body).unwrap();
    }
    ok(&tree, &["init"]);
    let mnt = root.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    ok(&tree, &["mount", mnt.to_str().unwrap()]);
    let mut written = Vec::new();
    for i in 0..60 {
        let name = format!("w{i:02}.txt");
        let data = format!("written {i}\n{}\n", "y".repeat(5000 + i)).into_bytes();
        let mut f = std::fs::File::create(mnt.join(&name)).unwrap();
        std::io::Write::write_all(&mut f, &data).unwrap();
        f.sync_all().unwrap();
        written.push((name, data));
    }
    let status: serde_json::Value =
        serde_json::from_str(&ok(&tree, &["status", "--json"])).unwrap();
    let pid = status["daemon_pid"].as_u64().unwrap();
    assert!(Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    let _ = Command::new("fusermount3").arg("-uz").arg(&mnt).status();
    // The daemon's lock goes with it.
    for _ in 0..200 {
        if cortex::store::is_free(&tree.join(".cortex")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (tree, written)
}

/// The newest file with extension `ext` in `dir` that is not empty.
fn newest(dir: &Path, ext: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| panic!("no .{ext} file in {}", dir.display()))
}

/// Opening refuses with one line containing `says`, and no byte of the
/// store changed.
fn refused(tree: &Path, says: &str) {
    let store = tree.join(".cortex/store");
    let before = files_of(&store);
    for args in [&["status"][..], &["ls"], &["log"]] {
        let out = cortex(tree, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} opened a damaged store");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(says) && err.contains("nothing in it was changed"), "{err}");
    }
    assert!(files_of(&store) == before, "a refused open changed the store's files");
    let out = cortex(tree, &["init"]);
    assert!(!out.status.success(), "init over a damaged store");
}

#[test]
fn damaged_stores_are_refused_untouched_and_fsck_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let (tree, written) = store_with_a_live_log(tmp.path());

    // A log torn at its tail (a crash mid-write): recovered exactly, every
    // commit before the tear there.
    let torn = tmp.path().join("torn");
    copy_tree(&tree, &torn);
    let wal = newest(&torn.join(".cortex/store/wal"), "wal");
    let len = std::fs::metadata(&wal).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&wal).unwrap().set_len(len - 3).unwrap();
    ok(&torn, &["status"]);
    for (name, data) in &written[..written.len() - 1] {
        assert_eq!(cortex(&torn, &["cat", name]).stdout, *data, "{name}");
    }
    let out = cortex(&torn, &["fsck"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // A byte flipped in the middle of the log: refused (the engine would
    // drop every commit after it), then recovered by fsck --repair.
    let flipped = tmp.path().join("flipped");
    copy_tree(&tree, &flipped);
    let wal = newest(&flipped.join(".cortex/store/wal"), "wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(&wal, &bytes).unwrap();
    refused(&flipped, "write-ahead log");
    let out = cortex(&flipped, &["fsck"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("write-ahead log"));
    let before = files_of(&flipped.join(".cortex/store"));
    let rescued = tmp.path().join("rescued");
    let out = cortex(&flipped, &["fsck", "--repair", rescued.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("recovered snapshot"), "{text}");
    assert_eq!(
        ok(&rescued, &["cat", "src/f1.rs"]),
        std::fs::read_to_string(tree.join("src/f1.rs")).unwrap()
    );
    assert!(cortex(&rescued, &["fsck"]).status.success());
    assert!(files_of(&flipped.join(".cortex/store")) == before, "fsck changed the damaged store");

    // The manifest gone: refused (the engine would start an empty store
    // and delete the tables), and fsck says so.
    let no_manifest = tmp.path().join("no-manifest");
    copy_tree(&tree, &no_manifest);
    let manifest = newest(&no_manifest.join(".cortex/store/manifest"), "manifest");
    std::fs::remove_file(&manifest).unwrap();
    refused(&no_manifest, "manifest");
    let out = cortex(&no_manifest, &["fsck"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("manifest"));

    // A table cut in half: refused.
    let short_table = tmp.path().join("short-table");
    copy_tree(&tree, &short_table);
    let sst = newest(&short_table.join(".cortex/store/sstables"), "sst");
    let len = std::fs::metadata(&sst).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&sst).unwrap().set_len(len / 2).unwrap();
    refused(&short_table, "table");

    // Values live in the tables (see `store::client`): no value log is
    // written, so a cut table is where a value can be lost, and is refused.
    let vlog = tree.join(".cortex/store/vlog");
    let logged = std::fs::read_dir(&vlog)
        .map_or(0, |d| d.filter(|e| e.as_ref().unwrap().metadata().unwrap().len() > 0).count());
    assert_eq!(logged, 0, "a value log was written in {}", vlog.display());
}
