//! A view kept in step with a real directory (`cortex::watch::Mirror`),
//! told which paths changed as the daemon's watcher would tell it.

use std::collections::{BTreeMap, BTreeSet};

use cortex::ids::ContentHash;
use cortex::snapshot;
use cortex::store::{BlobWrite, NewSnapshot, Store};
use cortex::tree::{Entry, EntryKind, Timestamp};
use cortex::watch::{Mirror, Targets};

use crate::common::{self, write};

/// The view's files and symlinks: path → content hash or link target.
async fn files(store: &Store) -> BTreeMap<String, String> {
    let head = store.history().head().await.unwrap();
    let mut out = BTreeMap::new();
    for (path, e) in snapshot::walk(store, head.root).await.unwrap() {
        let value = match e.kind {
            EntryKind::File { content, .. } => content.to_hex(),
            EntryKind::Symlink { target } => String::from_utf8(target).unwrap(),
            _ => continue,
        };
        out.insert(String::from_utf8(path).unwrap(), value);
    }
    out
}

/// The same picture of a directory, made by importing it into a store of
/// its own (what `cortex import` takes of it).
async fn imported(dir: &std::path::Path) -> BTreeMap<String, String> {
    let store = common::store().await;
    common::import(&store, dir).await;
    files(&store).await
}

fn paths(list: &[&str]) -> Targets {
    Targets::Paths(list.iter().map(|p| p.as_bytes().to_vec()).collect::<BTreeSet<_>>())
}

/// A file written into the view from elsewhere (a mount, a merge).
async fn commit_file(store: &Store, path: &str, data: &[u8]) {
    let hash = ContentHash::of(data);
    let blob = BlobWrite::Inline { hash, data: data.to_vec() };
    store.objects().put_blobs(vec![blob]).await.unwrap();
    let head = store.history().head().await.unwrap();
    let entry = Entry {
        name: vec![],
        kind: EntryKind::File { content: hash, size: data.len() as u64 },
        mode: 0o644,
        mtime: Timestamp::now(),
        owner: None,
        xattrs: vec![],
    };
    let edits = BTreeMap::from([(path.as_bytes().to_vec(), Some(entry))]);
    let root = snapshot::apply(store, head.root, &edits).await.unwrap();
    let changes = snapshot::diff(store, head.root, root).await.unwrap();
    let (files, bytes) = snapshot::counts_after(store, &head, &edits).await.unwrap();
    let new = NewSnapshot {
        parent: head.id,
        root,
        source: "mount".into(),
        message: "elsewhere".into(),
        files,
        bytes,
        changes,
    };
    store.history().commit(new).await.unwrap();
}

async fn snapshots_by(store: &Store, source: &str) -> usize {
    let log = store.history().log(1000).await.unwrap();
    log.iter().filter(|s| s.source == source).count()
}

#[tokio::test]
async fn a_watch_starts_by_taking_what_import_takes() {
    let store = common::store().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "src/lib.rs", b"pub fn a() {}\n");
    write(dir.path(), ".gitignore", b"target/\n*.log\n");
    write(dir.path(), "target/debug/out", b"built\n");
    write(dir.path(), "run.log", b"noise\n");
    write(dir.path(), ".git/HEAD", b"ref: refs/heads/main\n");
    std::os::unix::fs::symlink("src/lib.rs", dir.path().join("link")).unwrap();
    // The view held a file the directory does not: it goes, as with import.
    commit_file(&store, "old.txt", b"old\n").await;

    let (_mirror, synced) = Mirror::start(&store, dir.path(), false).await.unwrap();
    assert!(synced.snapshot.is_some());
    assert_eq!(files(&store).await, imported(dir.path()).await);
    assert!(files(&store).await.contains_key("link"));
    assert!(!files(&store).await.contains_key("run.log"));
    assert!(synced.new_dirs.contains(&b"src".to_vec()), "{:?}", synced.new_dirs);
}

#[tokio::test]
async fn a_batch_of_edits_lands_as_one_snapshot() {
    let store = common::store().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.rs", b"fn a() {}\n");
    write(dir.path(), "b.rs", b"fn b() {}\n");
    write(dir.path(), "c.rs", b"fn c() {}\n");
    write(dir.path(), "d/e.rs", b"fn e() {}\n");
    let (mut mirror, _) = Mirror::start(&store, dir.path(), false).await.unwrap();
    let before = snapshots_by(&store, "watch").await;

    // An editor's save (a temporary file renamed over), a delete, a rename,
    // a new directory with files in it.
    write(dir.path(), ".a.rs.swp", b"fn a() { 1 }\n");
    std::fs::rename(dir.path().join(".a.rs.swp"), dir.path().join("a.rs")).unwrap();
    std::fs::remove_file(dir.path().join("b.rs")).unwrap();
    std::fs::rename(dir.path().join("c.rs"), dir.path().join("d/c.rs")).unwrap();
    write(dir.path(), "new/deep/f.rs", b"fn f() {}\n");
    let synced = mirror
        .sync(&store, paths(&[".a.rs.swp", "a.rs", "b.rs", "c.rs", "d/c.rs", "new"]))
        .await
        .unwrap();
    assert!(synced.snapshot.is_some());
    assert_eq!(snapshots_by(&store, "watch").await, before + 1);
    assert_eq!(files(&store).await, imported(dir.path()).await);
    assert!(synced.new_dirs.contains(&b"new/deep".to_vec()), "{:?}", synced.new_dirs);

    // Nothing changed: no snapshot.
    let again = mirror.sync(&store, paths(&["a.rs", "d"])).await.unwrap();
    assert!(again.snapshot.is_none());
    // A whole directory removed.
    std::fs::remove_dir_all(dir.path().join("new")).unwrap();
    mirror.sync(&store, paths(&["new/deep/f.rs", "new/deep", "new"])).await.unwrap();
    assert_eq!(files(&store).await, imported(dir.path()).await);
}

