//! Helpers shared by the suites: a store of the engine under test, trees
//! written to disk, and a faithful picture of a directory to compare.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cortex::import::{ImportOptions, ImportReport, NoProgress};
use cortex::store::{OpenOptions, Store, StoreLocation};

/// A store of the engine under test, with whatever keeps it alive.
pub struct TestStore {
    pub store: Store,
    pub dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// `mem://` normally; SurrealKV in a temporary directory when
/// CORTEX_TEST_ENGINE=surrealkv; a database of a SurrealDB server when
/// CORTEX_TEST_ENGINE=server.
/// A session's name, for tests (a bad one is a bug in the test).
pub fn sn(name: &str) -> cortex::ids::SessionName {
    name.parse().expect("a test's session name")
}

pub async fn store() -> TestStore {
    match std::env::var("CORTEX_TEST_ENGINE").as_deref() {
        Ok("surrealkv") => {
            let dir = tempfile::tempdir().unwrap();
            let location = StoreLocation::Embedded(dir.path().join(".cortex"));
            let store =
                Store::open(&location, OpenOptions { create: true, ..OpenOptions::default() })
                    .await
                    .unwrap();
            TestStore { store, dir: Some(dir) }
        }
        // A SurrealDB server (scripts/surreal.sh starts one): a database of
        // its own per test, credentials from CORTEX_DB_USER / CORTEX_DB_PASS.
        Ok("server") => {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let server = std::env::var("CORTEX_TEST_SERVER")
                .expect("CORTEX_TEST_ENGINE=server needs CORTEX_TEST_SERVER (ws://127.0.0.1:PORT)");
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let url = format!("{server}/t{}_{n}", std::process::id());
            let location = StoreLocation::parse(&url).unwrap();
            // One database made at a time: a SurrealKV-backed server made
            // concurrently defined databases of one namespace inconsistently
            // ("the table 'ref' does not exist" right after the migration
            // defined it; README, "A SurrealDB server").
            static OPENING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
            let _one = OPENING.lock().await;
            let store =
                Store::open(&location, OpenOptions { create: true, ..OpenOptions::default() })
                    .await
                    .unwrap();
            TestStore { store, dir: None }
        }
        Ok("mem") | Err(_) => TestStore { store: Store::memory().await.unwrap(), dir: None },
        Ok(other) => panic!("unknown CORTEX_TEST_ENGINE {other:?}: use mem, surrealkv or server"),
    }
}

pub async fn import(store: &Store, dir: &Path) -> ImportReport {
    let options = ImportOptions { source: "import".into(), ..Default::default() };
    cortex::import::import(store, dir, &options, Arc::new(NoProgress)).await.unwrap()
}

/// What a directory holds, as exactly as export promises to keep it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    File {
        data: Vec<u8>,
        mode: u32,
        mtime: (i64, i64),
    },
    Dir {
        mode: u32,
    },
    Symlink {
        target: Vec<u8>,
    },
    /// A FIFO, socket or device: its `S_IFMT` type, permission bits, rdev.
    Special {
        kind: u32,
        mode: u32,
        rdev: u64,
    },
}

/// Reads every entry below `root` (not following symlinks), by relative path.
pub fn picture(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().as_os_str().as_bytes().to_vec();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let node = if meta.is_dir() {
                stack.push(path.clone());
                Node::Dir { mode: meta.mode() & 0o7777 }
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                Node::Symlink { target: target.as_os_str().as_bytes().to_vec() }
            } else if !meta.is_file() {
                let kind = meta.mode() & libc::S_IFMT;
                Node::Special { kind, mode: meta.mode() & 0o7777, rdev: meta.rdev() }
            } else {
                Node::File {
                    data: std::fs::read(&path).unwrap(),
                    mode: meta.mode() & 0o7777,
                    mtime: (meta.mtime(), meta.mtime_nsec()),
                }
            };
            out.insert(rel, node);
        }
    }
    out
}

/// Writes `data` at `root/rel`, creating parents.
pub fn write(root: &Path, rel: &str, data: &[u8]) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, data).unwrap();
    path
}

pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn raw(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// A small tree with the awkward cases: spaces, unicode and non-UTF-8 names,
/// empty files and directories, binary content, exec bits, symlinks inside
/// and out of the tree, deep nesting, a large (chunked) file.
pub fn awkward_tree(root: &Path) {
    write(root, "src/lib.rs", b"pub fn add(a: i32, b: i32) -> i32 { a + b }\n");
    write(root, "src/main.rs", b"fn main() { println!(\"hi\"); }\n");
    write(root, "name with spaces.txt", b"spaces\n");
    write(root, "\u{00e9}t\u{00e9}/caf\u{00e9} \u{2603}.md", "unicode \u{2603}\n".as_bytes());
    write(root, "empty", b"");
    write(root, "bin/blob.bin", &(0..=255u8).cycle().take(70_000).collect::<Vec<_>>());
    let exe = write(root, "bin/run.sh", b"#!/bin/sh\necho run\n");
    chmod(&exe, 0o755);
    let ro = write(root, "readonly.txt", b"read only\n");
    chmod(&ro, 0o444);
    std::fs::create_dir_all(root.join("empty-dir/nested-empty")).unwrap();
    write(root, "a/b/c/d/e/f/g/h/deep.txt", b"deep\n");
    let odd = root.join(raw(b"latin1-\xe9\xff"));
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::write(odd.join(raw(b"f\xfe.txt")), b"non-utf8 names\n").unwrap();
    std::os::unix::fs::symlink("src/lib.rs", root.join("link-to-lib")).unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", root.join("link-out")).unwrap();
    std::os::unix::fs::symlink("does-not-exist", root.join("dangling")).unwrap();
    // A FIFO and a character device node (the tests run as root).
    let special = |name: &str, mode: u32, rdev: libc::dev_t| {
        let c = std::ffi::CString::new(root.join(name).to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mknod(c.as_ptr(), mode, rdev) }, 0, "mknod {name}");
    };
    special("pipe", libc::S_IFIFO | 0o640, 0);
    special("null-dev", libc::S_IFCHR | 0o600, libc::makedev(1, 3));
    // Larger than one chunk (1 MiB), with a tail that is not a whole chunk.
    let big: Vec<u8> = (0..(2 * 1024 * 1024 + 12345)).map(|i: u32| (i * 7 % 251) as u8).collect();
    write(root, "big/large.dat", &big);
}

/// The whole code graph as sorted lines: units, then edges by kind.
pub async fn graph_dump(store: &Store) -> Vec<String> {
    use cortex::graph::resolve::EdgeKind;
    let units = store.graph().units_under("").await.unwrap();
    let ids: Vec<String> = units.iter().map(|u| u.id.clone()).collect();
    let mut out: Vec<String> = units
        .iter()
        .map(|u| {
            format!("unit {} {} {}-{} {:?}", u.id, u.kind, u.start_line, u.end_line, u.signature)
        })
        .collect();
    for kind in EdgeKind::ALL {
        // Every edge is found from both ends.
        let from = store.graph().edges_of(kind, &ids, false).await.unwrap();
        let into = store.graph().edges_of(kind, &ids, true).await.unwrap();
        assert_eq!(from, into, "{} edges from their sources and targets", kind.as_str());
        for e in from {
            out.push(format!("{} {} -> {} ({})", kind.as_str(), e.from, e.to, e.confidence));
        }
    }
    out.sort();
    out
}
