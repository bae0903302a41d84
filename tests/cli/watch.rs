//! `cortex watch`: a checkout edited outside Cortex (by an editor, by git)
//! kept in step with main through the daemon's inotify watches.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{cortex, fails, ok};

/// A tree with its store inside (`cortex init`), watched. Stops on drop.
struct Watched {
    _tmp: tempfile::TempDir,
    tree: PathBuf,
}

impl Watched {
    fn new(files: &[(&str, &str)], flags: &[&str]) -> Watched {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        std::fs::create_dir_all(&tree).unwrap();
        for (path, body) in files {
            crate::common::write(&tree, path, body.as_bytes());
        }
        ok(&tree, &["init"]);
        let mut args = vec!["watch", tree.to_str().unwrap()];
        args.extend_from_slice(flags);
        let out = ok(&tree, &args);
        assert!(out.contains("watching") && out.contains("→ main"), "{out}");
        Watched { _tmp: tmp, tree }
    }

    fn write(&self, rel: &str, body: &str) {
        crate::common::write(&self.tree, rel, body.as_bytes());
    }

    /// Waits until main's `rel` reads `body` (None: until it is gone).
    fn wait_for(&self, rel: &str, body: Option<&str>) {
        let started = Instant::now();
        loop {
            let out = cortex(&self.tree, &["cat", rel]);
            let now =
                out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned());
            if now.as_deref() == body {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "main's {rel} is {now:?}, not {body:?}, after 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&ok(&self.tree, &["status", "--json"])).unwrap()
    }

    /// Snapshots made by the watch so far.
    fn watch_snapshots(&self) -> usize {
        let log: serde_json::Value =
            serde_json::from_str(&ok(&self.tree, &["log", "--json", "--limit", "10000"])).unwrap();
        log.as_array().unwrap().iter().filter(|s| s["source"] == "watch").count()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = cortex(&self.tree, &["watch", "--stop", self.tree.to_str().unwrap()]);
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn outside_edits_reach_main_and_the_graph() {
    let w = Watched::new(&[("src/lib.rs", "pub fn one() {}\n"), (".gitignore", "*.log\n")], &[]);
    // A plain write, then an editor's save: a temporary file renamed over.
    w.write("src/lib.rs", "pub fn one() {}\npub fn two() {}\n");
    w.wait_for("src/lib.rs", Some("pub fn one() {}\npub fn two() {}\n"));
    let units = ok(&w.tree, &["units", "src/lib.rs"]);
    assert!(units.contains("two"), "{units}");
    w.write("src/.lib.rs.swp", "pub fn three() {}\n");
    std::fs::rename(w.tree.join("src/.lib.rs.swp"), w.tree.join("src/lib.rs")).unwrap();
    w.wait_for("src/lib.rs", Some("pub fn three() {}\n"));
    // A new directory, a rename, a delete; ignored files stay out.
    w.write("new/deep/a.rs", "fn a() {}\n");
    w.wait_for("new/deep/a.rs", Some("fn a() {}\n"));
    w.write("new/deep/b.rs", "fn b() {}\n"); // inside a directory watched since
    w.wait_for("new/deep/b.rs", Some("fn b() {}\n"));
    std::fs::rename(w.tree.join("new/deep/a.rs"), w.tree.join("moved.rs")).unwrap();
    w.wait_for("moved.rs", Some("fn a() {}\n"));
    w.wait_for("new/deep/a.rs", None);
    std::fs::remove_dir_all(w.tree.join("new")).unwrap();
    w.wait_for("new/deep/b.rs", None);
    w.write("debug.log", "noise\n");
    w.write("marker.rs", "// after the log\n");
    w.wait_for("marker.rs", Some("// after the log\n"));
    w.wait_for("debug.log", None);

    let status = w.status();
    let watch = &status["watches"][0];
    assert_eq!(watch["dir"], w.tree.to_str().unwrap());
    assert_eq!(watch["live"], true);
    assert!(ok(&w.tree, &["status"]).contains("(watching;"));
    // Watched once only; a missing directory is one clear line.
    let again = fails(&w.tree, &["watch", w.tree.to_str().unwrap()]);
    assert!(again.contains("already watched"), "{again}");
    let missing = fails(&w.tree, &["watch", "/nonexistent/dir"]);
    assert!(missing.contains("/nonexistent/dir"), "{missing}");
    // Stopped: later edits stay outside.
    ok(&w.tree, &["watch", "--stop", w.tree.to_str().unwrap()]);
    w.write("after.rs", "fn after() {}\n");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!cortex(&w.tree, &["cat", "after.rs"]).status.success());
}

#[test]
fn a_branch_switch_lands_as_one_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    git(&tree, &["init", "-q"]);
    std::fs::write(tree.join(".gitignore"), ".cortex/\n").unwrap();
    for i in 0..400 {
        crate::common::write(
            &tree,
            &format!("m{}/f{i}.rs", i % 20),
            format!("fn f{i}() {{}}\n").as_bytes(),
        );
    }
    git(&tree, &["add", "-A"]);
    git(&tree, &["commit", "-qm", "one"]);
    git(&tree, &["checkout", "-qb", "other"]);
    for i in 0..400 {
        crate::common::write(
            &tree,
            &format!("m{}/f{i}.rs", i % 20),
            format!("fn g{i}() {{}}\n").as_bytes(),
        );
    }
    git(&tree, &["commit", "-qam", "two"]);
    git(&tree, &["checkout", "-q", "main"]);
    let w = {
        ok(&tree, &["init"]);
        ok(&tree, &["watch", tree.to_str().unwrap()]);
        Watched { _tmp: tmp, tree: tree.clone() }
    };
    std::thread::sleep(Duration::from_millis(300)); // the start's rescan is done
    let before = w.watch_snapshots();
    git(&tree, &["checkout", "-q", "other"]);
    w.wait_for("m19/f399.rs", Some("fn g399() {}\n"));
    w.wait_for("m0/f0.rs", Some("fn g0() {}\n"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.watch_snapshots(), before + 1, "the checkout landed as one snapshot");
}

/// Sets the kernel's inotify queue length for instances made from now on,
/// and puts it back on drop.
struct QueueLength(String);

impl QueueLength {
    const PATH: &str = "/proc/sys/fs/inotify/max_queued_events";
    fn set(events: u32) -> QueueLength {
        let old = std::fs::read_to_string(Self::PATH).unwrap();
        std::fs::write(Self::PATH, events.to_string())
            .expect("the suite runs as root: it sets the inotify queue length");
        QueueLength(old.trim().to_owned())
    }
}

impl Drop for QueueLength {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::PATH, &self.0);
    }
}

