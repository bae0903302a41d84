//! The VFS core without FUSE: operations, errnos, flush, and a reference
//! model that runs random operations on the VFS and on a real directory.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use cortex::export::{ExportOptions, export};
use cortex::ids::InodeNo;
use cortex::store::Store;
use cortex::tree::Timestamp;
use cortex::vfs::{
    CONTENT_CACHE_DEFAULT, Caller, FileKind, Invalidation, RenameMode, SetAttr, TimeSet, Vfs,
    VfsConfig, XattrMode,
};
use proptest::prelude::*;

use crate::common::{self, Node, picture, write};

const ME: Caller = Caller { uid: 1000, gid: 1000 };
const CONFIG: VfsConfig =
    VfsConfig { uid: 1000, gid: 1000, read_only: false, content_cache: CONTENT_CACHE_DEFAULT };

async fn vfs_of(store: Store, tree: Option<&std::path::Path>) -> (Arc<Store>, Vfs) {
    if let Some(dir) = tree {
        common::import(&store, dir).await;
    }
    let store = Arc::new(store);
    let vfs = Vfs::load(store.clone(), CONFIG).await.unwrap();
    (store, vfs)
}

/// Resolves a `/`-separated path to an inode.
fn resolve(vfs: &Vfs, path: &str) -> Result<InodeNo, i32> {
    let mut ino = InodeNo::ROOT;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        ino = vfs.lookup(ino, part.as_bytes()).map_err(|e| e.errno)?.ino;
    }
    Ok(ino)
}

/// Resolves like the kernel: symlinks in the middle are followed, and the
/// last one too when `follow_last`. Returns the parent directory, the final
/// name, and the inode it names (if any).
fn walk(
    vfs: &Vfs,
    path: &str,
    follow_last: bool,
) -> Result<(InodeNo, Vec<u8>, Option<InodeNo>), i32> {
    let mut pending: Vec<Vec<u8>> =
        path.split('/').filter(|p| !p.is_empty()).rev().map(|p| p.as_bytes().to_vec()).collect();
    let mut dir = InodeNo::ROOT;
    let mut hops = 0;
    loop {
        let name = pending.pop().ok_or(libc::EINVAL)?;
        let last = pending.is_empty();
        let found = match vfs.lookup(dir, &name) {
            Ok(attr) => Some(attr),
            Err(err) if err.errno == libc::ENOENT && last => None,
            Err(err) => return Err(err.errno),
        };
        match found {
            Some(attr) if attr.kind == FileKind::Symlink && (!last || follow_last) => {
                hops += 1;
                if hops > 40 {
                    return Err(libc::ELOOP);
                }
                let target = vfs.readlink(attr.ino).unwrap();
                for part in target.split(|&b| b == b'/').filter(|p| !p.is_empty()).rev() {
                    pending.push(part.to_vec());
                }
            }
            Some(attr) if last => return Ok((dir, name, Some(attr.ino))),
            Some(attr) if attr.kind == FileKind::Dir => dir = attr.ino,
            Some(_) => return Err(libc::ENOTDIR),
            None => return Ok((dir, name, None)),
        }
    }
}

async fn exported(store: &Store, vfs: &Vfs) -> std::collections::BTreeMap<Vec<u8>, Node> {
    vfs.flush().await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let head = store.history().head().await.unwrap();
    export(store, head.root, out.path(), ExportOptions::default()).await.unwrap();
    picture(out.path())
}

#[tokio::test]
async fn reads_what_was_imported() {
    let src = tempfile::tempdir().unwrap();
    common::awkward_tree(src.path());
    let (_store, vfs) = vfs_of(common::store().await.store, Some(src.path())).await;

    let lib = resolve(&vfs, "src/lib.rs").unwrap();
    let attr = vfs.getattr(lib).unwrap();
    assert_eq!(attr.kind, FileKind::File);
    assert_eq!((attr.uid, attr.gid), (1000, 1000));
    let want = std::fs::read(src.path().join("src/lib.rs")).unwrap();
    assert_eq!(attr.size, want.len() as u64);
    assert_eq!(vfs.read(lib, 0, 4096).await.unwrap(), want);
    assert_eq!(vfs.read(lib, 4, 3).await.unwrap(), &want[4..7]);
    assert!(vfs.read(lib, 10_000, 10).await.unwrap().is_empty());

    let big = resolve(&vfs, "big/large.dat").unwrap();
    let data = vfs.read(big, 1_000_000, 100_000).await.unwrap();
    assert_eq!(
        data,
        &std::fs::read(src.path().join("big/large.dat")).unwrap()[1_000_000..1_100_000]
    );

    let link = resolve(&vfs, "link-to-lib").unwrap();
    assert_eq!(vfs.readlink(link).unwrap(), b"src/lib.rs");
    assert_eq!(vfs.getattr(resolve(&vfs, "bin/run.sh").unwrap()).unwrap().mode, 0o755);

    let names: Vec<String> = vfs
        .readdir(resolve(&vfs, "src").unwrap())
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.name).unwrap())
        .collect();
    assert_eq!(names, [".", "..", "lib.rs", "main.rs"]);
    assert_eq!(resolve(&vfs, "src/nope"), Err(libc::ENOENT));
    assert_eq!(resolve(&vfs, "src/lib.rs/x"), Err(libc::ENOTDIR));
    // Inode numbers are stable for a path.
    assert_eq!(resolve(&vfs, "src/lib.rs").unwrap(), lib);
}

