//! Session costs on one store, in process (no CLI start-up in the figures):
//! fork time, and `diff` / `merge --dry-run` time for a session that changed
//! 10 files. Used by scripts/bench-sessions.sh, once per tree size.
//!
//! Usage: cargo run --example bench_sessions -- STORE_DIR
//! Prints one JSON line: fork_ms (median of 9), diff_ms and merge_ms
//! (medians of 9), and the files in main.

use std::sync::Arc;
use std::time::Instant;

use cortex::ids::InodeNo;
use cortex::session::{self, MergeOptions};
use cortex::store::{OpenOptions, Store, StoreLocation, View};
use cortex::vfs::{Caller, Vfs, VfsConfig};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Sessions listed at once.
const SESSIONS: usize = 1000;

#[tokio::main]
async fn main() {
    let dir = std::env::args().nth(1).expect("usage: bench_sessions STORE_DIR");
    let location = StoreLocation::Embedded(dir.into());
    let store = Store::open(&location, OpenOptions::default()).await.expect("the store opens");
    let files = store.history().head().await.unwrap().files;

    let mut fork = Vec::new();
    for i in 0..9 {
        let name: cortex::ids::SessionName = format!("fork-{i}").parse().unwrap();
        let started = Instant::now();
        store.sessions().create_session(&name, &View::Main).await.unwrap();
        fork.push(started.elapsed().as_secs_f64() * 1000.0);
        store.sessions().remove_session(&name).await.unwrap();
    }

    // A session that changes 10 files (new ones, in the tree's first
    // directory and at the top).
    store.sessions().create_session(&"ten".parse().unwrap(), &View::Main).await.unwrap();
    let view = Arc::new(store.sessions().session(&"ten".parse().unwrap()).await.unwrap());
    let me = Caller { uid: 0, gid: 0 };
    let vfs = Vfs::load(
        view.clone(),
        VfsConfig { uid: 0, gid: 0, read_only: false, content_cache: 256 << 20 },
    )
    .await
    .unwrap();
    for i in 0..10 {
        let f =
            vfs.create(InodeNo::ROOT, format!("changed-{i}.txt").as_bytes(), 0o644, me).unwrap();
        vfs.write(f.ino, 0, format!("change {i}\n").as_bytes()).await.unwrap();
    }
    vfs.flush().await.unwrap();
    drop(vfs);

    let mut diff = Vec::new();
    let mut merge = Vec::new();
    let main = store.main().await.unwrap();
    for _ in 0..9 {
        let started = Instant::now();
        let d = session::diff(&store, &"ten".parse().unwrap(), false).await.unwrap();
        diff.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(d.len(), 10);
        let started = Instant::now();
        let m = session::merge(
            &main,
            &"ten".parse().unwrap(),
            MergeOptions { dry_run: true, ..Default::default() },
        )
        .await
        .unwrap();
        merge.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(m.taken.len(), 10);
    }
    store.sessions().remove_session(&"ten".parse().unwrap()).await.unwrap();

    // `session list` at 1,000 sessions none of which was used yet: the
    // first listing and the next (neither sets a session up).
    for i in 0..SESSIONS {
        let name: cortex::ids::SessionName = format!("many-{i}").parse().unwrap();
        store.sessions().create_session(&name, &View::Main).await.unwrap();
    }
    let mut list = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        let listed = session::list(&store).await.unwrap();
        list.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(listed.len(), SESSIONS);
    }
    let started = Instant::now();
    let who = session::who(&store, None).await.unwrap();
    let who_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(who.editing.is_empty(), "no session changed anything");
    println!(
        "{}",
        serde_json::json!({
            "files": files,
            "fork_ms": median(fork),
            "diff_ms": median(diff),
            "merge_ms": median(merge),
            "list_first_ms": list[0],
            "list_again_ms": list[1],
            "who_ms": who_ms,
        })
    );
    drop(view);
    store.close().await;
}
