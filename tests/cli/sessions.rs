//! Sessions as users run them: mounted beside main from one daemon, written
//! with ordinary tools, diffed, merged, and their conflicts listed.

use std::path::{Path, PathBuf};

use super::{fails, ok};
use crate::cli::mount::Mounted;

const LIB: &str = "pub fn one() -> u32 {\n    1\n}\n\npub fn two() -> u32 {\n    2\n}\n";

/// Mounts session `name` (forking it with `--create`) beside main's mount.
fn mount_session(m: &Mounted, name: &str) -> PathBuf {
    let mnt = m.tmp.path().join(format!("s-{name}"));
    std::fs::create_dir_all(&mnt).unwrap();
    let out = ok(&m.tree, &["mount", "--session", name, "--create", mnt.to_str().unwrap()]);
    assert!(out.contains(&format!("mounted session {name} at")), "{out}");
    mnt
}

fn umount(m: &Mounted, mnt: &Path) {
    ok(&m.tree, &["umount", mnt.to_str().unwrap()]);
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(dir, args)).unwrap()
}

#[test]
fn sessions_are_isolated_and_merge_by_function() {
    let m = Mounted::new(&[("lib.rs", LIB), ("README", "hello\n")]);
    let a = mount_session(&m, "agent-a");
    let b = mount_session(&m, "agent-b");

    // Three writers, three views.
    std::fs::write(a.join("lib.rs"), LIB.replace("    2\n", "    20\n")).unwrap();
    std::fs::write(a.join("added.txt"), "from a\n").unwrap();
    std::fs::write(b.join("README"), "hello from b\n").unwrap();
    std::fs::write(m.mnt.join("lib.rs"), LIB.replace("    1\n", "    10\n")).unwrap();
    assert_eq!(std::fs::read_to_string(m.mnt.join("README")).unwrap(), "hello\n");
    assert!(!m.mnt.join("added.txt").exists());
    assert!(!b.join("added.txt").exists());
    assert_eq!(std::fs::read_to_string(a.join("README")).unwrap(), "hello\n");
    assert_eq!(std::fs::read_to_string(b.join("lib.rs")).unwrap(), LIB);

    let list = json(&m.tree, &["session", "list", "--json"]);
    let names: Vec<&str> =
        list.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["agent-a", "agent-b"]);
    assert_eq!(list[0]["mounted"][0], a.to_str().unwrap());
    assert!(ok(&m.tree, &["session", "list"]).contains(&format!("mounted at {}", b.display())));
    let status = ok(&m.tree, &["status"]);
    assert!(status.contains("(agent-a)") && status.contains("(agent-b)"), "{status}");

    let diff = json(&m.tree, &["diff", "agent-a", "--units", "--json"]);
    let files: Vec<&str> =
        diff.as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(files, ["added.txt", "lib.rs"]);
    assert_eq!(diff[1]["units"][0]["id"], "lib.rs::two");
    assert!(ok(&m.tree, &["diff", "agent-a", "--stat"]).contains("2 files changed"));

    // A mounted session is not closed by a merge; --keep rebases it.
    let refused = fails(&m.tree, &["merge", "agent-a"]);
    assert!(refused.contains("is mounted at"), "{refused}");
    let out = ok(&m.tree, &["merge", "agent-a", "--keep"]);
    assert!(out.contains("merged session agent-a into main"), "{out}");
    // Main's mount shows it at once: both functions' edits.
    let merged = std::fs::read_to_string(m.mnt.join("lib.rs")).unwrap();
    assert_eq!(merged, LIB.replace("    1\n", "    10\n").replace("    2\n", "    20\n"));
    assert_eq!(std::fs::read_to_string(m.mnt.join("added.txt")).unwrap(), "from a\n");
    // The kept session now sees the new main too.
    assert_eq!(std::fs::read_to_string(a.join("lib.rs")).unwrap(), merged);

    // The other session merges cleanly after (it changed another file).
    umount(&m, &b);
    let out = ok(&m.tree, &["merge", "agent-b"]);
    assert!(out.contains("session closed"), "{out}");
    assert_eq!(std::fs::read_to_string(m.mnt.join("README")).unwrap(), "hello from b\n");

    // rm refuses a mounted session; --force unmounts it.
    let refused = fails(&m.tree, &["session", "rm", "agent-a"]);
    assert!(refused.contains("is mounted at"), "{refused}");
    ok(&m.tree, &["session", "rm", "agent-a", "--force"]);
    assert_eq!(ok(&m.tree, &["session", "list"]).trim(), "no sessions");
}