#[tokio::test]
async fn writes_flush_to_a_new_snapshot_of_main() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "keep.txt", b"kept\n");
    write(src.path(), "edit.txt", b"0123456789");
    let (store, vfs) = vfs_of(common::store().await.store, Some(src.path())).await;
    let before = store.history().head().await.unwrap();

    assert!(vfs.flush().await.unwrap().is_none(), "nothing to flush yet");
    let dir = vfs.mkdir(InodeNo::ROOT, b"new", 0o750, ME).unwrap();
    let f = vfs.create(dir.ino, b"file.rs", 0o644, ME).unwrap();
    assert_eq!(vfs.write(f.ino, 0, b"fn main() {}\n").await.unwrap(), 13);
    let edit = resolve(&vfs, "edit.txt").unwrap();
    vfs.write(edit, 3, b"XY").await.unwrap();
    vfs.write(edit, 12, b"!").await.unwrap(); // past the end: a hole of zeros
    assert_eq!(vfs.read(edit, 0, 100).await.unwrap(), b"012XY56789\0\0!");
    vfs.symlink(InodeNo::ROOT, b"ln", b"new/file.rs", ME).unwrap();

    let snap = vfs.flush().await.unwrap().expect("a snapshot");
    assert_eq!(snap.parent, Some(before.id));
    assert_eq!((snap.added, snap.modified, snap.deleted), (2, 1, 0));
    assert_eq!(store.history().head().await.unwrap().id, snap.id);
    assert!(!vfs.is_dirty());

    let pic = exported(&store, &vfs).await;
    let Node::File { data, mode, .. } = &pic[&b"new/file.rs".to_vec()] else { panic!() };
    assert_eq!((data.as_slice(), *mode), (&b"fn main() {}\n"[..], 0o644));
    assert_eq!(pic[&b"new".to_vec()], Node::Dir { mode: 0o750 });
    assert_eq!(pic[&b"ln".to_vec()], Node::Symlink { target: b"new/file.rs".to_vec() });

    // A fresh view of the store sees the same.
    let again = Vfs::load(store.clone(), CONFIG).await.unwrap();
    let e = resolve(&again, "edit.txt").unwrap();
    assert_eq!(again.read(e, 0, 100).await.unwrap(), b"012XY56789\0\0!");
}

/// Removals and renames say what the kernel must forget, the inode a
/// rename replaced included, so that no caller works it out.
#[tokio::test]
async fn removals_and_renames_answer_what_they_touched() {
    let (_store, vfs) = vfs_of(common::store().await.store, None).await;
    let root = InodeNo::ROOT;
    let d = vfs.mkdir(root, b"d", 0o755, ME).unwrap();
    let a = vfs.create(root, b"a", 0o644, ME).unwrap();
    let b = vfs.create(d.ino, b"b", 0o644, ME).unwrap();
    let touched = vfs.rename(root, b"a", d.ino, b"b", RenameMode::Replace).unwrap();
    for expected in [
        Invalidation::Entry { parent: root, name: b"a".to_vec() },
        Invalidation::Entry { parent: d.ino, name: b"b".to_vec() },
        Invalidation::Inode(root),
        Invalidation::Inode(d.ino),
        Invalidation::Inode(a.ino),
        Invalidation::Inode(b.ino),
    ] {
        assert!(touched.contains(&expected), "{expected:?} missing from {touched:?}");
    }
    let touched = vfs.unlink(d.ino, b"b").unwrap();
    assert!(touched.contains(&Invalidation::Inode(a.ino)), "{touched:?}");
    assert!(touched.contains(&Invalidation::Entry { parent: d.ino, name: b"b".to_vec() }));
    let touched = vfs.rmdir(root, b"d").unwrap();
    assert!(touched.contains(&Invalidation::Inode(d.ino)), "{touched:?}");
    // A refused change touched nothing, and says so by failing.
    assert!(vfs.unlink(root, b"d").is_err());
}

