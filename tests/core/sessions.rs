//! Sessions without FUSE: forking, isolation between views, the registry,
//! and bad names.

use std::sync::Arc;

use cortex::ids::InodeNo;
use cortex::ids::SessionName;
use cortex::merge::ConflictKind;
use cortex::session::{self, MergeOptions, Strategy, UnitChange};
use cortex::store::{Store, View};
use cortex::vfs::{CONTENT_CACHE_DEFAULT, Caller, SetAttr, Vfs, VfsConfig};

use crate::common::{self, sn, write};

const ME: Caller = Caller { uid: 1000, gid: 1000 };
const CONFIG: VfsConfig =
    VfsConfig { uid: 1000, gid: 1000, read_only: false, content_cache: CONTENT_CACHE_DEFAULT };

/// Writes `data` to the top-level file `name` through a view and flushes.
async fn write_through(store: Store, name: &str, data: &[u8]) -> Store {
    let store = Arc::new(store);
    let vfs = Vfs::load(store.clone(), CONFIG).await.unwrap();
    let ino = match vfs.lookup(InodeNo::ROOT, name.as_bytes()) {
        Ok(attr) => attr.ino,
        Err(_) => vfs.create(InodeNo::ROOT, name.as_bytes(), 0o644, ME).unwrap().ino,
    };
    let truncate = SetAttr { size: Some(0), ..SetAttr::default() };
    vfs.setattr(ino, truncate, ME).await.unwrap();
    vfs.write(ino, 0, data).await.unwrap();
    // Main may move under the view meanwhile (a merge this write races):
    // the view catches up, keeping the write, and flushes again, as the
    // daemon's view does after a merge.
    let mut tries = 0;
    loop {
        match vfs.flush().await {
            Ok(snapshot) => break assert!(snapshot.is_some(), "a snapshot"),
            Err(e) if e.message.contains("moved") && tries < 10 => {
                tries += 1;
                vfs.refresh().await.unwrap();
            }
            Err(e) => panic!("{e}"),
        }
    }
    drop(vfs);
    Arc::into_inner(store).expect("the only handle")
}