#[test]
fn a_conflict_names_the_function_and_changes_nothing_in_main() {
    let m = Mounted::new(&[("lib.rs", LIB)]);
    let s = mount_session(&m, "fix");
    std::fs::write(s.join("lib.rs"), LIB.replace("    1\n", "    12\n")).unwrap();
    std::fs::write(m.mnt.join("lib.rs"), LIB.replace("    1\n", "    11\n")).unwrap();
    umount(&m, &s);
    let before = ok(&m.tree, &["log", "--json"]);

    let out = super::cortex(&m.tree, &["merge", "fix"]);
    assert_eq!(out.status.code(), Some(1), "a merge with conflicts exits non-zero");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("CONFLICT (content) lib.rs::one in lib.rs"), "{stdout}");
    assert_eq!(ok(&m.tree, &["log", "--json"]), before, "main did not move");
    let conflicts = json(&m.tree, &["conflicts", "fix", "--json"]);
    assert_eq!(conflicts[0]["unit"], "lib.rs::one");
    assert_eq!(conflicts[0]["ours"], "    11\n");
    assert_eq!(conflicts[0]["theirs"], "    12\n");

    // Merging again without settling anything: the same conflict.
    assert_eq!(super::cortex(&m.tree, &["merge", "fix"]).status.code(), Some(1));

    // Main changes `two` meanwhile: `one` still conflicts.
    let main_now = LIB.replace("    1\n", "    11\n").replace("    2\n", "    22\n");
    std::fs::write(m.mnt.join("lib.rs"), &main_now).unwrap();
    assert_eq!(super::cortex(&m.tree, &["merge", "fix"]).status.code(), Some(1));
    // Settled by editing `one` in the session, then merged again: clean,
    // the session's `one` and main's `two`.
    let s = m.tmp.path().join("s-fix");
    ok(&m.tree, &["mount", "--session", "fix", s.to_str().unwrap()]);
    std::fs::write(s.join("lib.rs"), LIB.replace("    1\n", "    11 + 1\n")).unwrap();
    umount(&m, &s);
    let out = ok(&m.tree, &["merge", "fix"]);
    assert!(out.contains("session closed"), "{out}");
    assert_eq!(
        std::fs::read_to_string(m.mnt.join("lib.rs")).unwrap(),
        LIB.replace("    1\n", "    11 + 1\n").replace("    2\n", "    22\n")
    );
}

#[test]
fn bad_and_unknown_sessions_get_clear_errors() {
    let m = Mounted::new(&[("a.txt", "a\n")]);
    for bad in ["Bad", "a b", "../x", "x;y"] {
        let err = fails(&m.tree, &["session", "new", bad]);
        assert!(err.contains("bad session name"), "{bad}: {err}");
    }
    let err = fails(&m.tree, &["merge", "ghost"]);
    assert!(err.contains("no session named ghost"), "{err}");
    let mnt = m.tmp.path().join("ghost");
    std::fs::create_dir_all(&mnt).unwrap();
    let err = fails(&m.tree, &["mount", "--session", "ghost", mnt.to_str().unwrap()]);
    assert!(err.contains("--create"), "{err}");
    let err = fails(&m.tree, &["diff", "ghost"]);
    assert!(err.contains("no session named ghost"), "{err}");
}

#[test]
fn a_sessions_code_graph_is_its_own_view() {
    let m = Mounted::new(&[("lib.rs", "pub fn one() -> u32 {\n    1\n}\n")]);
    let s = mount_session(&m, "graphy");
    std::fs::write(
        s.join("lib.rs"),
        "pub fn one() -> u32 {\n    two()\n}\npub fn two() -> u32 {\n    2\n}\n",
    )
    .unwrap();
    let ids = |args: &[&str]| -> Vec<String> {
        let v = json(&m.tree, args);
        v["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&["units", "lib.rs", "--json", "--session", "graphy"]),
        ["lib.rs", "lib.rs::one", "lib.rs::two"]
    );
    assert_eq!(ids(&["units", "lib.rs", "--json"]), ["lib.rs", "lib.rs::one"]);
    let callers = ok(&m.tree, &["callers", "lib.rs::two", "--session", "graphy"]);
    assert!(callers.contains("lib.rs::one"), "{callers}");
    let err = fails(&m.tree, &["callers", "lib.rs::two"]);
    assert!(err.contains("lib.rs::two"), "{err}");
}

#[test]
fn claims_are_advisory_and_who_shows_conflicts_ahead() {
    let m = Mounted::new(&[("lib.rs", LIB), ("other.txt", "x\n")]);
    let a = mount_session(&m, "ann");
    let b = mount_session(&m, "bob");
    ok(&m.tree, &["claim", "ann", "lib.rs::one"]);
    let err = fails(&m.tree, &["claim", "bob", "lib.rs::one"]);
    assert!(err.contains("claimed by session ann"), "{err}");
    // Advisory: bob can still edit it; who then shows where they meet.
    std::fs::write(a.join("lib.rs"), LIB.replace("    1\n", "    10\n")).unwrap();
    std::fs::write(b.join("lib.rs"), LIB.replace("    1\n", "    11\n")).unwrap();
    std::fs::write(b.join("other.txt"), "y\n").unwrap();
    let who = json(&m.tree, &["who", "--json"]);
    let ahead: Vec<&str> =
        who["ahead"].as_array().unwrap().iter().map(|e| e["target"].as_str().unwrap()).collect();
    assert_eq!(ahead, ["lib.rs", "lib.rs::one"]);
    let one = json(&m.tree, &["who", "lib.rs::one", "--json"]);
    assert_eq!(one["claims"][0]["session"], "ann");
    assert_eq!(one["editing"][0]["sessions"], serde_json::json!(["ann", "bob"]));
    let text = ok(&m.tree, &["who", "other.txt"]);
    assert!(
        text.contains("other.txt") && text.contains("bob") && !text.contains("AHEAD"),
        "{text}"
    );
    assert!(ok(&m.tree, &["release", "ann"]).contains("released 1"));
    ok(&m.tree, &["claim", "bob", "lib.rs::one"]);
}

/// What session `i`'s writer leaves in its directory `w{i}/`: files
/// written, some renamed, some deleted, one rewritten.
fn expected_of(i: usize) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for f in 0..40 {
        let name = match f {
            0..10 => format!("w{i}/renamed-{f}.txt"),
            10..20 => continue, // deleted
            _ => format!("w{i}/f{f}.txt"),
        };
        out.insert(name, format!("session {i} file {f}\n"));
    }
    out.insert(format!("w{i}/f39.txt"), format!("session {i} rewrote 39\n"));
    out
}