#[tokio::test]
async fn errnos_of_namespace_operations() {
    let (_store, vfs) = vfs_of(common::store().await.store, None).await;
    let root = InodeNo::ROOT;
    let d = vfs.mkdir(root, b"d", 0o755, ME).unwrap();
    vfs.create(d.ino, b"inner", 0o644, ME).unwrap();
    let f = vfs.create(root, b"f", 0o644, ME).unwrap();
    vfs.mkdir(root, b"e", 0o755, ME).unwrap();

    fn errno<T: std::fmt::Debug>(r: Result<T, cortex::vfs::VfsError>) -> i32 {
        r.unwrap_err().errno
    }
    assert_eq!(vfs.create(root, b"f", 0o644, ME).unwrap_err().errno, libc::EEXIST);
    assert_eq!(vfs.mkdir(root, b"d", 0o755, ME).unwrap_err().errno, libc::EEXIST);
    assert_eq!(vfs.create(root, &[b'x'; 256], 0o644, ME).unwrap_err().errno, libc::ENAMETOOLONG);
    assert_eq!(vfs.create(f.ino, b"x", 0o644, ME).unwrap_err().errno, libc::ENOTDIR);
    assert_eq!(errno(vfs.rmdir(root, b"d")), libc::ENOTEMPTY);
    assert_eq!(errno(vfs.rmdir(root, b"f")), libc::ENOTDIR);
    assert_eq!(errno(vfs.unlink(root, b"d")), libc::EISDIR);
    assert_eq!(errno(vfs.unlink(root, b"missing")), libc::ENOENT);
    assert_eq!(errno(vfs.rename(root, b"d", d.ino, b"sub", RenameMode::Replace)), libc::EINVAL);
    assert_eq!(errno(vfs.rename(root, b"f", root, b"d", RenameMode::Replace)), libc::EISDIR);
    assert_eq!(errno(vfs.rename(root, b"e", root, b"f", RenameMode::Replace)), libc::ENOTDIR);
    assert_eq!(errno(vfs.rename(root, b"e", root, b"d", RenameMode::Replace)), libc::ENOTEMPTY);
    assert_eq!(errno(vfs.rename(root, b"f", root, b"e", RenameMode::NoReplace)), libc::EEXIST);
    assert_eq!(errno(vfs.rename(root, b"f", root, b"zz", RenameMode::Exchange)), libc::ENOENT);
    assert_eq!(vfs.link(d.ino, root, b"dlink").unwrap_err().errno, libc::EPERM);
    assert_eq!(vfs.readlink(f.ino).unwrap_err().errno, libc::EINVAL);
    assert_eq!(vfs.getxattr(f.ino, b"user.none").unwrap_err().errno, libc::ENODATA);

    // Exchange swaps a file and a directory.
    vfs.rename(root, b"f", root, b"d", RenameMode::Exchange).unwrap();
    assert_eq!(vfs.lookup(root, b"f").unwrap().kind, FileKind::Dir);
    assert_eq!(vfs.lookup(root, b"d").unwrap().kind, FileKind::File);
    assert!(vfs.lookup(vfs.lookup(root, b"f").unwrap().ino, b"inner").is_ok());
    // An empty directory may replace another empty one.
    vfs.mkdir(root, b"empty", 0o755, ME).unwrap();
    vfs.rename(root, b"empty", root, b"e", RenameMode::Replace).unwrap();
    assert_eq!(vfs.lookup(root, b"empty").unwrap_err().errno, libc::ENOENT);
    // Directory link counts: root has ., .., and f/ and e/.
    assert_eq!(vfs.getattr(root).unwrap().nlink, 4);
}

#[tokio::test]
async fn hard_links_unlinked_open_files_and_read_only() {
    let (store, vfs) = vfs_of(common::store().await.store, None).await;
    let root = InodeNo::ROOT;
    let f = vfs.create(root, b"a", 0o644, ME).unwrap();
    vfs.write(f.ino, 0, b"shared").await.unwrap();
    let l = vfs.link(f.ino, root, b"b").unwrap();
    assert_eq!((l.ino, l.nlink), (f.ino, 2));
    vfs.unlink(root, b"a").unwrap();
    assert_eq!(vfs.getattr(f.ino).unwrap().nlink, 1);
    vfs.unlink(root, b"b").unwrap();
    // Still open (the kernel holds a reference): readable until forgotten.
    assert_eq!(vfs.read(f.ino, 0, 10).await.unwrap(), b"shared");
    vfs.forget(f.ino, 2);
    assert_eq!(vfs.getattr(f.ino).unwrap_err().errno, libc::ENOENT);

    vfs.flush().await.unwrap();
    let ro = Vfs::load(store.clone(), VfsConfig { read_only: true, ..CONFIG }).await.unwrap();
    assert_eq!(ro.create(root, b"x", 0o644, ME).unwrap_err().errno, libc::EROFS);
    assert_eq!(ro.mkdir(root, b"x", 0o755, ME).unwrap_err().errno, libc::EROFS);
}