#[tokio::test]
async fn the_views_own_changes_stay_and_a_rescan_catches_what_was_missed() {
    let store = common::store().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.rs", b"fn a() {}\n");
    write(dir.path(), "b.rs", b"fn b() {}\n");
    let (mut mirror, _) = Mirror::start(&store, dir.path(), false).await.unwrap();
    commit_file(&store, "agent.rs", b"fn agent() {}\n").await;

    // Changes nobody told the mirror of (the event queue overflowed).
    write(dir.path(), "a.rs", b"fn a() { 2 }\n");
    write(dir.path(), "sub/c.rs", b"fn c() {}\n");
    std::fs::remove_file(dir.path().join("b.rs")).unwrap();
    let synced = mirror.sync(&store, Targets::All).await.unwrap();
    assert!(synced.snapshot.is_some());
    let mut want = imported(dir.path()).await;
    want.insert("agent.rs".into(), ContentHash::of(b"fn agent() {}\n").to_hex());
    assert_eq!(files(&store).await, want);
}

#[tokio::test]
async fn ignored_and_private_paths_are_never_taken() {
    let store = common::store().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".gitignore", b"*.tmp\n");
    write(dir.path(), "a.rs", b"fn a() {}\n");
    let (mut mirror, _) = Mirror::start(&store, dir.path(), false).await.unwrap();
    write(dir.path(), "x.tmp", b"scratch\n");
    write(dir.path(), ".git/index.lock", b"lock\n");
    write(dir.path(), ".cortex/junk", b"store\n");
    let synced =
        mirror.sync(&store, paths(&["x.tmp", ".git/index.lock", ".cortex/junk"])).await.unwrap();
    assert!(synced.snapshot.is_none());
    assert!(cortex::watch::is_private(b"sub/.git/config"));
    assert!(!cortex::watch::is_private(b"src/git.rs"));
}

#[tokio::test]
async fn a_pull_writes_back_what_the_person_left_alone_and_names_the_rest() {
    let store = common::store().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.rs", b"fn a() {}\n");
    write(dir.path(), "b.rs", b"fn b() {}\n");
    let (mut mirror, _) = Mirror::start(&store, dir.path(), true).await.unwrap();

    // A merge lands in the view: a.rs changed, new.rs added, b.rs changed.
    commit_file(&store, "a.rs", b"fn a() { merged }\n").await;
    commit_file(&store, "b.rs", b"fn b() { merged }\n").await;
    commit_file(&store, "sub/new.rs", b"fn new() {}\n").await;
    // Meanwhile the person edited b.rs, not yet seen by the watch.
    write(dir.path(), "b.rs", b"fn b() { mine }\n");

    let pulled = mirror.pull(&store).await.unwrap();
    assert_eq!(pulled.kept, vec!["b.rs".to_string()]);
    assert_eq!(pulled.written, vec!["a.rs".to_string(), "sub/new.rs".to_string()]);
    assert_eq!(std::fs::read(dir.path().join("a.rs")).unwrap(), b"fn a() { merged }\n");
    assert_eq!(std::fs::read(dir.path().join("sub/new.rs")).unwrap(), b"fn new() {}\n");
    assert_eq!(std::fs::read(dir.path().join("b.rs")).unwrap(), b"fn b() { mine }\n");
    assert_eq!(mirror.kept(), vec!["b.rs".to_string()]);

    // What the pull wrote is seen: looking again changes nothing, except
    // the person's b.rs, which then lands and is no longer kept back.
    let synced = mirror.sync(&store, paths(&["a.rs", "sub", "b.rs"])).await.unwrap();
    assert_eq!(synced.edited, 1);
    assert!(mirror.kept().is_empty());
    assert_eq!(mirror.pull(&store).await.unwrap(), Default::default());
}

#[tokio::test]
async fn a_deleted_directory_is_not_mirrored_as_deleting_everything() {
    let store = common::store().await;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("tree");
    write(&dir, "a.rs", b"fn a() {}\n");
    let (mut mirror, _) = Mirror::start(&store, &dir, false).await.unwrap();
    let before = files(&store).await;
    std::fs::remove_dir_all(&dir).unwrap();
    let err = mirror.sync(&store, Targets::All).await.unwrap_err();
    assert!(err.to_string().contains("is gone"), "{err}");
    assert_eq!(files(&store).await, before);
    // And a directory that does not exist cannot be watched.
    let err = Mirror::start(&store, &parent.path().join("nope"), false).await.unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}
