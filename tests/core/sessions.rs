//! Sessions without FUSE: forking, isolation between views, the registry,
//! and bad names.

use std::sync::Arc;

use cortex::ids::InodeNo;
use cortex::store::{Store, View};
use cortex::vfs::{Caller, SetAttr, Vfs, VfsConfig};

use crate::common::{self, write};

const ME: Caller = Caller { uid: 1000, gid: 1000 };
const CONFIG: VfsConfig = VfsConfig { uid: 1000, gid: 1000, read_only: false };

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
    vfs.flush().await.unwrap().expect("a snapshot");
    drop(vfs);
    Arc::into_inner(store).expect("the only handle")
}

async fn read(store: &Store, path: &str) -> Option<Vec<u8>> {
    let head = store.head().await.unwrap();
    match cortex::snapshot::resolve(store, head.root, path.as_bytes()).await {
        Ok(cortex::snapshot::Resolved::Entry(e)) => match e.kind {
            cortex::tree::EntryKind::File { content, .. } => {
                Some(store.read_blob(content).await.unwrap())
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

    let one = t.create_session("one", &View::Main).await.unwrap();
    assert_eq!(one.origin, "main");
    let two = t.create_session("two", &View::Main).await.unwrap();
    assert_eq!(one.base_root, two.base_root);

    let s1 = write_through(t.session("one").await.unwrap(), "a.txt", b"one's a\n").await;
    let s1 = write_through(s1, "new.txt", b"only in one\n").await;
    assert_eq!(read(&s1, "a.txt").await.unwrap(), b"one's a\n");
    assert_eq!(read(&s1, "new.txt").await.unwrap(), b"only in one\n");

    // Main and the other session do not see them.
    assert_eq!(read(&t, "a.txt").await.unwrap(), b"main's a\n");
    assert!(read(&t, "new.txt").await.is_none());
    let s2 = t.session("two").await.unwrap();
    assert_eq!(read(&s2, "a.txt").await.unwrap(), b"main's a\n");
    assert!(read(&s2, "new.txt").await.is_none());

    // Main moves on; the session still sees main as it was at its fork.
    write(tree.path(), "later.txt", b"main later\n");
    common::import(&t, tree.path()).await;
    assert!(read(&t, "later.txt").await.is_some());
    assert!(read(&s2, "later.txt").await.is_none());
    assert!(read(&s1, "later.txt").await.is_none());

    // A session forked from a session starts from its head.
    let three = t.create_session("three", &View::Session("one".into())).await.unwrap();
    assert_eq!(three.origin, "one");
    let s3 = t.session("three").await.unwrap();
    assert_eq!(read(&s3, "new.txt").await.unwrap(), b"only in one\n");

    let names: Vec<String> = t.sessions().await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["one", "three", "two"]);
    t.remove_session("two").await.unwrap();
    let names: Vec<String> = t.sessions().await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["one", "three"]);
    assert!(t.session("two").await.is_err());
    // The name can be used again, from scratch.
    t.create_session("two", &View::Main).await.unwrap();
    let s2 = t.session("two").await.unwrap();
    assert!(read(&s2, "later.txt").await.is_some(), "forked from main now");
}

#[tokio::test]
async fn bad_and_unknown_session_names_are_refused_clearly() {
    let t = common::store().await;
    for bad in ["", "Main", "a b", "-x", "../x", "x;DROP", "main", &"a".repeat(64), "ünï"] {
        let err = t.create_session(bad, &View::Main).await.unwrap_err().to_string();
        assert!(err.contains("session"), "{bad:?}: {err}");
    }
    let err = t.session("nope").await.unwrap_err().to_string();
    assert!(err.contains("no session named nope"), "{err}");
    t.create_session("dup", &View::Main).await.unwrap();
    let err = t.create_session("dup", &View::Main).await.unwrap_err().to_string();
    assert!(err.contains("exists already"), "{err}");
    assert!(t.remove_session("nope").await.is_err());
    assert_eq!(t.sessions().await.unwrap().len(), 1);
}

#[tokio::test]
async fn forking_copies_nothing() {
    let t = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    for i in 0..200 {
        write(tree.path(), &format!("d{}/f{i}.txt", i % 7), format!("{i}\n").as_bytes());
    }
    common::import(&t, tree.path()).await;
    let trees = t.count_objects("tree").await.unwrap();
    let blobs = t.count_objects("blob").await.unwrap();
    t.create_session("big", &View::Main).await.unwrap();
    let s = t.session("big").await.unwrap();
    assert_eq!(s.head().await.unwrap().root, t.head().await.unwrap().root);
    assert_eq!(t.count_objects("tree").await.unwrap(), trees);
    assert_eq!(t.count_objects("blob").await.unwrap(), blobs);
}