#[tokio::test]
async fn attributes_and_xattrs_persist() {
    let (store, vfs) = vfs_of(common::store().await.store, None).await;
    let root = InodeNo::ROOT;
    let f = vfs.create(root, b"f", 0o644, ME).unwrap();
    vfs.write(f.ino, 0, b"0123456789").await.unwrap();
    let t = Timestamp { sec: 1_000_000_000, nsec: 123 };
    let set = SetAttr {
        mode: Some(0o4755),
        uid: Some(0),
        gid: Some(0),
        size: Some(4),
        atime: Some(TimeSet::At(t)),
        mtime: Some(TimeSet::At(t)),
    };
    let attr = vfs.setattr(f.ino, set, ME).await.unwrap();
    assert_eq!((attr.mode, attr.uid, attr.gid, attr.size, attr.mtime), (0o4755, 0, 0, 4, t));
    vfs.setxattr(f.ino, b"user.k", b"v1", XattrMode::Create).unwrap();
    assert_eq!(
        vfs.setxattr(f.ino, b"user.k", b"v", XattrMode::Create).unwrap_err().errno,
        libc::EEXIST
    );
    assert_eq!(
        vfs.setxattr(f.ino, b"user.n", b"v", XattrMode::Replace).unwrap_err().errno,
        libc::ENODATA
    );
    vfs.setxattr(f.ino, b"user.k", b"v2", XattrMode::Replace).unwrap();
    vfs.setxattr(f.ino, b"user.gone", b"", XattrMode::Any).unwrap();
    vfs.removexattr(f.ino, b"user.gone").unwrap();
    vfs.flush().await.unwrap();

    let again = Vfs::load(store, CONFIG).await.unwrap();
    let f2 = again.lookup(root, b"f").unwrap();
    assert_eq!((f2.mode, f2.uid, f2.gid, f2.size, f2.mtime), (0o4755, 0, 0, 4, t));
    assert_eq!(again.read(f2.ino, 0, 100).await.unwrap(), b"0123");
    assert_eq!(again.listxattr(f2.ino).unwrap(), vec![b"user.k".to_vec()]);
    assert_eq!(again.getxattr(f2.ino, b"user.k").unwrap(), b"v2");
    // A write clears setuid.
    again.write(f2.ino, 0, b"x").await.unwrap();
    assert_eq!(again.getattr(f2.ino).unwrap().mode, 0o755);
}

/// One step of the reference model.
#[derive(Clone, Debug)]
enum Op {
    Write(String, Vec<u8>, u16),
    Mkdir(String),
    Unlink(String),
    Rmdir(String),
    Rename(String, String),
    Truncate(String, u16),
    Chmod(String, u32),
    Symlink(String, String),
    Link(String, String),
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..4).prop_map(|v| v.join("/"))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (path(), prop::collection::vec(any::<u8>(), 0..64), 0u16..80).prop_map(|(p, d, o)| Op::Write(p, d, o)),
        2 => path().prop_map(Op::Mkdir),
        1 => path().prop_map(Op::Unlink),
        1 => path().prop_map(Op::Rmdir),
        2 => (path(), path()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (path(), 0u16..100).prop_map(|(p, n)| Op::Truncate(p, n)),
        1 => (path(), prop::sample::select(vec![0o600u32, 0o644, 0o755])).prop_map(|(p, m)| Op::Chmod(p, m)),
        1 => (path(), path()).prop_map(|(a, b)| Op::Symlink(a, b)),
        1 => (path(), path()).prop_map(|(a, b)| Op::Link(a, b)),
    ]
}

/// Applies `op` to a real directory; the errno on failure.
fn apply_real(root: &std::path::Path, op: &Op) -> Result<(), i32> {
    use std::io::{Seek, SeekFrom, Write};
    let p = |s: &str| root.join(s);
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(-1);
    match op {
        Op::Write(path, data, offset) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(p(path))
                .map_err(errno)?;
            f.seek(SeekFrom::Start(*offset as u64)).map_err(errno)?;
            f.write_all(data).map_err(errno)
        }
        Op::Mkdir(path) => std::fs::create_dir(p(path)).map_err(errno),
        Op::Unlink(path) => std::fs::remove_file(p(path)).map_err(errno),
        Op::Rmdir(path) => std::fs::remove_dir(p(path)).map_err(errno),
        Op::Rename(a, b) => std::fs::rename(p(a), p(b)).map_err(errno),
        Op::Truncate(path, n) => {
            let f = std::fs::OpenOptions::new().write(true).open(p(path)).map_err(errno)?;
            f.set_len(*n as u64).map_err(errno)
        }
        Op::Chmod(path, mode) => {
            let meta = std::fs::symlink_metadata(p(path)).map_err(errno)?;
            if meta.file_type().is_symlink() {
                return Ok(()); // chmod follows links; keep the model simple
            }
            std::fs::set_permissions(p(path), std::fs::Permissions::from_mode(*mode)).map_err(errno)
        }
        Op::Symlink(path, target) => std::os::unix::fs::symlink(target, p(path)).map_err(errno),
        Op::Link(a, b) => std::fs::hard_link(p(a), p(b)).map_err(errno),
    }
}