async fn read(store: &Store, path: &str) -> Option<Vec<u8>> {
    let head = store.history().head().await.unwrap();
    match cortex::snapshot::resolve(store, head.root, path.as_bytes()).await {
        Ok(cortex::snapshot::Resolved::Entry(e)) => match e.kind {
            cortex::tree::EntryKind::File { content, .. } => {
                Some(store.objects().read_blob(content).await.unwrap())
            }
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn a_session_sees_main_at_its_fork_plus_its_own_writes_and_nobody_sees_them() {
    let t = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "a.txt", b"main's a\n");
    common::import(&t, tree.path()).await;

    let one = t.sessions().create_session(&sn("one"), &View::Main).await.unwrap();
    assert_eq!(one.origin, "main");
    let two = t.sessions().create_session(&sn("two"), &View::Main).await.unwrap();
    assert_eq!(one.base_root, two.base_root);

    let s1 =
        write_through(t.sessions().session(&sn("one")).await.unwrap(), "a.txt", b"one's a\n").await;
    let s1 = write_through(s1, "new.txt", b"only in one\n").await;
    assert_eq!(read(&s1, "a.txt").await.unwrap(), b"one's a\n");
    assert_eq!(read(&s1, "new.txt").await.unwrap(), b"only in one\n");

    // Main and the other session do not see them.
    assert_eq!(read(&t, "a.txt").await.unwrap(), b"main's a\n");
    assert!(read(&t, "new.txt").await.is_none());
    let s2 = t.sessions().session(&sn("two")).await.unwrap();
    assert_eq!(read(&s2, "a.txt").await.unwrap(), b"main's a\n");
    assert!(read(&s2, "new.txt").await.is_none());

    // Main moves on; the session still sees main as it was at its fork.
    write(tree.path(), "later.txt", b"main later\n");
    common::import(&t, tree.path()).await;
    assert!(read(&t, "later.txt").await.is_some());
    assert!(read(&s2, "later.txt").await.is_none());
    assert!(read(&s1, "later.txt").await.is_none());

    // A session forked from a session starts from its head.
    let three = t
        .sessions()
        .create_session(&sn("three"), &View::Session("one".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(three.origin, "one");
    let s3 = t.sessions().session(&sn("three")).await.unwrap();
    assert_eq!(read(&s3, "new.txt").await.unwrap(), b"only in one\n");

    let names: Vec<String> =
        t.sessions().list().await.unwrap().into_iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["one", "three", "two"]);
    t.sessions().remove_session(&sn("two")).await.unwrap();
    let names: Vec<String> =
        t.sessions().list().await.unwrap().into_iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["one", "three"]);
    assert!(t.sessions().session(&sn("two")).await.is_err());
    // The name can be used again, from scratch.
    t.sessions().create_session(&sn("two"), &View::Main).await.unwrap();
    let s2 = t.sessions().session(&sn("two")).await.unwrap();
    assert!(read(&s2, "later.txt").await.is_some(), "forked from main now");
}

#[tokio::test]
async fn bad_and_unknown_session_names_are_refused_clearly() {
    let t = common::store().await;
    for bad in ["", "Main", "a b", "-x", "../x", "x;DROP", "main", &"a".repeat(64), "ünï"] {
        // A bad name never becomes a SessionName, so no store call sees it.
        let err = SessionName::parse(bad).unwrap_err().to_string();
        assert!(err.contains("session"), "{bad:?}: {err}");
    }
    let err = t.sessions().session(&sn("nope")).await.unwrap_err().to_string();
    assert!(err.contains("no session named nope"), "{err}");
    t.sessions().create_session(&sn("dup"), &View::Main).await.unwrap();
    let err = t.sessions().create_session(&sn("dup"), &View::Main).await.unwrap_err().to_string();
    assert!(err.contains("exists already"), "{err}");
    assert!(t.sessions().remove_session(&sn("nope")).await.is_err());
    assert_eq!(t.sessions().list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn forking_copies_nothing() {
    let t = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    for i in 0..200 {
        write(tree.path(), &format!("d{}/f{i}.txt", i % 7), format!("{i}\n").as_bytes());
    }
    common::import(&t, tree.path()).await;
    let trees = t.objects().count_objects("tree").await.unwrap();
    let blobs = t.objects().count_objects("blob").await.unwrap();
    t.sessions().create_session(&sn("big"), &View::Main).await.unwrap();
    let s = t.sessions().session(&sn("big")).await.unwrap();
    assert_eq!(s.history().head().await.unwrap().root, t.history().head().await.unwrap().root);
    assert_eq!(t.objects().count_objects("tree").await.unwrap(), trees);
    assert_eq!(t.objects().count_objects("blob").await.unwrap(), blobs);
}

const LIB: &str = "pub fn one() -> u32 {\n    1\n}\n\npub fn two() -> u32 {\n    2\n}\n";

/// A store whose main holds `files`, and a session `s` forked from it.
async fn forked(files: &[(&str, &[u8])]) -> (common::TestStore, tempfile::TempDir) {
    let t = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    for (path, data) in files {
        write(tree.path(), path, data);
    }
    common::import(&t, tree.path()).await;
    t.sessions().create_session(&sn("s"), &View::Main).await.unwrap();
    (t, tree)
}

/// Changes main through a view of it (as a mount would).
async fn main_writes(t: &Store, name: &str, data: &[u8]) {
    let main = t.with_main().await.unwrap();
    drop(write_through(main, name, data).await);
}

#[tokio::test]
async fn merging_different_functions_of_one_file_is_clean_and_closes_the_session() {
    let (t, _tree) = forked(&[("lib.rs", LIB.as_bytes()), ("notes.txt", b"a\n")]).await;
    main_writes(&t, "lib.rs", LIB.replace("    1\n", "    10\n").as_bytes()).await;
    let s = t.sessions().session(&sn("s")).await.unwrap();
    let s = write_through(s, "lib.rs", LIB.replace("    2\n", "    20\n").as_bytes()).await;
    drop(write_through(s, "new.txt", b"from the session\n").await);

    let dry = session::merge(
        &t.main().await.unwrap(),
        &sn("s"),
        MergeOptions { dry_run: true, ..Default::default() },
    )
    .await
    .unwrap();
    assert!(dry.complete() && dry.snapshot.is_none());
    assert_eq!(dry.merged, ["lib.rs"]);
    assert_eq!(dry.taken, ["new.txt"]);
    assert_eq!(read(&t, "new.txt").await, None, "a dry run changes nothing");

    let report =
        session::merge(&t.main().await.unwrap(), &sn("s"), MergeOptions::default()).await.unwrap();
    assert!(report.complete() && report.closed, "{report:?}");
    let merged = String::from_utf8(read(&t, "lib.rs").await.unwrap()).unwrap();
    assert_eq!(merged, LIB.replace("    1\n", "    10\n").replace("    2\n", "    20\n"));
    assert_eq!(read(&t, "new.txt").await.unwrap(), b"from the session\n");
    assert!(t.sessions().list().await.unwrap().is_empty());
    assert_eq!(t.history().head().await.unwrap().source, "merge");
}

#[tokio::test]
async fn the_same_function_changed_differently_conflicts_and_main_stays() {
    let (t, _tree) = forked(&[("lib.rs", LIB.as_bytes())]).await;
    main_writes(&t, "lib.rs", LIB.replace("    1\n", "    10\n").as_bytes()).await;
    let s = t.sessions().session(&sn("s")).await.unwrap();
    drop(write_through(s, "lib.rs", LIB.replace("    1\n", "    11\n").as_bytes()).await);
    let before = t.history().head().await.unwrap();

    let report =
        session::merge(&t.main().await.unwrap(), &sn("s"), MergeOptions::default()).await.unwrap();
    assert!(!report.complete());
    assert_eq!(report.conflicts.len(), 1);
    assert_eq!(report.conflicts[0].unit, "lib.rs::one");
    assert_eq!(report.conflicts[0].kind, ConflictKind::Content);
    assert_eq!(t.history().head().await.unwrap().id, before.id, "main did not move");
    // Kept with the session.
    let kept = session::conflicts(&t, &sn("s")).await.unwrap();
    assert_eq!(kept, report.conflicts);

    // --strategy theirs resolves it the session's way.
    let report = session::merge(
        &t.main().await.unwrap(),
        &sn("s"),
        MergeOptions { strategy: Strategy::Theirs, keep: true, ..Default::default() },
    )
    .await
    .unwrap();
    assert!(report.complete() && !report.closed);
    assert_eq!(read(&t, "lib.rs").await.unwrap(), LIB.replace("    1\n", "    11\n").as_bytes());
    assert!(session::conflicts(&t, &sn("s")).await.unwrap().is_empty());
    // Kept, rebased: nothing left to merge, and it sees the new main.
    assert!(session::diff(&t, &sn("s"), false).await.unwrap().is_empty());
}

#[tokio::test]
async fn delete_modify_binary_and_renames() {
    let bin_base: &[u8] = b"\0\x01\x02base";
    let (t, _tree) =
        forked(&[("gone.txt", b"x\n"), ("blob.bin", bin_base), ("old.rs", LIB.as_bytes())]).await;
    // Main: deletes gone.txt, changes the binary, renames nothing.
    let main = t.with_main().await.unwrap();
    let main = Arc::new(main);
    let vfs = Vfs::load(main.clone(), CONFIG).await.unwrap();
    vfs.unlink(InodeNo::ROOT, b"gone.txt").unwrap();
    vfs.flush().await.unwrap();
    drop(vfs);
    let main = Arc::into_inner(main).unwrap();
    let main = write_through(main, "blob.bin", b"\0main").await;
    // Main edits old.rs's second function.
    drop(write_through(main, "old.rs", LIB.replace("    2\n", "    22\n").as_bytes()).await);

    // The session: edits gone.txt, changes the binary, renames old.rs.
    let s = t.sessions().session(&sn("s")).await.unwrap();
    let s = write_through(s, "gone.txt", b"edited\n").await;
    let s = write_through(s, "blob.bin", b"\0session").await;
    let s = Arc::new(s);
    let vfs = Vfs::load(s.clone(), CONFIG).await.unwrap();
    vfs.rename(
        InodeNo::ROOT,
        b"old.rs",
        InodeNo::ROOT,
        b"new.rs",
        cortex::vfs::RenameMode::Replace,
    )
    .unwrap();
    vfs.flush().await.unwrap();
    drop(vfs);

    let report =
        session::merge(&t.main().await.unwrap(), &sn("s"), MergeOptions::default()).await.unwrap();
    let kinds: Vec<(&str, ConflictKind)> =
        report.conflicts.iter().map(|c| (c.path.as_str(), c.kind)).collect();
    assert_eq!(
        kinds,
        [("blob.bin", ConflictKind::Binary), ("gone.txt", ConflictKind::DeleteModify)]
    );
    // The rename carries main's edit: with --strategy ours for the rest.
    let report = session::merge(
        &t.main().await.unwrap(),
        &sn("s"),
        MergeOptions { strategy: Strategy::Ours, ..Default::default() },
    )
    .await
    .unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(read(&t, "old.rs").await, None);
    assert_eq!(read(&t, "new.rs").await.unwrap(), LIB.replace("    2\n", "    22\n").as_bytes());
    assert_eq!(read(&t, "blob.bin").await.unwrap(), b"\0main");
    assert_eq!(read(&t, "gone.txt").await, None);
}

#[tokio::test]
async fn diff_is_by_content_writing_back_the_original_bytes_is_no_change() {
    let (t, _tree) = forked(&[("a.txt", b"original\n"), ("lib.rs", LIB.as_bytes())]).await;
    let s =
        write_through(t.sessions().session(&sn("s")).await.unwrap(), "a.txt", b"changed\n").await;
    let s = write_through(s, "lib.rs", LIB.replace("    2\n", "    20\n").as_bytes()).await;
    let diff = session::diff(&t, &sn("s"), true).await.unwrap();
    assert_eq!(diff.len(), 2);
    assert_eq!(diff[1].units.len(), 1);
    assert_eq!(
        (diff[1].units[0].id.as_str(), diff[1].units[0].change),
        ("lib.rs::two", UnitChange::Changed)
    );
    // Back to the original bytes: no change at all.
    let s = write_through(s, "a.txt", b"original\n").await;
    drop(write_through(s, "lib.rs", LIB.as_bytes()).await);
    assert!(session::diff(&t, &sn("s"), true).await.unwrap().is_empty());
    assert!(session::list(&t).await.unwrap()[0].changed_files == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_while_main_moves_loses_nothing_of_either() {
    let (t, _tree) = forked(&[("lib.rs", LIB.as_bytes())]).await;
    let mut s = t.sessions().session(&sn("s")).await.unwrap();
    for i in 0..30 {
        s = write_through(s, &format!("s{i}.txt"), format!("session {i}\n").as_bytes()).await;
    }
    drop(s);
    // Main moves again and again while the merge runs: a merge prepared
    // against an older head must be computed again, not lose main's moves.
    let writer = async {
        for i in 0..15 {
            main_writes(&t, &format!("m{i}.txt"), format!("main {i}\n").as_bytes()).await;
        }
    };
    let s_name = sn("s");
    let main = t.main().await.unwrap();
    let merging = session::merge(&main, &s_name, MergeOptions::default());
    let ((), report) = tokio::join!(writer, merging);
    assert!(report.unwrap().complete());
    for i in 0..15 {
        assert_eq!(read(&t, &format!("m{i}.txt")).await.unwrap(), format!("main {i}\n").as_bytes());
    }
    for i in 0..30 {
        assert_eq!(
            read(&t, &format!("s{i}.txt")).await.unwrap(),
            format!("session {i}\n").as_bytes()
        );
    }
}

/// Two stores (on a SurrealDB server, two databases of one server) each
/// have a session of the same name: removing one store's session leaves the
/// other's whole. On a server both live in the namespace `session_<name>`,
/// a database each; removing the namespace once deleted both.
#[tokio::test]
async fn removing_a_session_leaves_another_stores_session_of_that_name() {
    let a = common::store().await;
    let b = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "a.txt", b"a\n");
    common::import(&a, tree.path()).await;
    common::import(&b, tree.path()).await;
    a.sessions().create_session(&sn("same"), &View::Main).await.unwrap();
    b.sessions().create_session(&sn("same"), &View::Main).await.unwrap();
    let kept =
        write_through(b.sessions().session(&sn("same")).await.unwrap(), "b.txt", b"b\n").await;
    drop(kept);

    a.sessions().remove_session(&sn("same")).await.unwrap();
    assert!(a.sessions().session(&sn("same")).await.is_err());
    let s = b.sessions().session(&sn("same")).await.unwrap();
    assert_eq!(read(&s, "b.txt").await.unwrap(), b"b\n");
    assert_eq!(read(&s, "a.txt").await.unwrap(), b"a\n");
}