const WRITER: &str = r#"
mkdir -p "w$I"
for f in $(seq 0 39); do printf 'session %s file %s\n' "$I" "$f" > "w$I/f$f.txt"; done
for f in $(seq 0 9); do mv "w$I/f$f.txt" "w$I/renamed-$f.txt"; done
for f in $(seq 10 19); do rm "w$I/f$f.txt"; done
printf 'session %s rewrote 39\n' "$I" > "w$I/f39.txt.tmp" && mv "w$I/f39.txt.tmp" "w$I/f39.txt"
sync
"#;

/// Files below `root` (`.cortex` aside) with their text.
fn files_below(root: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn eight_sessions_written_at_once_lose_and_misroute_nothing() {
    let m = Mounted::new(&[("shared.txt", "base\n")]);
    let n = 8;
    let mounts: Vec<PathBuf> = (0..n).map(|i| mount_session(&m, &format!("w{i}"))).collect();
    // Eight writers at once, one per session, plus one on main.
    let children: Vec<std::process::Child> = mounts
        .iter()
        .enumerate()
        .map(|(i, mnt)| {
            std::process::Command::new("bash")
                .args(["-euo", "pipefail", "-c", WRITER])
                .env("I", i.to_string())
                .current_dir(mnt)
                .spawn()
                .unwrap()
        })
        .collect();
    std::fs::write(m.mnt.join("main-only.txt"), "main\n").unwrap();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    // Each view holds exactly main's base plus its own writes.
    for (i, mnt) in mounts.iter().enumerate() {
        let mut want = expected_of(i);
        want.insert("shared.txt".into(), "base\n".into());
        assert_eq!(files_below(mnt), want, "session w{i}");
    }
    // Merged one by one, main ends with everything, each where it belongs.
    for (i, mnt) in mounts.iter().enumerate() {
        umount(&m, mnt);
        let out = ok(&m.tree, &["merge", &format!("w{i}")]);
        assert!(out.contains("session closed"), "{out}");
    }
    let mut want: std::collections::BTreeMap<String, String> =
        (0..n).flat_map(expected_of).collect();
    want.insert("shared.txt".into(), "base\n".into());
    want.insert("main-only.txt".into(), "main\n".into());
    assert_eq!(files_below(&m.mnt), want);
}

/// A merge finishes while a writer keeps flushing main (fsync after every
/// write): after a few tries it takes main's turn alone, the writer's next
/// flush waits for that one commit, and neither side loses anything. So
/// does an import into that moving main.
#[test]
fn a_merge_and_an_import_finish_beside_a_continuous_writer() {
    let m = Mounted::new(&[("lib.rs", LIB)]);
    let s = mount_session(&m, "busy");
    for i in 0..600 {
        let dir = s.join(format!("gen/d{:02}", i % 20));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("f{i:03}.rs")),
            format!("pub fn f{i}() -> u32 {{ {i} }}\n"),
        )
        .unwrap();
    }
    umount(&m, &s);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, mnt) = (stop.clone(), m.mnt.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut written = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(mnt.join("log.txt"))
                    .unwrap();
                writeln!(f, "line {written}").unwrap();
                f.sync_all().unwrap();
                written += 1;
            }
            written
        })
    };
    // Let the writer get going, then merge under it.
    while !m.mnt.join("log.txt").exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let out = ok(&m.tree, &["merge", "busy"]);
    assert!(out.contains("merged session busy into main"), "{out}");
    let outside = m.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("imported.txt"), "in\n").unwrap();
    let imported = ok(&m.tree, &["import", outside.to_str().unwrap()]);
    assert!(imported.contains("imported"), "{imported}");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = writer.join().unwrap();
    assert!(written > 0);
    m.umount();
    // The merge landed before the import replaced main with `outside`; the
    // log's lines all reached the store before that (each was fsynced).
    let log = ok(&m.tree, &["log", "--json", "--limit", "1000000"]);
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let sources: Vec<&str> =
        log.as_array().unwrap().iter().map(|s| s["source"].as_str().unwrap()).collect();
    assert!(sources.contains(&"merge"), "{sources:?}");
    assert_eq!(ok(&m.tree, &["cat", "imported.txt"]), "in\n");
}