/// Applies `op` to the VFS the way the kernel would.
async fn apply_vfs(vfs: &Vfs, op: &Op) -> Result<(), i32> {
    let e = |e: cortex::vfs::VfsError| e.errno;
    let existing = |path: &str, follow: bool| -> Result<InodeNo, i32> {
        walk(vfs, path, follow)?.2.ok_or(libc::ENOENT)
    };
    let is_dir = |ino: InodeNo| vfs.getattr(ino).unwrap().kind == FileKind::Dir;
    match op {
        Op::Write(path, data, offset) => {
            let (parent, name, found) = walk(vfs, path, true)?;
            let ino = match found {
                Some(ino) => ino,
                None => vfs.create(parent, &name, 0o644, ME).map_err(e)?.ino,
            };
            if is_dir(ino) {
                return Err(libc::EISDIR);
            }
            vfs.write(ino, *offset as u64, data).await.map(|_| ()).map_err(e)
        }
        Op::Mkdir(path) => {
            let (parent, name, _) = walk(vfs, path, false)?;
            vfs.mkdir(parent, &name, 0o755, ME).map(|_| ()).map_err(e)
        }
        Op::Unlink(path) => {
            let (parent, name, _) = walk(vfs, path, false)?;
            vfs.unlink(parent, &name).map(drop).map_err(e)
        }
        Op::Rmdir(path) => {
            let (parent, name, _) = walk(vfs, path, false)?;
            vfs.rmdir(parent, &name).map(drop).map_err(e)
        }
        Op::Rename(a, b) => {
            // The kernel walks both paths before it looks at the names.
            let (pa, na, found) = walk(vfs, a, false)?;
            let (pb, nb, _) = walk(vfs, b, false)?;
            found.ok_or(libc::ENOENT)?;
            vfs.rename(pa, &na, pb, &nb, RenameMode::Replace).map(drop).map_err(e)
        }
        Op::Truncate(path, n) => {
            let ino = existing(path, true)?;
            if is_dir(ino) {
                return Err(libc::EISDIR);
            }
            let set = SetAttr { size: Some(*n as u64), ..SetAttr::default() };
            vfs.setattr(ino, set, ME).await.map(|_| ()).map_err(e)
        }
        Op::Chmod(path, mode) => {
            let ino = existing(path, false)?;
            if vfs.getattr(ino).unwrap().kind == FileKind::Symlink {
                return Ok(());
            }
            let set = SetAttr { mode: Some(*mode), ..SetAttr::default() };
            vfs.setattr(ino, set, ME).await.map(|_| ()).map_err(e)
        }
        Op::Symlink(path, target) => {
            let (parent, name, _) = walk(vfs, path, false)?;
            vfs.symlink(parent, &name, target.as_bytes(), ME).map(|_| ()).map_err(e)
        }
        Op::Link(a, b) => {
            // linkat does not follow `a`; the new name must be free first.
            let ino = existing(a, false)?;
            let (parent, name, found) = walk(vfs, b, false)?;
            if found.is_some() {
                return Err(libc::EEXIST);
            }
            vfs.link(ino, parent, &name).map(|_| ()).map_err(e)
        }
    }
}

/// A picture without times (the two sides write at different instants).
fn timeless(root: &std::path::Path) -> std::collections::BTreeMap<Vec<u8>, Node> {
    picture(root)
        .into_iter()
        .map(|(p, n)| match n {
            Node::File { data, mode, .. } => (p, Node::File { data, mode, mtime: (0, 0) }),
            other => (p, other),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(0x00c0_47e8), ..ProptestConfig::default() })]

    #[test]
    fn vfs_matches_a_real_directory(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (store, vfs) = vfs_of(common::store().await.store, None).await;
            let real = tempfile::tempdir().unwrap();
            for (i, op) in ops.iter().enumerate() {
                let want = apply_real(real.path(), op);
                let got = apply_vfs(&vfs, op).await;
                prop_assert_eq!(got, want, "step {}: {:?}", i, op);
                // Often, so that flushes re-encode only part of the tree.
                if i % 3 == 2 {
                    vfs.flush().await.unwrap();
                }
            }
            let out = tempfile::tempdir().unwrap();
            vfs.flush().await.unwrap();
            let head = store.history().head().await.unwrap();
            export(&store, head.root, out.path(), ExportOptions::default()).await.unwrap();
            let picture = timeless(out.path());
            prop_assert_eq!(&picture, &timeless(real.path()));
            // The incremental counts agree with the tree.
            let leaves = picture.values().filter(|n| !matches!(n, Node::Dir { .. })).count();
            let bytes: usize = picture
                .values()
                .map(|n| if let Node::File { data, .. } = n { data.len() } else { 0 })
                .sum();
            prop_assert_eq!((head.files, head.bytes), (leaves as u64, bytes as u64));
            Ok(())
        })?;
    }
}