#[test]
fn an_overflowed_event_queue_rescans_and_misses_nothing() {
    let queue = QueueLength::set(4);
    // Into a directory watched already: its events come as fast as the
    // files are written, four or so each, far past the queue.
    let w = Watched::new(&[("a.rs", "fn a() {}\n"), ("burst/keep", "")], &[]);
    drop(queue); // the watch's queue was made short; others are not
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..600 {
        w.write(&format!("burst/f{i}.rs"), &format!("fn f{i}() {{}}\n"));
    }
    w.wait_for("burst/f599.rs", Some("fn f599() {}\n"));
    w.wait_for("burst/f0.rs", Some("fn f0() {}\n"));
    let files = ok(&w.tree, &["ls", "burst"]);
    assert_eq!(files.lines().count(), 601, "{files}");
    let rescans = w.status()["watches"][0]["rescans"].as_u64().unwrap();
    let log = std::fs::read_to_string(w.tree.join(".cortex/mountd.log")).unwrap_or_default();
    assert!(
        rescans >= 2,
        "the overflow made a rescan (the first is the start's): {rescans}\n{log}"
    );
}

#[test]
fn a_pull_writes_merges_back_and_leaves_the_persons_files_alone() {
    let w = Watched::new(&[("a.rs", "fn a() {}\n"), ("b.rs", "fn b() {}\n")], &["--pull"]);
    // An agent's session changes both files.
    ok(&w.tree, &["session", "new", "agent"]);
    let mnt = w._tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    ok(&w.tree, &["mount", "--session", "agent", mnt.to_str().unwrap()]);
    std::fs::write(mnt.join("a.rs"), "fn a() { agent }\n").unwrap();
    std::fs::write(mnt.join("b.rs"), "fn b() { agent }\n").unwrap();
    std::fs::write(mnt.join("c.rs"), "fn c() {}\n").unwrap();
    ok(&w.tree, &["umount", mnt.to_str().unwrap()]);
    // The person edits b.rs while git holds its index: the watch waits,
    // so the merge lands before it has seen the edit.
    std::fs::create_dir_all(w.tree.join(".git")).unwrap();
    std::fs::write(w.tree.join(".git/index.lock"), "").unwrap();
    w.write("b.rs", "fn b() { mine }\n");
    let out = ok(&w.tree, &["merge", "agent"]);
    assert!(out.contains("left    b.rs in watched"), "{out}");
    assert_eq!(std::fs::read_to_string(w.tree.join("a.rs")).unwrap(), "fn a() { agent }\n");
    assert_eq!(std::fs::read_to_string(w.tree.join("c.rs")).unwrap(), "fn c() {}\n");
    assert_eq!(std::fs::read_to_string(w.tree.join("b.rs")).unwrap(), "fn b() { mine }\n");
    let status = ok(&w.tree, &["status"]);
    assert!(status.contains("left alone (changed in the directory too): b.rs"), "{status}");
    // Git done: the person's version lands in main.
    std::fs::remove_file(w.tree.join(".git/index.lock")).unwrap();
    w.wait_for("b.rs", Some("fn b() { mine }\n"));
    w.wait_for("a.rs", Some("fn a() { agent }\n"));
}

#[test]
fn a_watched_directory_deleted_stops_its_watch_and_main_keeps_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(&store).unwrap();
    crate::common::write(&tree, "a.rs", b"fn a() {}\n");
    ok(&store, &["init"]);
    let out = ok(&store, &["watch", tree.to_str().unwrap()]);
    assert!(out.contains("watching"), "{out}");
    let a = ok(&store, &["cat", "a.rs"]);
    assert_eq!(a, "fn a() {}\n");
    std::fs::remove_dir_all(&tree).unwrap();
    let started = Instant::now();
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&ok(&store, &["status", "--json"])).unwrap();
        if status["watches"][0]["live"] == false {
            let error = status["watches"][0]["error"].as_str().unwrap().to_owned();
            assert!(error.contains("is gone"), "{error}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ok(&store, &["cat", "a.rs"]), "fn a() {}\n");
    ok(&store, &["watch", "--stop", tree.to_str().unwrap()]);
}
