//! Bad input: a clear error, and the store as it was.

use std::sync::{Arc, Mutex};

use cortex::ids::SnapshotId;
use cortex::import::{ImportOptions, Progress, import};

use crate::common::{self, write};

#[tokio::test]
async fn missing_and_non_directory_sources_are_refused() {
    let store = common::store().await;
    let tmp = tempfile::tempdir().unwrap();
    let options = ImportOptions { source: "import".into(), ..Default::default() };
    let progress = Arc::new(cortex::import::NoProgress);

    let err =
        import(&store, &tmp.path().join("missing"), &options, progress.clone()).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("missing") && msg.contains("No such file"), "{msg}");

    let file = write(tmp.path(), "plain", b"x");
    let err = import(&store, &file, &options, progress).await.unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert_eq!(store.history().head().await.unwrap().id, SnapshotId(0));
}

/// Deletes the other files of the tree as soon as the first one is read, so
/// that the walk meets a file that has vanished.
struct Saboteur {
    victims: Mutex<Vec<std::path::PathBuf>>,
}

impl Progress for Saboteur {
    fn file(&self, _bytes: u64) {
        for victim in self.victims.lock().unwrap().drain(..) {
            let _ = std::fs::remove_file(victim);
        }
    }
}

#[tokio::test]
async fn a_file_vanishing_mid_import_aborts_and_changes_nothing() {
    let store = common::store().await;
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "keep.txt", b"first import\n");
    common::import(&store, src.path()).await;
    let before = store.history().head().await.unwrap();

    let mut victims = Vec::new();
    for i in 0..50 {
        victims.push(write(src.path(), &format!("f{i:02}.txt"), b"will vanish"));
    }
    let saboteur = Arc::new(Saboteur { victims: Mutex::new(victims) });
    let options = ImportOptions { source: "import".into(), ..Default::default() };
    let err = import(&store, src.path(), &options, saboteur).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("No such file") && msg.contains(".txt"), "{msg}");
    assert_eq!(store.history().head().await.unwrap(), before);
    assert_eq!(store.history().journal(0, 100).await.unwrap().len(), 1);
}