/// Reading more than the content cache holds keeps it within its budget,
/// what it let go reads back the same, and writes to such a file lose
/// nothing.
#[tokio::test]
async fn the_content_cache_stays_within_its_budget() {
    const FILES: usize = 20;
    const SIZE: usize = 1000;
    const BUDGET: u64 = 4 * SIZE as u64;
    let tree = tempfile::tempdir().unwrap();
    let text = |i: usize| format!("{i:04}").repeat(SIZE / 4);
    for i in 0..FILES {
        write(tree.path(), &format!("f{i}.txt"), text(i).as_bytes());
    }
    let store = common::store().await;
    common::import(&store, tree.path()).await;
    let store = Arc::new(store.store);
    let config = VfsConfig { content_cache: BUDGET, ..CONFIG };
    let vfs = Vfs::load(store.clone(), config).await.unwrap();
    for round in 0..2 {
        for i in 0..FILES {
            let ino = resolve(&vfs, &format!("f{i}.txt")).unwrap();
            let read = vfs.read(ino, 0, SIZE as u32 * 2).await.unwrap();
            assert_eq!(read, text(i).as_bytes(), "round {round}, file {i}");
            let cache = vfs.content_cache();
            assert!(cache.held <= cache.budget, "{cache:?}");
        }
    }
    // The first file was let go long ago: a write to it still starts from
    // its content.
    let ino = resolve(&vfs, "f0.txt").unwrap();
    vfs.write(ino, 0, b"XY").await.unwrap();
    let read = vfs.read(ino, 0, SIZE as u32).await.unwrap();
    assert_eq!(read, [b"XY".as_slice(), &text(0).as_bytes()[2..]].concat());
    vfs.flush().await.unwrap();
    let cache = vfs.content_cache();
    assert!(cache.held <= cache.budget, "after a flush: {cache:?}");
    // Two rounds of 20 files with room for 4: every read went to the store
    // (the oldest goes first), and so did the write's load of f0; the read
    // after the write found it in memory.
    assert_eq!((cache.misses, cache.hits), (2 * FILES as u64 + 1, 1), "{cache:?}");

    // A budget smaller than one file: each content goes as soon as it is
    // read, and a write still finds the bytes it loaded.
    let config = VfsConfig { content_cache: SIZE as u64 / 10, ..CONFIG };
    let tiny = Vfs::load(store.clone(), config).await.unwrap();
    let ino = resolve(&tiny, "f1.txt").unwrap();
    assert_eq!(tiny.read(ino, 0, SIZE as u32).await.unwrap(), text(1).as_bytes());
    assert_eq!(tiny.content_cache().held, 0);
    tiny.write(ino, 4, b"Z").await.unwrap();
    let expected = [&text(1).as_bytes()[..4], b"Z", &text(1).as_bytes()[5..]].concat();
    assert_eq!(tiny.read(ino, 0, SIZE as u32).await.unwrap(), expected);
}

/// The first read of a file from the store brings the small files after it
/// in its directory along, then its subdirectories' (a top-down walk reads
/// them next): reading them next costs no store query. Files too large for
/// the read-ahead, files written since, and other directories' files are
/// left alone.
#[tokio::test]
async fn a_read_from_the_store_reads_its_neighbours_ahead() {
    let tree = tempfile::tempdir().unwrap();
    let text = |i: usize| format!("file {i}\n").repeat(20);
    for i in 0..10 {
        write(tree.path(), &format!("d/f{i}.txt"), text(i).as_bytes());
    }
    let big = vec![b'x'; 3 << 20];
    write(tree.path(), "d/f5big.bin", &big);
    write(tree.path(), "e/other.txt", b"elsewhere\n");
    write(tree.path(), "d/sub/deeper/g.txt", b"below\n");
    write(tree.path(), "d/sub/h.txt", b"below too\n");
    let (_store, vfs) = vfs_of(common::store().await.store, Some(tree.path())).await;
    // A write before any read: f7 holds what was written, not the store's.
    let f7 = resolve(&vfs, "d/f7.txt").unwrap();
    vfs.write(f7, 0, b"EDITED").await.unwrap();
    let misses = vfs.content_cache().misses;

    let f0 = resolve(&vfs, "d/f0.txt").unwrap();
    assert_eq!(vfs.read(f0, 0, 4096).await.unwrap(), text(0).as_bytes());
    assert_eq!(vfs.content_cache().misses, misses + 1);
    for i in (1..10).filter(|&i| i != 7) {
        let ino = resolve(&vfs, &format!("d/f{i}.txt")).unwrap();
        assert_eq!(vfs.read(ino, 0, 4096).await.unwrap(), text(i).as_bytes(), "f{i}");
    }
    let edited = [b"EDITED".as_slice(), &text(7).as_bytes()[6..]].concat();
    assert_eq!(vfs.read(f7, 0, 4096).await.unwrap(), edited);
    for (path, text) in [("d/sub/h.txt", "below too\n"), ("d/sub/deeper/g.txt", "below\n")] {
        let ino = resolve(&vfs, path).unwrap();
        assert_eq!(vfs.read(ino, 0, 64).await.unwrap(), text.as_bytes(), "{path}");
    }
    let cache = vfs.content_cache();
    assert_eq!(cache.misses, misses + 1, "the neighbours came with f0: {cache:?}");

    // Larger than the read-ahead's room: read on its own, and whole.
    let ino = resolve(&vfs, "d/f5big.bin").unwrap();
    assert_eq!(vfs.read(ino, 0, 16).await.unwrap(), &big[..16]);
    assert_eq!(vfs.content_cache().misses, misses + 2);
    // Another directory's file was not read ahead.
    let ino = resolve(&vfs, "e/other.txt").unwrap();
    assert_eq!(vfs.read(ino, 0, 64).await.unwrap(), b"elsewhere\n");
    assert_eq!(vfs.content_cache().misses, misses + 3);
}

