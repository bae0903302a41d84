//! kill -9 in the middle of an import: the store opens afterwards and main
//! is the previous tree or the new one, never a mix.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::{command, ok};
use crate::common::{Node, picture};

fn generate(root: &Path, round: usize) {
    for i in 0..4000 {
        let dir = root.join(format!("gen/d{:02}", i % 40));
        std::fs::create_dir_all(&dir).unwrap();
        let body = format!("round {round} file {i}\n").repeat(1 + i % 30);
        std::fs::write(dir.join(format!("f{i:04}.txt")), body).unwrap();
    }
    // One large (chunked) file per round.
    let big: Vec<u8> =
        (0..3_000_000u32).map(|x| (x.wrapping_mul(31) as usize + round) as u8).collect();
    std::fs::write(root.join("gen/big.bin"), big).unwrap();
}

fn tree_picture(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    let mut p = picture(root);
    p.retain(|path, _| !path.starts_with(b".cortex"));
    p
}

fn exported(tree: &Path, out: &Path) -> BTreeMap<Vec<u8>, Node> {
    ok(tree, &["export", out.to_str().unwrap()]);
    picture(out)
}

/// Waits until the lock file names `pid`: the child has opened the store.
fn wait_until_it_holds_the_store(tree: &Path, pid: u32) {
    let lock = tree.join(".cortex/lock");
    let want = format!("{pid}\n");
    for _ in 0..2000 {
        if std::fs::read_to_string(&lock).is_ok_and(|s| s.starts_with(&want)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("cortex import (pid {pid}) never opened the store");
}

#[test]
fn kill_9_mid_import_leaves_the_old_tree_or_the_new() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("proj");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("README"), b"before\n").unwrap();
    ok(&tree, &["init"]);
    let mut committed = tree_picture(&tree);

    // Delays after the child has opened the store, spread over the import.
    let delays = [0u64, 25, 50, 100, 150, 200, 300, 400, 550, 700];
    let mut outcomes = Vec::new();
    for (round, delay) in delays.iter().enumerate() {
        generate(&tree, round);
        let new = tree_picture(&tree);
        let mut child =
            command(&tree, &["import", "."]).stdout(std::process::Stdio::null()).spawn().unwrap();
        wait_until_it_holds_the_store(&tree, child.id());
        std::thread::sleep(Duration::from_millis(*delay));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();

        let got = exported(&tree, &tmp.path().join(format!("out{round}")));
        let which = if got == new {
            "new"
        } else if got == committed {
            "old"
        } else {
            panic!("round {round}: main is neither the old tree nor the new one")
        };
        outcomes.push((round, *delay, status.success(), which));
        if which == "new" {
            committed = new;
        }
    }
    eprintln!("kill -9 outcomes (round, delay ms, finished, main): {outcomes:?}");

    // The store still takes a full import afterwards.
    ok(&tree, &["import", "."]);
    assert_eq!(exported(&tree, &tmp.path().join("final")), tree_picture(&tree));
}

/// Writes, fsyncs and records files in the mount until writing fails.
pub(super) fn fsync_writer(
    mnt: std::path::PathBuf,
    round: usize,
) -> std::thread::JoinHandle<Vec<(String, Vec<u8>)>> {
    std::thread::spawn(move || {
        use std::io::Write;
        let mut done = Vec::new();
        for i in 0..100_000 {
            let name = format!("r{round}-f{i:05}.txt");
            let body = format!("round {round} file {i}\n").repeat(1 + i % 50).into_bytes();
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::File::create(mnt.join(&name))?;
                f.write_all(&body)?;
                f.sync_all()
            };
            if write().is_err() {
                break;
            }
            done.push((name, body));
        }
        done
    })
}

