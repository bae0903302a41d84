//! Main's history: snapshots stay readable, re-imports of nothing change
//! nothing, changes are journaled, and a stale commit is refused.

use cortex::ids::SnapshotId;
use cortex::snapshot::{self, Resolved};
use cortex::store::{ChangeOp, NewSnapshot};
use cortex::tree::EntryKind;

use crate::common::{self, write};

async fn read(store: &cortex::store::Store, root: cortex::ids::ContentHash, path: &str) -> Vec<u8> {
    match snapshot::resolve(store, root, path.as_bytes()).await.unwrap() {
        Resolved::Entry(e) => match e.kind {
            EntryKind::File { content, .. } => store.objects().read_blob(content).await.unwrap(),
            other => panic!("{path} is {other:?}"),
        },
        Resolved::Root(_) => panic!("root"),
    }
}

/// Rows of every table main's history, contents and graph keep.
async fn rows_of(store: &cortex::store::Store) -> Vec<(&'static str, u64)> {
    let mut out = Vec::new();
    for table in [
        "blob",
        "chunk",
        "tree",
        "snapshot",
        "journal",
        "meta",
        "code_file",
        "code_parse",
        "code_edges",
        "code_names",
    ] {
        out.push((table, store.objects().count_objects(table).await.unwrap()));
    }
    out
}

#[tokio::test]
async fn reimport_unchanged_records_nothing_and_changes_are_journaled() {
    let store = common::store().await;
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.rs", b"fn a() {}\n");
    write(src.path(), "b.rs", b"fn b() {}\n");
    write(src.path(), "dir/c.rs", b"fn c() {}\n");
    let first = common::import(&store, src.path()).await.snapshot.unwrap();
    assert_eq!(first.id, SnapshotId(1));
    assert_eq!((first.added, first.modified, first.deleted), (3, 0, 0));

    cortex::index::index_head(&store).await.unwrap();
    let rows = rows_of(&store).await;
    assert!(rows.contains(&("code_file", 3)) && rows.contains(&("snapshot", 2)), "{rows:?}");

    let again = common::import(&store, src.path()).await;
    assert!(again.snapshot.is_none(), "unchanged tree made a snapshot");
    assert_eq!(store.history().head().await.unwrap().id, SnapshotId(1));
    // Nor did it (or indexing again) add a row anywhere: the store does not
    // grow by re-imports of nothing.
    cortex::index::index_head(&store).await.unwrap();
    assert_eq!(rows_of(&store).await, rows);

    // Same bytes written back (new mtime) is still no change.
    write(src.path(), "a.rs", b"fn a() {}\n");
    assert!(common::import(&store, src.path()).await.snapshot.is_none());

    write(src.path(), "a.rs", b"fn a() { changed() }\n");
    std::fs::remove_file(src.path().join("b.rs")).unwrap();
    write(src.path(), "dir/new.rs", b"fn new() {}\n");
    let second = common::import(&store, src.path()).await.snapshot.unwrap();
    assert_eq!(second.id, SnapshotId(2));
    assert_eq!(second.parent, Some(SnapshotId(1)));
    assert_eq!((second.added, second.modified, second.deleted), (1, 1, 1));

    let journal = store.history().journal(0, 100).await.unwrap();
    let ops: Vec<(u64, String, String, u64)> = journal
        .iter()
        .map(|j| (j.seq, j.op.clone(), String::from_utf8(j.path.clone()).unwrap(), j.snapshot.0))
        .collect();
    assert_eq!(
        ops,
        [
            (1, "add".into(), "a.rs".into(), 1),
            (2, "add".into(), "b.rs".into(), 1),
            (3, "add".into(), "dir/c.rs".into(), 1),
            (4, "modify".into(), "a.rs".into(), 2),
            (5, "delete".into(), "b.rs".into(), 2),
            (6, "add".into(), "dir/new.rs".into(), 2),
        ]
    );
    assert_eq!(store.history().journal(4, 100).await.unwrap().len(), 2);

    let log = store.history().log(10).await.unwrap();
    let ids: Vec<u64> = log.iter().map(|s| s.id.0).collect();
    assert_eq!(ids, [2, 1, 0], "newest first, down to the empty tree");
}

#[tokio::test]
async fn old_snapshots_stay_readable() {
    let store = common::store().await;
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "f.txt", b"version one\n");
    let one = common::import(&store, src.path()).await.snapshot.unwrap();
    write(src.path(), "f.txt", b"version two\n");
    let two = common::import(&store, src.path()).await.snapshot.unwrap();

    // A session forked at `one` records only its number; reading it later
    // still gives what main was then.
    let then = store.history().snapshot(one.id).await.unwrap();
    assert_eq!(read(&store, then.root, "f.txt").await, b"version one\n");
    assert_eq!(read(&store, two.root, "f.txt").await, b"version two\n");
    let changes = snapshot::diff(&store, one.root, two.root).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].op, ChangeOp::Modify);
    assert!(matches!(
        store.history().snapshot(SnapshotId(99)).await,
        Err(cortex::Error::NotFound(_))
    ));
}

#[tokio::test]
async fn contents_are_stored_once() {
    let store = common::store().await;
    let src = tempfile::tempdir().unwrap();
    for i in 0..20 {
        write(src.path(), &format!("copy{i}.txt"), b"the same bytes in twenty files\n");
    }
    common::import(&store, src.path()).await;
    let head = store.history().head().await.unwrap();
    let hashes: std::collections::HashSet<_> = snapshot::walk(&store, head.root)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, e)| match e.kind {
            EntryKind::File { content, .. } => Some(content),
            _ => None,
        })
        .collect();
    assert_eq!(hashes.len(), 1);
    assert_eq!(store.objects().count_objects("blob").await.unwrap(), 1);
}

#[tokio::test]
async fn a_commit_against_a_stale_head_is_refused() {
    let store = common::store().await;
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "x", b"1");
    let first = common::import(&store, src.path()).await.snapshot.unwrap();
    write(src.path(), "x", b"2");
    common::import(&store, src.path()).await.snapshot.unwrap();

    // Prepared against snapshot 1, but main is at 2 now.
    let stale = NewSnapshot {
        parent: first.id,
        root: first.root,
        source: "test".into(),
        message: "stale".into(),
        files: 1,
        bytes: 1,
        changes: vec![],
    };
    let err = store.history().commit(stale).await.unwrap_err();
    assert!(matches!(err, cortex::Error::HeadMoved { expected: 1, found: 2 }), "{err}");
    assert_eq!(store.history().head().await.unwrap().id, SnapshotId(2));
    assert_eq!(store.history().journal(0, 100).await.unwrap().len(), 2);
}