#[tokio::test]
async fn refresh_follows_main_and_keeps_inode_numbers() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.txt", b"one\n");
    write(src.path(), "gone/b.txt", b"bye\n");
    let (store, vfs) = vfs_of(common::store().await.store, Some(src.path())).await;
    let a = resolve(&vfs, "a.txt").unwrap();
    assert_eq!(vfs.read(a, 0, 100).await.unwrap(), b"one\n");
    let gone = resolve(&vfs, "gone/b.txt").unwrap();
    // Written through the mount and not flushed: survives the refresh.
    let mine = vfs.create(InodeNo::ROOT, b"mine.txt", 0o644, ME).unwrap();
    vfs.write(mine.ino, 0, b"local\n").await.unwrap();
    vfs.flush().await.unwrap();
    vfs.write(mine.ino, 0, b"LOCAL\n").await.unwrap();

    // Main moves underneath: an import of a changed tree.
    write(src.path(), "a.txt", b"two\n");
    std::fs::remove_dir_all(src.path().join("gone")).unwrap();
    write(src.path(), "new/c.txt", b"new\n");
    write(src.path(), "mine.txt", b"local\n");
    common::import(&store, src.path()).await;

    let invalidations = vfs.refresh().await.unwrap();
    assert!(invalidations.contains(&cortex::vfs::Invalidation::Inode(a)), "{invalidations:?}");
    assert!(invalidations.contains(&cortex::vfs::Invalidation::Entry {
        parent: InodeNo::ROOT,
        name: b"gone".to_vec()
    }));
    assert_eq!(resolve(&vfs, "a.txt").unwrap(), a, "same path, same inode");
    assert_eq!(vfs.read(a, 0, 100).await.unwrap(), b"two\n");
    assert_eq!(resolve(&vfs, "gone"), Err(libc::ENOENT));
    // The kernel still held the removed file: it stays readable until forgotten.
    assert_eq!(vfs.read(gone, 0, 100).await.unwrap(), b"bye\n");
    assert_eq!(vfs.read(resolve(&vfs, "new/c.txt").unwrap(), 0, 9).await.unwrap(), b"new\n");
    assert_eq!(vfs.read(mine.ino, 0, 100).await.unwrap(), b"LOCAL\n");
    assert!(vfs.is_dirty());
    vfs.flush().await.unwrap();
    assert_eq!(vfs.head().id, store.history().head().await.unwrap().id);
}

/// Main moves while a view holds writes (a merge committed meanwhile): the
/// view's flush is refused, nothing is lost, and after a refresh the writes
/// (new files and removals included) land over the new main, which keeps
/// its own change.
#[tokio::test]
async fn writes_survive_a_moved_main_and_flush_over_it() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.txt", b"one\n");
    write(src.path(), "d/old.txt", b"old\n");
    let (store, vfs) = vfs_of(common::store().await.store, Some(src.path())).await;
    let new = vfs.create(InodeNo::ROOT, b"new.txt", 0o644, ME).unwrap();
    vfs.write(new.ino, 0, b"created here\n").await.unwrap();
    vfs.write(resolve(&vfs, "a.txt").unwrap(), 0, b"ONE\n").await.unwrap();
    vfs.unlink(resolve(&vfs, "d").unwrap(), b"old.txt").unwrap();

    // Another view commits first.
    let other = Vfs::load(store.clone(), CONFIG).await.unwrap();
    let theirs = other.create(InodeNo::ROOT, b"theirs.txt", 0o644, ME).unwrap();
    other.write(theirs.ino, 0, b"from elsewhere\n").await.unwrap();
    other.flush().await.unwrap().expect("a snapshot");

    // The flush finds main moved: it catches up, keeping this view's
    // writes over the new head, and commits them (an fsync racing a merge
    // succeeds). What the kernel must forget goes to the next refresh.
    vfs.flush().await.unwrap().expect("a snapshot");
    assert_eq!(vfs.read(new.ino, 0, 100).await.unwrap(), b"created here\n");
    let forget = vfs.refresh().await.unwrap();
    let told = |n: &[u8]| {
        forget.iter().any(|i| matches!(i, Invalidation::Entry { name, .. } if name.as_slice() == n))
    };
    assert!(told(b"theirs.txt"), "{forget:?}");

    let head = store.history().head().await.unwrap();
    let read = async |path: &str| {
        cortex::snapshot::read_file(&store, head.root, path.as_bytes()).await.ok()
    };
    assert_eq!(read("new.txt").await.unwrap(), b"created here\n");
    assert_eq!(read("a.txt").await.unwrap(), b"ONE\n");
    assert_eq!(read("d/old.txt").await, None);
    assert_eq!(read("theirs.txt").await.unwrap(), b"from elsewhere\n");
    assert!(!vfs.is_dirty());
}