#[test]
fn kill_9_of_the_daemon_loses_nothing_fsynced() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("proj");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::write(tree.join("README"), b"base\n").unwrap();
    ok(&tree, &["init"]);
    let m = mnt.to_str().unwrap();

    let mut fsynced: Vec<(String, Vec<u8>)> = Vec::new();
    for (round, delay) in [50u64, 150, 300, 500, 800].iter().enumerate() {
        ok(&tree, &["mount", m]);
        let status: serde_json::Value =
            serde_json::from_str(&ok(&tree, &["status", "--json"])).unwrap();
        let pid = status["daemon_pid"].as_u64().expect("the daemon's pid") as i32;
        let writer = fsync_writer(mnt.clone(), round);
        std::thread::sleep(Duration::from_millis(*delay));
        // SAFETY: sending a signal to a process we started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        let written = writer.join().unwrap();
        assert!(!written.is_empty(), "round {round}: nothing was written before the kill");
        fsynced.extend(written);
        // The mount is stale now; umount cleans it up.
        ok(&tree, &["umount", m]);
        // Wait for the dead daemon's locks to go with it.
        for _ in 0..500 {
            if cortex::store::is_free(&tree.join(".cortex")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Everything fsynced so far, in every round, is in the store.
        let out = tmp.path().join(format!("check{round}"));
        ok(&tree, &["export", out.to_str().unwrap()]);
        for (name, body) in &fsynced {
            let got = std::fs::read(out.join(name))
                .unwrap_or_else(|e| panic!("round {round}: {name}: {e}"));
            assert_eq!(&got, body, "round {round}: {name}");
        }
        eprintln!("round {round}: {} files fsynced so far, all present", fsynced.len());
    }
    // And the store still mounts.
    ok(&tree, &["mount", m]);
    assert_eq!(std::fs::read(mnt.join("README")).unwrap(), b"base\n");
    ok(&tree, &["umount", m]);
}

/// Paths and file bytes (directories as None): what a merge must keep,
/// times aside.
fn contents(p: BTreeMap<Vec<u8>, Node>) -> Contents {
    p.into_iter()
        .map(|(path, node)| {
            let data = match node {
                Node::File { data, .. } => Some(data),
                _ => None,
            };
            (path, data)
        })
        .collect()
}

type Contents = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// A store at `tmp/proj` whose session `big` changes 4,001 files (so its
/// merge takes seconds): the tree, main's contents, and the merged ones.
fn store_with_a_big_session(tmp: &Path, round: usize) -> (std::path::PathBuf, Contents, Contents) {
    let tree = tmp.join("proj");
    let smnt = tmp.join("s");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::create_dir_all(&smnt).unwrap();
    std::fs::write(tree.join("README"), b"before\n").unwrap();
    ok(&tree, &["init"]);
    let old = contents(exported(&tree, &tmp.join("old")));
    ok(&tree, &["mount", "--session", "big", "--create", smnt.to_str().unwrap()]);
    generate(&smnt, round);
    std::fs::write(smnt.join("README"), b"after\n").unwrap();
    let merged = contents(picture(&smnt));
    ok(&tree, &["umount", smnt.to_str().unwrap()]);
    // The daemon goes with its last mount.
    std::thread::sleep(Duration::from_millis(1500));
    (tree, old, merged)
}

/// Exports main and says which it is: "old" or "merged" (anything else
/// fails the test).
fn old_or_merged(
    tree: &Path,
    out: &Path,
    old: &Contents,
    merged: &Contents,
    round: usize,
) -> &'static str {
    let got = contents(exported(tree, out));
    if got == *merged {
        "merged"
    } else if got == *old {
        "old"
    } else {
        panic!("round {round}: main is neither as it was nor merged ({} paths)", got.len())
    }
}

#[test]
fn kill_9_mid_merge_leaves_main_as_it_was_or_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let (tree, old, merged) = store_with_a_big_session(tmp.path(), 0);

    let delays = [0u64, 10, 30, 60, 100, 200, 400, 800, 1500, 3000];
    let mut outcomes = Vec::new();
    for (round, delay) in delays.iter().enumerate() {
        let mut child = command(&tree, &["merge", "big", "--keep"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_until_it_holds_the_store(&tree, child.id());
        std::thread::sleep(Duration::from_millis(*delay));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let out = tmp.path().join(format!("out{round}"));
        let which = old_or_merged(&tree, &out, &old, &merged, round);
        outcomes.push((round, *delay, status.success(), which));
        if which == "merged" {
            break;
        }
    }
    eprintln!("kill -9 mid-merge outcomes (round, delay ms, finished, main): {outcomes:?}");
    // Whatever happened, the merge completes afterwards.
    ok(&tree, &["merge", "big"]);
    let last = contents(exported(&tree, &tmp.path().join("final")));
    assert!(last == merged, "main after the merge is not the merged tree");
}

#[test]
fn kill_9_of_the_daemon_mid_merge_leaves_main_as_it_was_or_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let (tree, old, merged) = store_with_a_big_session(tmp.path(), 1);
    let mnt = tmp.path().join("m");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = mnt.to_str().unwrap();
    let mut outcomes = Vec::new();
    // From 300 ms on: the request has reached the daemon (a kill before it
    // lets the CLI merge on its own, which the test above covers).
    for (round, delay) in [300u64, 600, 900, 1200, 1600, 2000, 2500, 3500, 5000].iter().enumerate()
    {
        // The merge goes through the daemon serving main's mount.
        ok(&tree, &["mount", m]);
        let status: serde_json::Value =
            serde_json::from_str(&ok(&tree, &["status", "--json"])).unwrap();
        let pid = status["daemon_pid"].as_u64().expect("the daemon's pid") as i32;
        let mut child = command(&tree, &["merge", "big", "--keep"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*delay));
        // SAFETY: sending a signal to a process we started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        let finished = child.wait().unwrap().success();
        ok(&tree, &["umount", m]); // the mount is stale now
        for _ in 0..500 {
            if cortex::store::is_free(&tree.join(".cortex")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = tmp.path().join(format!("out{round}"));
        let which = old_or_merged(&tree, &out, &old, &merged, round);
        outcomes.push((round, *delay, finished, which));
        if which == "merged" {
            break;
        }
    }
    eprintln!(
        "kill -9 of the daemon mid-merge (round, delay ms, merge finished, main): {outcomes:?}"
    );
    ok(&tree, &["merge", "big"]);
    assert!(contents(exported(&tree, &tmp.path().join("final"))) == merged);
}