/// A file over `LARGE` is read and written by chunk: random writes,
/// truncations and growths past the end, flushed and read back from a
/// fresh view, give the same bytes as a plain buffer, and the store holds
/// exactly those bytes under their blake3 hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_are_written_and_read_by_chunk() {
    let (store, vfs) = vfs_of(common::store().await.store, None).await;
    let ino = vfs.create(InodeNo::ROOT, b"big.bin", 0o644, ME).unwrap().ino;
    let mut model: Vec<u8> = Vec::new();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mib = 1u64 << 20;
    for step in 0..60 {
        match next(10) {
            0 => {
                let size = next(24 * mib);
                vfs.setattr(ino, SetAttr { size: Some(size), ..SetAttr::default() }, ME)
                    .await
                    .unwrap();
                model.resize(size as usize, 0);
            }
            1 | 2 => {
                vfs.flush().await.unwrap();
            }
            _ => {
                let offset = next(20 * mib);
                let len = 1 + next(3 * mib) as usize;
                let data: Vec<u8> = (0..len).map(|i| (i as u64 ^ step) as u8).collect();
                let mut at = 0;
                while at < len {
                    let end = (at + (128 << 10)).min(len);
                    vfs.write(ino, offset + at as u64, &data[at..end]).await.unwrap();
                    at = end;
                }
                let end = offset as usize + len;
                if model.len() < end {
                    model.resize(end, 0);
                }
                model[offset as usize..end].copy_from_slice(&data);
            }
        }
        assert_eq!(vfs.getattr(ino).unwrap().size, model.len() as u64, "step {step}");
        let at = next(model.len().max(1) as u64);
        let got = vfs.read(ino, at, 100_000).await.unwrap();
        let end = (at as usize + 100_000).min(model.len());
        assert_eq!(got, model[at as usize..end.max(at as usize)], "step {step} read at {at}");
    }
    vfs.flush().await.unwrap();
    // A fresh view reads it back from the store, chunk by chunk.
    let again = Vfs::load(store.clone(), CONFIG).await.unwrap();
    let ino = resolve(&again, "big.bin").unwrap();
    let mut back = Vec::new();
    while (back.len() as u64) < model.len() as u64 {
        let piece = again.read(ino, back.len() as u64, 128 << 10).await.unwrap();
        assert!(!piece.is_empty());
        back.extend_from_slice(&piece);
    }
    assert!(back == model, "read back differs");
    let head = store.history().head().await.unwrap();
    let stored = cortex::snapshot::read_file(&store, head.root, b"big.bin").await.unwrap();
    assert!(stored == model, "the store holds other bytes");
}

/// A sparse file of gigabytes costs nothing until written, and is saved
/// as chunks of zeros stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparse_files_hold_no_memory_and_store_one_zero_chunk() {
    let (store, vfs) = vfs_of(common::store().await.store, None).await;
    let ino = vfs.create(InodeNo::ROOT, b"sparse", 0o644, ME).unwrap().ino;
    let size = 3u64 << 30;
    vfs.setattr(ino, SetAttr { size: Some(size), ..SetAttr::default() }, ME).await.unwrap();
    vfs.write(ino, size - 4, b"tail").await.unwrap();
    assert_eq!(vfs.read(ino, 1 << 30, 8).await.unwrap(), vec![0; 8]);
    let chunks_before = store.objects().count_objects("chunk").await.unwrap();
    vfs.flush().await.unwrap();
    // 3,072 chunks: all but the last are the one chunk of zeros.
    assert_eq!(store.objects().count_objects("chunk").await.unwrap() - chunks_before, 2);
    let again = Vfs::load(store.clone(), CONFIG).await.unwrap();
    let ino = resolve(&again, "sparse").unwrap();
    assert_eq!(again.getattr(ino).unwrap().size, size);
    assert_eq!(again.read(ino, size - 6, 100).await.unwrap(), b"\0\0tail");
    let e = again
        .setattr(ino, SetAttr { size: Some(1 << 40), ..SetAttr::default() }, ME)
        .await
        .unwrap_err();
    assert_eq!(e.errno, libc::EFBIG);
}
