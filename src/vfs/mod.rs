//! The VFS core: a mounted view of main, in memory, knowing nothing of FUSE.
//!
//! A view is loaded once from a snapshot: every directory, name and
//! attribute goes into memory, so that lookups, `stat` and `readdir` never
//! wait on the store (DESIGN.md: the read path never waits on the database).
//! File contents are fetched on first read and kept. Writes change memory
//! only; `flush` (called on fsync and by the daemon's timer) writes the new
//! contents and trees to the store and commits them as the next snapshot of
//! main, so the store always holds a whole tree and a crash loses at most
//! what was written since the last flush, never consistency.
//!
//! Every operation returns a `VfsError` carrying its errno. The FUSE layer
//! in `mountd/` only translates; tests drive this module directly.

mod chunks;
mod error;
mod large;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

pub use error::{VfsError, VfsResult};
use large::{Fetched, Large, Sealed};

use crate::ids::{ContentHash, InodeNo};
use crate::snapshot;
use crate::store::{ChangeOp, NewSnapshot, Snapshot, Store};
use crate::tree::{Entry, EntryKind, MODE_MASK, SpecialKind, Timestamp, Tree};
use crate::vfs_err;

/// The longest file name accepted, as on ext4.
pub const NAME_MAX: usize = 255;

/// The largest file a view holds (EFBIG beyond it). A large file is held
/// by chunk ([`LARGE`]) and a hole costs no memory, but a file's hash
/// covers every byte, holes too: 64 GiB of hole cost 20 s of hashing the
/// first time the file is flushed (then 32 bytes a chunk), and its chunk
/// list in the store is 4 MiB.
pub const FILE_SIZE_MAX: u64 = 64 << 30;

/// Files over this size are held by 1 MiB chunk (`large.rs`): only what
/// reads and writes touch is in memory. Smaller ones are held whole once
/// read or written.
pub const LARGE: u64 = 4 << 20;

/// Resizes a (small) file's bytes to `size`, failing with ENOMEM (not
/// aborting the process) when the memory is not there.
fn resize(bytes: &mut Vec<u8>, size: u64) -> VfsResult<()> {
    let size = usize::try_from(size).map_err(|_| vfs_err!(libc::EFBIG, "file size {size}"))?;
    if size > bytes.len() {
        bytes
            .try_reserve_exact(size - bytes.len())
            .map_err(|_| vfs_err!(libc::ENOMEM, "no memory for a file of {size} bytes"))?;
    }
    bytes.resize(size, 0);
    Ok(())
}

/// Who is asking: the uid and gid of the calling process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
}

/// How a view is mounted.
#[derive(Clone, Copy, Debug)]
pub struct VfsConfig {
    /// Owner shown for entries that never had one set (the mounting user).
    pub uid: u32,
    pub gid: u32,
    pub read_only: bool,
}

/// What an inode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Special(SpecialKind),
}

/// An inode's attributes, as `stat` shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: InodeNo,
    pub kind: FileKind,
    pub size: u64,
    /// Permission bits (`MODE_MASK`).
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    /// Device number of a device node.
    pub rdev: u64,
}

/// One name in a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: InodeNo,
    pub kind: FileKind,
    pub name: Vec<u8>,
}

/// A time to set: now, or a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSet {
    Now,
    At(Timestamp),
}

/// The changes of a `setattr`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeSet>,
    pub mtime: Option<TimeSet>,
}

/// How `rename` treats an existing target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameMode {
    /// Replace it (plain rename).
    Replace,
    /// Fail with EEXIST (RENAME_NOREPLACE).
    NoReplace,
    /// Swap the two (RENAME_EXCHANGE); both must exist.
    Exchange,
}

/// Filesystem-wide figures for `statfs`.
#[derive(Clone, Copy, Debug)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
}

/// Something the kernel may have cached that changed under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// The name `name` in directory `parent`.
    Entry { parent: InodeNo, name: Vec<u8> },
    /// An inode's attributes and cached pages.
    Inode(InodeNo),
}

/// How `setxattr` treats an existing attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrMode {
    Any,
    /// XATTR_CREATE: fail if it exists.
    Create,
    /// XATTR_REPLACE: fail if it does not.
    Replace,
}

#[derive(Clone)]
enum Data {
    /// In the store, not yet read.
    Stored { hash: ContentHash, size: u64 },
    /// In memory; `hash` is `None` once written and until flushed.
    Mem { bytes: Arc<Vec<u8>>, hash: Option<ContentHash> },
    /// Over [`LARGE`]: by chunk, read and written in place.
    Large(Box<Large>),
}

impl Data {
    fn size(&self) -> u64 {
        match self {
            Data::Stored { size, .. } => *size,
            Data::Mem { bytes, .. } => bytes.len() as u64,
            Data::Large(large) => large.size(),
        }
    }
}

/// A content a flush writes: whole, or (a large file) by chunk.
enum ContentWrite {
    Whole(ContentHash, Arc<Vec<u8>>),
    Chunked(Sealed),
}

impl ContentWrite {
    fn hash(&self) -> ContentHash {
        match self {
            ContentWrite::Whole(hash, _) => *hash,
            ContentWrite::Chunked(sealed) => sealed.hash,
        }
    }
}

/// How many times an operation on a large file fetches what it needs
/// before giving up (the file keeps changing under it): EAGAIN.
const FETCH_ROUNDS: usize = 8;

#[derive(Clone)]
enum NodeKind {
    Dir { children: BTreeMap<Vec<u8>, InodeNo>, parent: InodeNo },
    File { data: Data },
    Symlink { target: Vec<u8> },
    Special { kind: SpecialKind, rdev: u64 },
}

#[derive(Clone)]
struct Node {
    kind: NodeKind,
    mode: u32,
    owner: Option<(u32, u32)>,
    atime: Timestamp,
    mtime: Timestamp,
    ctime: Timestamp,
    nlink: u32,
    /// References the kernel holds (lookups not yet forgotten).
    lookups: u64,
    /// The directories naming this inode, once per name.
    parents: Vec<InodeNo>,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Node {
    fn file_kind(&self) -> FileKind {
        match self.kind {
            NodeKind::Dir { .. } => FileKind::Dir,
            NodeKind::File { .. } => FileKind::File,
            NodeKind::Symlink { .. } => FileKind::Symlink,
            NodeKind::Special { kind, .. } => FileKind::Special(kind),
        }
    }
}

struct State {
    nodes: HashMap<InodeNo, Node>,
    next_ino: u64,
    /// The snapshot the view was last flushed to (or loaded from).
    head: Snapshot,
    /// Changed since `head`.
    changed: bool,
    /// Directories whose subtree is unchanged since it was last encoded,
    /// with that encoding: a flush re-encodes only the rest. Invariant: a
    /// directory missing here has every ancestor missing too.
    encoded: HashMap<InodeNo, Subtree>,
}

/// What encoding a directory's subtree gave.
#[derive(Clone, Copy, Debug)]
struct Subtree {
    tree: ContentHash,
    /// Files, symlinks and special files below it, and the files' bytes.
    files: u64,
    bytes: u64,
}

/// A mounted view of main.
pub struct Vfs {
    store: Arc<Store>,
    config: VfsConfig,
    state: Mutex<State>,
    /// One flush (or refresh) at a time.
    flushing: tokio::sync::Mutex<()>,
    /// What the kernel must forget after a flush caught up with a moved
    /// main by itself: handed out by the next `refresh` (the daemon
    /// refreshes after everything that moves main).
    stashed: Mutex<Vec<Invalidation>>,
}

impl std::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vfs").field("config", &self.config).finish()
    }
}

impl Vfs {
    /// Loads main's head into memory.
    pub async fn load(store: Arc<Store>, config: VfsConfig) -> VfsResult<Vfs> {
        let head = store.head().await?;
        let entries = snapshot::walk(&store, head.root).await?;
        let root = head.root;
        let state = State::build(head, root, entries, None);
        Ok(Vfs {
            store,
            config,
            state: Mutex::new(state),
            flushing: tokio::sync::Mutex::new(()),
            stashed: Mutex::new(Vec::new()),
        })
    }

    /// Catches up with main after it moved under the view (an import, later
    /// a merge): the view becomes the new head, keeping the inode numbers of
    /// paths that still exist, contents already read, and contents written
    /// through the mount and not yet flushed. Returns what the kernel must
    /// forget from its caches.
    pub async fn refresh(&self) -> VfsResult<Vec<Invalidation>> {
        let _one_at_a_time = self.flushing.lock().await;
        let mut out = std::mem::take(&mut *self.stashed.lock().unwrap_or_else(|p| p.into_inner()));
        out.extend(self.refresh_held().await?);
        out.sort_by_key(|i| format!("{i:?}"));
        out.dedup();
        Ok(out)
    }

    /// `refresh`, the flush lock held by the caller.
    async fn refresh_held(&self) -> VfsResult<Vec<Invalidation>> {
        let new_head = self.store.head().await?;
        let old_head = self.lock().head.clone();
        if new_head.id == old_head.id {
            return Ok(Vec::new());
        }
        // What this view changed and no flush committed yet is carried over:
        // applied over the new head (a path both changed takes this view's
        // version, as a later write would), and flushed next time.
        let edits = self.unflushed_edits(&old_head).await?;
        let root = if edits.is_empty() {
            new_head.root
        } else {
            snapshot::apply(&self.store, new_head.root, &edits).await?
        };
        let entries = snapshot::walk(&self.store, root).await?;
        let changes = snapshot::diff(&self.store, old_head.root, new_head.root).await?;
        let mut state = self.lock();
        let old_paths = state.paths();
        let mut rebuilt = State::build(new_head, root, entries, Some(&state));
        rebuilt.changed |= !edits.is_empty();
        let new_paths = rebuilt.paths();
        let mut out = Vec::new();
        for change in &changes {
            // Every name on the way may have appeared or gone.
            let mut parent = Vec::new();
            for part in change.path.split(|&b| b == b'/') {
                for paths in [&old_paths, &new_paths] {
                    if let Some(&dir) = paths.get(&parent) {
                        out.push(Invalidation::Entry { parent: dir, name: part.to_vec() });
                        // Its cached listing too.
                        out.push(Invalidation::Inode(dir));
                    }
                }
                parent = snapshot::join(&parent, part);
            }
            if let Some(&ino) = old_paths.get(&change.path) {
                out.push(Invalidation::Inode(ino));
            }
        }
        out.sort_by_key(|i| format!("{i:?}"));
        out.dedup();
        *state = rebuilt;
        Ok(out)
    }

    /// This view's changes since `head` that no flush committed, as edits
    /// for `snapshot::apply` (a path to its entry now, or to `None`). Their
    /// contents and trees are written to the store (objects no commit names
    /// are harmless). Only what `snapshot::diff` sees is carried: contents,
    /// kinds and modes of files, links and empty directories.
    async fn unflushed_edits(
        &self,
        head: &Snapshot,
    ) -> VfsResult<BTreeMap<Vec<u8>, Option<Entry>>> {
        self.prepare_large().await?;
        let (contents, trees, root) = {
            let mut state = self.lock();
            if !state.changed {
                return Ok(BTreeMap::new());
            }
            let (mut contents, mut trees) = (Vec::new(), Vec::new());
            let root = state.build_tree(InodeNo::ROOT, &mut contents, &mut trees)?;
            (contents, trees, root.tree)
        };
        self.write_objects(contents, trees).await?;
        let mut edits = BTreeMap::new();
        for change in snapshot::diff(&self.store, head.root, root).await? {
            let entry = match change.op {
                ChangeOp::Delete => None,
                _ => match snapshot::resolve(&self.store, root, &change.path).await? {
                    snapshot::Resolved::Entry(e) => Some(e),
                    snapshot::Resolved::Root(_) => continue,
                },
            };
            edits.insert(change.path, entry);
        }
        Ok(edits)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Refuses a change to a read-only view, and to any view once the
    /// store has failed to write (ENOSPC or EIO: `store::health`).
    fn writable(&self) -> VfsResult<()> {
        if self.config.read_only {
            return Err(vfs_err!(libc::EROFS, "the mount is read-only"));
        }
        crate::store::health::check_writable()?;
        Ok(())
    }

    /// The snapshot this view last loaded or flushed.
    pub fn head(&self) -> Snapshot {
        self.lock().head.clone()
    }

    /// True when there are changes not yet flushed.
    pub fn is_dirty(&self) -> bool {
        self.lock().changed
    }

    pub fn getattr(&self, ino: InodeNo) -> VfsResult<Attr> {
        let state = self.lock();
        state.attr(ino, &self.config)
    }

    /// Looks `name` up in `parent`; the kernel now holds one more reference.
    pub fn lookup(&self, parent: InodeNo, name: &[u8]) -> VfsResult<Attr> {
        if name.len() > NAME_MAX {
            return Err(vfs_err!(libc::ENAMETOOLONG, "name longer than {NAME_MAX} bytes"));
        }
        let mut state = self.lock();
        let ino = state.child(parent, name)?;
        state.node_mut(ino)?.lookups += 1;
        state.attr(ino, &self.config)
    }

    /// The inode `name` in `parent` names, if any, without taking a kernel
    /// reference (for telling other mounts what an unlink or rename hit).
    pub fn peek(&self, parent: InodeNo, name: &[u8]) -> Option<InodeNo> {
        self.lock().child(parent, name).ok()
    }

    /// The kernel dropped `n` references to `ino`.
    pub fn forget(&self, ino: InodeNo, n: u64) {
        let mut state = self.lock();
        if let Some(node) = state.nodes.get_mut(&ino) {
            node.lookups = node.lookups.saturating_sub(n);
        }
        state.reap(ino);
    }

    /// A directory's entries, `.` and `..` first.
    pub fn readdir(&self, ino: InodeNo) -> VfsResult<Vec<DirEntry>> {
        let state = self.lock();
        let node = state.node(ino)?;
        let NodeKind::Dir { children, parent } = &node.kind else {
            return Err(vfs_err!(libc::ENOTDIR, "inode {} is not a directory", ino.0));
        };
        let mut out = Vec::with_capacity(children.len() + 2);
        out.push(DirEntry { ino, kind: FileKind::Dir, name: b".".to_vec() });
        out.push(DirEntry { ino: *parent, kind: FileKind::Dir, name: b"..".to_vec() });
        for (name, child) in children {
            let kind = state.node(*child)?.file_kind();
            out.push(DirEntry { ino: *child, kind, name: name.clone() });
        }
        Ok(out)
    }

    pub fn readlink(&self, ino: InodeNo) -> VfsResult<Vec<u8>> {
        let state = self.lock();
        match &state.node(ino)?.kind {
            NodeKind::Symlink { target } => Ok(target.clone()),
            _ => Err(vfs_err!(libc::EINVAL, "inode {} is not a symlink", ino.0)),
        }
    }

    pub fn mkdir(&self, parent: InodeNo, name: &[u8], mode: u32, who: Caller) -> VfsResult<Attr> {
        let kind = NodeKind::Dir { children: BTreeMap::new(), parent };
        self.make(parent, name, kind, mode, who)
    }

    /// Creates an empty regular file; EEXIST if the name is taken.
    pub fn create(&self, parent: InodeNo, name: &[u8], mode: u32, who: Caller) -> VfsResult<Attr> {
        let data = Data::Mem { bytes: Arc::new(Vec::new()), hash: None };
        self.make(parent, name, NodeKind::File { data }, mode, who)
    }

    pub fn symlink(
        &self,
        parent: InodeNo,
        name: &[u8],
        target: &[u8],
        who: Caller,
    ) -> VfsResult<Attr> {
        if target.is_empty() {
            return Err(vfs_err!(libc::ENOENT, "empty symlink target"));
        }
        self.make(parent, name, NodeKind::Symlink { target: target.to_vec() }, 0o777, who)
    }

    /// Creates a FIFO, socket or device node.
    pub fn mknod(
        &self,
        parent: InodeNo,
        name: &[u8],
        kind: SpecialKind,
        rdev: u64,
        mode: u32,
        who: Caller,
    ) -> VfsResult<Attr> {
        self.make(parent, name, NodeKind::Special { kind, rdev }, mode, who)
    }

    fn make(
        &self,
        parent: InodeNo,
        name: &[u8],
        kind: NodeKind,
        mode: u32,
        who: Caller,
    ) -> VfsResult<Attr> {
        self.writable()?;
        check_name(name)?;
        let mut state = self.lock();
        let parent_node = state.node(parent)?;
        let NodeKind::Dir { children, .. } = &parent_node.kind else {
            return Err(vfs_err!(libc::ENOTDIR, "inode {} is not a directory", parent.0));
        };
        if children.contains_key(name) {
            return Err(vfs_err!(libc::EEXIST, "{} exists", show(name)));
        }
        // A new entry in a setgid directory takes the directory's group.
        let parent_gid = state.attr(parent, &self.config)?.gid;
        let setgid_dir = parent_node.mode & libc::S_ISGID != 0;
        let gid = if setgid_dir { parent_gid } else { who.gid };
        let is_dir = matches!(kind, NodeKind::Dir { .. });
        let mut mode = mode & MODE_MASK;
        if is_dir && setgid_dir {
            mode |= libc::S_ISGID;
        }
        let now = Timestamp::now();
        let owner = if (who.uid, gid) == (self.config.uid, self.config.gid) {
            None
        } else {
            Some((who.uid, gid))
        };
        let ino = state.alloc();
        let node = Node {
            kind,
            mode,
            owner,
            atime: now,
            mtime: now,
            ctime: now,
            nlink: if is_dir { 2 } else { 1 },
            lookups: 1,
            parents: Vec::new(),
            xattrs: BTreeMap::new(),
        };
        state.nodes.insert(ino, node);
        state.link_child(parent, name.to_vec(), ino);
        state.touch_dir(parent, now);
        state.dirty(parent);
        state.attr(ino, &self.config)
    }

    /// A new name for an existing file or symlink (hard link).
    pub fn link(&self, ino: InodeNo, parent: InodeNo, name: &[u8]) -> VfsResult<Attr> {
        self.writable()?;
        check_name(name)?;
        let mut state = self.lock();
        if matches!(state.node(ino)?.kind, NodeKind::Dir { .. }) {
            return Err(vfs_err!(libc::EPERM, "cannot hard-link a directory"));
        }
        let NodeKind::Dir { children, .. } = &state.node(parent)?.kind else {
            return Err(vfs_err!(libc::ENOTDIR, "inode {} is not a directory", parent.0));
        };
        if children.contains_key(name) {
            return Err(vfs_err!(libc::EEXIST, "{} exists", show(name)));
        }
        let now = Timestamp::now();
        {
            let node = state.node_mut(ino)?;
            node.nlink += 1;
            node.lookups += 1;
            node.ctime = now;
        }
        state.link_child(parent, name.to_vec(), ino);
        state.touch_dir(parent, now);
        state.dirty(parent);
        state.attr(ino, &self.config)
    }

    pub fn unlink(&self, parent: InodeNo, name: &[u8]) -> VfsResult<()> {
        self.writable()?;
        let mut state = self.lock();
        let ino = state.child(parent, name)?;
        if matches!(state.node(ino)?.kind, NodeKind::Dir { .. }) {
            return Err(vfs_err!(libc::EISDIR, "{} is a directory", show(name)));
        }
        state.remove_name(parent, name, ino);
        Ok(())
    }

    pub fn rmdir(&self, parent: InodeNo, name: &[u8]) -> VfsResult<()> {
        self.writable()?;
        if name == b"." {
            return Err(vfs_err!(libc::EINVAL, "cannot remove ."));
        }
        let mut state = self.lock();
        let ino = state.child(parent, name)?;
        match &state.node(ino)?.kind {
            NodeKind::Dir { children, .. } if !children.is_empty() => {
                return Err(vfs_err!(libc::ENOTEMPTY, "{} is not empty", show(name)));
            }
            NodeKind::Dir { .. } => {}
            _ => return Err(vfs_err!(libc::ENOTDIR, "{} is not a directory", show(name))),
        }
        state.remove_name(parent, name, ino);
        Ok(())
    }

    pub fn rename(
        &self,
        parent: InodeNo,
        name: &[u8],
        new_parent: InodeNo,
        new_name: &[u8],
        mode: RenameMode,
    ) -> VfsResult<()> {
        self.writable()?;
        check_name(new_name)?;
        let mut state = self.lock();
        let ino = state.child(parent, name)?;
        if !matches!(state.node(new_parent)?.kind, NodeKind::Dir { .. }) {
            return Err(vfs_err!(libc::ENOTDIR, "inode {} is not a directory", new_parent.0));
        }
        let target = state.child(new_parent, new_name).ok();
        let moving_dir = matches!(state.node(ino)?.kind, NodeKind::Dir { .. });
        // A directory cannot move below itself.
        if moving_dir && state.is_ancestor(ino, new_parent) {
            return Err(vfs_err!(libc::EINVAL, "cannot move {} into itself", show(name)));
        }
        if target == Some(ino) {
            return Ok(()); // same file: POSIX says do nothing
        }
        let now = Timestamp::now();
        match (mode, target) {
            (RenameMode::Exchange, None) => {
                return Err(vfs_err!(libc::ENOENT, "{} does not exist", show(new_name)));
            }
            (RenameMode::Exchange, Some(other)) => {
                let other_dir = matches!(state.node(other)?.kind, NodeKind::Dir { .. });
                if other_dir && state.is_ancestor(other, parent) {
                    return Err(vfs_err!(
                        libc::EINVAL,
                        "cannot move {} into itself",
                        show(new_name)
                    ));
                }
                state.set_child(parent, name.to_vec(), other);
                state.set_child(new_parent, new_name.to_vec(), ino);
                state.reparent(ino, new_parent);
                state.reparent(other, parent);
                for i in [ino, other] {
                    state.node_mut(i)?.ctime = now;
                }
            }
            (RenameMode::NoReplace, Some(_)) => {
                return Err(vfs_err!(libc::EEXIST, "{} exists", show(new_name)));
            }
            (_, existing) => {
                if let Some(victim) = existing {
                    // Replacing a directory that contains the source: the
                    // kernel calls that "not empty", whatever the kinds.
                    if state.is_ancestor(victim, parent) {
                        return Err(vfs_err!(libc::ENOTEMPTY, "{} is not empty", show(new_name)));
                    }
                    match (&state.node(victim)?.kind, moving_dir) {
                        (NodeKind::Dir { children, .. }, true) if !children.is_empty() => {
                            return Err(vfs_err!(
                                libc::ENOTEMPTY,
                                "{} is not empty",
                                show(new_name)
                            ));
                        }
                        (NodeKind::Dir { .. }, false) => {
                            return Err(vfs_err!(
                                libc::EISDIR,
                                "{} is a directory",
                                show(new_name)
                            ));
                        }
                        (_, true) if !matches!(state.node(victim)?.kind, NodeKind::Dir { .. }) => {
                            return Err(vfs_err!(
                                libc::ENOTDIR,
                                "{} is not a directory",
                                show(new_name)
                            ));
                        }
                        _ => {}
                    }
                    state.remove_name(new_parent, new_name, victim);
                }
                state.unlink_child(parent, name);
                state.link_child(new_parent, new_name.to_vec(), ino);
                state.reparent(ino, new_parent);
                state.node_mut(ino)?.ctime = now;
            }
        }
        state.touch_dir(parent, now);
        state.touch_dir(new_parent, now);
        state.dirty(parent);
        state.dirty(new_parent);
        Ok(())
    }

    /// Changes attributes. Truncation may need the old content first.
    /// Who may change what is the kernel's to check (`default_permissions`),
    /// so the caller is not consulted here.
    pub async fn setattr(&self, ino: InodeNo, set: SetAttr, _who: Caller) -> VfsResult<Attr> {
        let changes_anything = set.mode.is_some()
            || set.uid.is_some()
            || set.gid.is_some()
            || set.size.is_some()
            || set.atime.is_some()
            || set.mtime.is_some();
        if changes_anything {
            self.writable()?;
        }
        if let Some(size) = set.size {
            self.set_size(ino, size).await?;
        }
        let mut state = self.lock();
        let now = Timestamp::now();
        let (uid, gid) = {
            let attr = state.attr(ino, &self.config)?;
            (attr.uid, attr.gid)
        };
        let config = self.config;
        let node = state.node_mut(ino)?;
        if set.size.is_some() {
            node.mtime = now;
            node.ctime = now;
        }
        if let Some(mode) = set.mode {
            node.mode = mode & MODE_MASK;
            node.ctime = now;
        }
        if set.uid.is_some() || set.gid.is_some() {
            let owner = (set.uid.unwrap_or(uid), set.gid.unwrap_or(gid));
            node.owner = if owner == (config.uid, config.gid) && node.owner.is_none() {
                None
            } else {
                Some(owner)
            };
            node.ctime = now;
        }
        let resolve = |t: TimeSet| match t {
            TimeSet::Now => now,
            TimeSet::At(t) => t,
        };
        if let Some(t) = set.atime {
            node.atime = resolve(t);
            node.ctime = now;
        }
        if let Some(t) = set.mtime {
            node.mtime = resolve(t);
            node.ctime = now;
        }
        if changes_anything {
            state.dirty(ino);
        }
        state.attr(ino, &self.config)
    }

    /// Reads up to `size` bytes at `offset`.
    pub async fn read(&self, ino: InodeNo, offset: u64, size: u32) -> VfsResult<Vec<u8>> {
        if self.open_large(ino).await? {
            return self.read_large(ino, offset, size as u64).await;
        }
        let bytes = self.ensure_loaded(ino).await?;
        let start = (offset as usize).min(bytes.len());
        let end = start.saturating_add(size as usize).min(bytes.len());
        Ok(bytes[start..end].to_vec())
    }

    /// Writes `data` at `offset`, growing the file as needed.
    pub async fn write(&self, ino: InodeNo, offset: u64, data: &[u8]) -> VfsResult<u32> {
        self.writable()?;
        let end = offset.checked_add(data.len() as u64).filter(|&e| e <= FILE_SIZE_MAX);
        let end = end.ok_or_else(|| vfs_err!(libc::EFBIG, "write past the largest file size"))?;
        if data.is_empty() {
            self.file_size(ino)?; // a zero-length write changes nothing, even past the end
            return Ok(0);
        }
        if !self.open_large(ino).await? {
            self.ensure_loaded(ino).await?;
            if end > LARGE {
                self.make_large(ino)?;
            }
        }
        let done = self
            .with_large(
                ino,
                |large| large.needs_for_write(offset, data.len() as u64),
                |large, fetched| large.write(offset, data, fetched),
            )
            .await?;
        if done.is_none() {
            self.write_small(ino, offset, end, data)?;
        }
        let mut state = self.lock();
        let now = Timestamp::now();
        let node = state.node_mut(ino)?;
        node.mtime = now;
        node.ctime = now;
        // Writing clears setuid and setgid, as on a local filesystem.
        node.mode &= !(libc::S_ISUID | libc::S_ISGID);
        state.dirty(ino);
        Ok(data.len() as u32)
    }

    /// `write` into a file held whole.
    fn write_small(&self, ino: InodeNo, offset: u64, end: u64, data: &[u8]) -> VfsResult<()> {
        let mut state = self.lock();
        let node = state.node_mut(ino)?;
        let NodeKind::File { data: content } = &mut node.kind else {
            return Err(vfs_err!(libc::EISDIR, "inode {} is not a regular file", ino.0));
        };
        let Data::Mem { bytes, hash } = content else {
            // Loaded above; a concurrent truncate to zero leaves Mem too.
            return Err(vfs_err!(libc::EAGAIN, "content of inode {} changed while written", ino.0));
        };
        let buf = Arc::make_mut(bytes);
        if buf.len() < end as usize {
            resize(buf, end)?;
        }
        buf[offset as usize..end as usize].copy_from_slice(data);
        *hash = None;
        Ok(())
    }

    /// A regular file's size (EISDIR, EINVAL for other kinds).
    fn file_size(&self, ino: InodeNo) -> VfsResult<u64> {
        match &self.lock().node(ino)?.kind {
            NodeKind::File { data } => Ok(data.size()),
            NodeKind::Dir { .. } => Err(vfs_err!(libc::EISDIR, "inode {} is a directory", ino.0)),
            _ => Err(vfs_err!(libc::EINVAL, "inode {} is not a regular file", ino.0)),
        }
    }

    /// Sets a file's size: a large file by chunk (a hole to grow, chunks
    /// dropped to shrink), a small one in memory; crossing [`LARGE`] moves
    /// it between the two.
    async fn set_size(&self, ino: InodeNo, size: u64) -> VfsResult<()> {
        match &self.lock().node(ino)?.kind {
            NodeKind::File { .. } => {}
            NodeKind::Dir { .. } => {
                return Err(vfs_err!(libc::EISDIR, "cannot truncate a directory"));
            }
            _ => return Err(vfs_err!(libc::EINVAL, "cannot truncate a symlink")),
        }
        if size > FILE_SIZE_MAX {
            return Err(vfs_err!(libc::EFBIG, "file size {size} is over {FILE_SIZE_MAX}"));
        }
        if size == 0 {
            let mut state = self.lock();
            if let NodeKind::File { data } = &mut state.node_mut(ino)?.kind {
                *data = Data::Mem { bytes: Arc::new(Vec::new()), hash: None };
            }
            return Ok(());
        }
        let large = self.open_large(ino).await?;
        if !large {
            self.ensure_loaded(ino).await?;
            if size > LARGE {
                self.make_large(ino)?;
            }
        }
        if large && size <= LARGE {
            // Small again: whole in memory.
            let bytes = self
                .with_large(ino, |l| l.needs_all(), |l, fetched| l.to_bytes(fetched))
                .await?
                .ok_or_else(|| vfs_err!(libc::EAGAIN, "content of inode {} changed", ino.0))?;
            let mut state = self.lock();
            if let NodeKind::File { data } = &mut state.node_mut(ino)?.kind {
                *data = Data::Mem { bytes: Arc::new(bytes), hash: None };
            }
        }
        let resized = self
            .with_large(ino, |l| l.needs_for_resize(size), |l, fetched| l.resize(size, fetched))
            .await?;
        if resized.is_none() {
            let mut state = self.lock();
            let NodeKind::File { data } = &mut state.node_mut(ino)?.kind else {
                return Err(vfs_err!(libc::EIO, "inode {} changed kind", ino.0));
            };
            let Data::Mem { bytes, hash } = data else {
                return Err(vfs_err!(libc::EAGAIN, "content of inode {} changed", ino.0));
            };
            resize(Arc::make_mut(bytes), size)?;
            *hash = None;
        }
        Ok(())
    }

    /// Turns a small file in memory into a large one (it is growing past
    /// [`LARGE`]).
    fn make_large(&self, ino: InodeNo) -> VfsResult<()> {
        let mut state = self.lock();
        if let NodeKind::File { data } = &mut state.node_mut(ino)?.kind
            && let Data::Mem { bytes, .. } = data
        {
            *data = Data::Large(Box::new(Large::from_bytes(bytes)));
        }
        Ok(())
    }

    /// True when the file is large (held by chunk): a stored one over
    /// [`LARGE`] is opened so, by its chunk list, nothing of it read.
    async fn open_large(&self, ino: InodeNo) -> VfsResult<bool> {
        let hash = {
            let state = self.lock();
            match &state.node(ino)?.kind {
                NodeKind::File { data: Data::Large(_) } => return Ok(true),
                NodeKind::File { data: Data::Stored { hash, size } } if *size > LARGE => *hash,
                _ => return Ok(false),
            }
        };
        let chunks = self.store.blob_chunks(hash).await?;
        let mut state = self.lock();
        let NodeKind::File { data } = &mut state.node_mut(ino)?.kind else {
            return Err(vfs_err!(libc::EIO, "inode {} changed kind", ino.0));
        };
        match data {
            Data::Stored { hash: h, size } if *h == hash => {
                let Some(chunks) = chunks else {
                    return Err(vfs_err!(
                        libc::EIO,
                        "content {hash} of {size} bytes is not chunked"
                    ));
                };
                *data = Data::Large(Box::new(Large::stored(hash, *size, chunks)));
                Ok(true)
            }
            Data::Large(_) => Ok(true),
            _ => Ok(false),
        }
    }

    /// Runs `apply` on a large file once what `needs` asks for is fetched
    /// (outside the lock: other requests go on meanwhile). `None` if the
    /// file is not large; EAGAIN if it kept changing under the fetches.
    async fn with_large<T>(
        &self,
        ino: InodeNo,
        needs: impl Fn(&Large) -> Vec<(u64, ContentHash)>,
        mut apply: impl FnMut(&mut Large, &Fetched) -> Result<T, u64>,
    ) -> VfsResult<Option<T>> {
        for _ in 0..FETCH_ROUNDS {
            let wanted = {
                let state = self.lock();
                match &state.node(ino)?.kind {
                    NodeKind::File { data: Data::Large(large) } => needs(large),
                    _ => return Ok(None),
                }
            };
            let fetched = self.fetch(&wanted).await?;
            let mut state = self.lock();
            let NodeKind::File { data: Data::Large(large) } = &mut state.node_mut(ino)?.kind else {
                return Ok(None);
            };
            if let Ok(out) = apply(large, &fetched) {
                large.cache(&fetched);
                return Ok(Some(out));
            }
        }
        Err(vfs_err!(libc::EAGAIN, "inode {} kept changing while its chunks were read", ino.0))
    }

    async fn read_large(&self, ino: InodeNo, offset: u64, size: u64) -> VfsResult<Vec<u8>> {
        self.with_large(ino, |l| l.needs_for_read(offset, size), |l, f| l.read(offset, size, f))
            .await?
            .ok_or_else(|| vfs_err!(libc::EAGAIN, "content of inode {} changed while read", ino.0))
    }

    /// Stored chunks' bytes, by index.
    async fn fetch(&self, wanted: &[(u64, ContentHash)]) -> VfsResult<Fetched> {
        let mut out = Fetched::with_capacity(wanted.len());
        for (index, hash) in wanted {
            out.insert(*index, Arc::new(self.store.read_chunk(*hash).await?));
        }
        Ok(out)
    }

    /// The content of a small file, reading it from the store the first time.
    async fn ensure_loaded(&self, ino: InodeNo) -> VfsResult<Arc<Vec<u8>>> {
        let hash = {
            let state = self.lock();
            match &state.node(ino)?.kind {
                NodeKind::File { data: Data::Mem { bytes, .. } } => return Ok(bytes.clone()),
                NodeKind::File { data: Data::Stored { hash, .. } } => *hash,
                NodeKind::File { data: Data::Large(_) } => {
                    return Err(vfs_err!(libc::EAGAIN, "inode {} became large", ino.0));
                }
                NodeKind::Dir { .. } => {
                    return Err(vfs_err!(libc::EISDIR, "inode {} is a directory", ino.0));
                }
                NodeKind::Symlink { .. } | NodeKind::Special { .. } => {
                    return Err(vfs_err!(libc::EINVAL, "inode {} is not a regular file", ino.0));
                }
            }
        };
        // Read outside the lock: other requests go on meanwhile.
        let bytes = Arc::new(self.store.read_blob(hash).await?);
        let mut state = self.lock();
        let node = state.node_mut(ino)?;
        match &mut node.kind {
            NodeKind::File { data } => match data {
                Data::Stored { hash: h, .. } if *h == hash => {
                    *data = Data::Mem { bytes: bytes.clone(), hash: Some(hash) };
                    Ok(bytes)
                }
                Data::Mem { bytes, .. } => Ok(bytes.clone()),
                _ => Err(vfs_err!(libc::EAGAIN, "content changed while read")),
            },
            _ => Err(vfs_err!(libc::EIO, "inode {} changed kind", ino.0)),
        }
    }

    /// Learns the chaining values a flush needs of large files written
    /// since the last one: their stored chunks not in memory are read, one
    /// at a time (a flush must not hold a whole large file).
    async fn prepare_large(&self) -> VfsResult<()> {
        for _ in 0..FETCH_ROUNDS {
            let wanted: Vec<(InodeNo, u64, ContentHash)> = {
                let state = self.lock();
                state
                    .nodes
                    .iter()
                    .filter_map(|(ino, n)| match &n.kind {
                        NodeKind::File { data: Data::Large(l) } => Some((*ino, l.needs_for_hash())),
                        _ => None,
                    })
                    .flat_map(|(ino, needs)| needs.into_iter().map(move |(i, h)| (ino, i, h)))
                    .collect()
            };
            let holes: Vec<(InodeNo, Vec<u64>)> = {
                let state = self.lock();
                state
                    .nodes
                    .iter()
                    .filter_map(|(ino, n)| match &n.kind {
                        NodeKind::File { data: Data::Large(l) } => Some((*ino, l.holes_for_hash())),
                        _ => None,
                    })
                    .filter(|(_, h)| !h.is_empty())
                    .collect()
            };
            for (ino, indices) in holes {
                // Hashing holes is CPU work: off the async workers.
                let cvs = tokio::task::spawn_blocking(move || large::hole_cvs(&indices))
                    .await
                    .map_err(|e| vfs_err!(libc::EIO, "hashing holes: {e}"))?;
                let mut state = self.lock();
                if let Some(Node { kind: NodeKind::File { data: Data::Large(l) }, .. }) =
                    state.nodes.get_mut(&ino)
                {
                    l.learn_holes(cvs);
                }
            }
            if wanted.is_empty() {
                return Ok(());
            }
            for (ino, index, hash) in wanted {
                let fetched = self.fetch(&[(index, hash)]).await?;
                let mut state = self.lock();
                if let Some(Node { kind: NodeKind::File { data: Data::Large(l) }, .. }) =
                    state.nodes.get_mut(&ino)
                {
                    l.learn_cvs(&fetched);
                }
            }
        }
        Ok(())
    }

    /// Space as the store's own filesystem has it (an embedded store; a
    /// remote one reports a nominal terabyte), so that `df` in a mount
    /// tells how close the store's disk is to full. Files are counted as
    /// the view holds them.
    pub fn statfs(&self) -> StatFs {
        let (nodes, used) = {
            let state = self.lock();
            let used: u64 = state
                .nodes
                .values()
                .map(|n| if let NodeKind::File { data } = &n.kind { data.size() } else { 0 })
                .sum();
            (state.nodes.len() as u64, used)
        };
        let bsize = 4096u64;
        let (blocks, bfree) =
            self.store.disk_space().map(|d| (d.total / bsize, d.available / bsize)).unwrap_or_else(
                || {
                    let blocks = (1u64 << 40) / bsize;
                    (blocks, blocks - used.div_ceil(bsize).min(blocks))
                },
            );
        StatFs {
            blocks,
            bfree,
            files: nodes + 1_000_000,
            ffree: 1_000_000,
            bsize: bsize as u32,
            namelen: NAME_MAX as u32,
        }
    }

    pub fn getxattr(&self, ino: InodeNo, name: &[u8]) -> VfsResult<Vec<u8>> {
        let state = self.lock();
        state
            .node(ino)?
            .xattrs
            .get(name)
            .cloned()
            .ok_or_else(|| vfs_err!(libc::ENODATA, "no attribute {}", show(name)))
    }

    pub fn listxattr(&self, ino: InodeNo) -> VfsResult<Vec<Vec<u8>>> {
        let state = self.lock();
        Ok(state.node(ino)?.xattrs.keys().cloned().collect())
    }

    pub fn setxattr(
        &self,
        ino: InodeNo,
        name: &[u8],
        value: &[u8],
        mode: XattrMode,
    ) -> VfsResult<()> {
        self.writable()?;
        if name.is_empty() || name.len() > 255 {
            return Err(vfs_err!(libc::ERANGE, "bad attribute name length"));
        }
        if value.len() > 64 * 1024 {
            return Err(vfs_err!(libc::E2BIG, "attribute value over 64 KiB"));
        }
        let mut state = self.lock();
        let node = state.node_mut(ino)?;
        let exists = node.xattrs.contains_key(name);
        match mode {
            XattrMode::Create if exists => {
                return Err(vfs_err!(libc::EEXIST, "attribute {} exists", show(name)));
            }
            XattrMode::Replace if !exists => {
                return Err(vfs_err!(libc::ENODATA, "no attribute {}", show(name)));
            }
            _ => {}
        }
        node.xattrs.insert(name.to_vec(), value.to_vec());
        node.ctime = Timestamp::now();
        state.dirty(ino);
        Ok(())
    }

    pub fn removexattr(&self, ino: InodeNo, name: &[u8]) -> VfsResult<()> {
        self.writable()?;
        let mut state = self.lock();
        let node = state.node_mut(ino)?;
        if node.xattrs.remove(name).is_none() {
            return Err(vfs_err!(libc::ENODATA, "no attribute {}", show(name)));
        }
        node.ctime = Timestamp::now();
        state.dirty(ino);
        Ok(())
    }

    /// Writes everything changed since the last flush to the store and
    /// commits it as the next snapshot of main. Returns that snapshot, or
    /// `None` when there was nothing to write.
    pub async fn flush(&self) -> VfsResult<Option<Snapshot>> {
        let _one_at_a_time = self.flushing.lock().await;
        // Main's flushes share their turn; a merge that main kept moving
        // under takes it alone, and this waits for its one commit.
        let _turn = match self.store.view() {
            crate::store::View::Main if self.is_dirty() => {
                Some(self.store.main_turn(crate::store::Turn::Shared).await)
            }
            _ => None,
        };
        // Main moved since this view last saw it (a merge, an import): catch
        // up, keeping this view's writes over the new head, and flush them
        // again, so that an fsync racing a merge succeeds rather than fails.
        for _ in 0..FETCH_ROUNDS {
            match self.flush_held().await? {
                Flushed::Done(snapshot) => return Ok(snapshot),
                Flushed::HeadMoved => {
                    let invalidations = self.refresh_held().await?;
                    self.stashed.lock().unwrap_or_else(|p| p.into_inner()).extend(invalidations);
                }
            }
        }
        Err(vfs_err!(libc::EAGAIN, "main kept moving while this view was flushed"))
    }

    /// One try of `flush`, the flush lock held by the caller.
    async fn flush_held(&self) -> VfsResult<Flushed> {
        // Hash and encode under the lock (memory work only), then write and
        // commit without it so that other requests go on.
        self.prepare_large().await?;
        let (parent, contents, trees, root, stats) = {
            let mut state = self.lock();
            if !state.changed {
                return Ok(Flushed::Done(None));
            }
            let mut contents = Vec::new();
            let mut trees = Vec::new();
            let root = state.build_tree(InodeNo::ROOT, &mut contents, &mut trees)?;
            state.changed = false;
            (state.head.clone(), contents, trees, root.tree, (root.files, root.bytes))
        };
        self.write_objects(contents, trees).await?;
        match self.commit_tree(&parent, root, stats).await {
            Ok(snapshot) => {
                self.lock().head = snapshot.clone();
                Ok(Flushed::Done(Some(snapshot)))
            }
            Err(e) => {
                // Try again next time (the objects are in the store).
                self.lock().changed = true;
                match e {
                    crate::Error::HeadMoved { .. } => Ok(Flushed::HeadMoved),
                    e => Err(e.into()),
                }
            }
        }
    }

    /// Writes the contents and trees a flush or a refresh encoded. If that
    /// fails, the view forgets having encoded them (and stays changed), so
    /// that the next try hashes, encodes and writes them again: a tree must
    /// never be committed naming objects that did not reach the store.
    async fn write_objects(
        &self,
        contents: Vec<ContentWrite>,
        trees: Vec<(ContentHash, Vec<u8>)>,
    ) -> VfsResult<()> {
        let started = std::time::Instant::now();
        let queued: HashSet<ContentHash> = contents.iter().map(ContentWrite::hash).collect();
        let written = async {
            for content in &contents {
                match content {
                    ContentWrite::Whole(hash, data) => self.store.put_content(*hash, data).await?,
                    ContentWrite::Chunked(sealed) => {
                        for (hash, data) in &sealed.new {
                            self.store.put_chunk(*hash, data.to_vec()).await?;
                        }
                        self.store
                            .put_blobs(vec![crate::store::BlobWrite::Chunked {
                                hash: sealed.hash,
                                size: sealed.size,
                                chunks: sealed.chunks.clone(),
                            }])
                            .await?;
                    }
                }
            }
            self.store.put_trees(trees).await
        }
        .await;
        tracing::debug!(elapsed = ?started.elapsed(), "objects written");
        let mut state = self.lock();
        if let Err(e) = written {
            state.changed = true;
            state.encoded.clear();
            state.rehash(&queued);
            return Err(e.into());
        }
        // Chunks of large files are in the store now: out of memory.
        state.settle(&queued);
        Ok(())
    }

    /// Commits the tree `root`, written already, as main's next snapshot
    /// after `parent`.
    async fn commit_tree(
        &self,
        parent: &Snapshot,
        root: ContentHash,
        (files, bytes): (u64, u64),
    ) -> crate::Result<Snapshot> {
        let changes = snapshot::diff(&self.store, parent.root, root).await?;
        let new = NewSnapshot {
            parent: parent.id,
            root,
            source: "mount".into(),
            message: format!("{} changes through the mount", changes.len()),
            files,
            bytes,
            changes,
        };
        self.store.commit(new).await
    }
}

/// What one try of a flush came to.
enum Flushed {
    /// Committed (the new snapshot), or nothing to commit.
    Done(Option<Snapshot>),
    /// Main is no longer at the head the view was flushed against.
    HeadMoved,
}

impl State {
    /// A view of `head` from the entries of the tree `root_tree` (parents
    /// before children): `head`'s own tree, or it with this view's
    /// unflushed changes over it (`refresh`). With
    /// `old`, paths that exist in both keep their inode numbers and kernel
    /// references, read contents stay cached, unflushed contents win, and
    /// inodes the kernel still holds but that are gone stay as orphans.
    fn build(
        head: Snapshot,
        root_tree: ContentHash,
        entries: Vec<(Vec<u8>, Entry)>,
        old: Option<&State>,
    ) -> State {
        let now = Timestamp::now();
        let old_paths = old.map(State::paths).unwrap_or_default();
        let next_ino = old.map_or(2, |o| o.next_ino);
        let mut state = State {
            nodes: HashMap::new(),
            next_ino,
            head,
            changed: false,
            encoded: HashMap::new(),
        };
        // The stored tree of each directory, and files written but not flushed.
        let mut trees: HashMap<InodeNo, ContentHash> = HashMap::from([(InodeNo::ROOT, root_tree)]);
        let mut unflushed = Vec::new();
        let root = match old.and_then(|o| o.nodes.get(&InodeNo::ROOT)) {
            Some(r) => Node {
                kind: NodeKind::Dir { children: BTreeMap::new(), parent: InodeNo::ROOT },
                nlink: 2,
                ..r.clone()
            },
            None => Node {
                kind: NodeKind::Dir { children: BTreeMap::new(), parent: InodeNo::ROOT },
                mode: 0o755,
                owner: None,
                atime: now,
                mtime: now,
                ctime: now,
                nlink: 2,
                lookups: 1,
                parents: Vec::new(),
                xattrs: BTreeMap::new(),
            },
        };
        state.nodes.insert(InodeNo::ROOT, root);
        let mut dirs: HashMap<Vec<u8>, InodeNo> = HashMap::new();
        dirs.insert(Vec::new(), InodeNo::ROOT);
        for (path, entry) in entries {
            let parent_path = match path.iter().rposition(|&b| b == b'/') {
                Some(i) => path[..i].to_vec(),
                None => Vec::new(),
            };
            let parent = dirs[&parent_path];
            let previous = old_paths.get(&path).and_then(|ino| {
                let node = old?.nodes.get(ino)?;
                let same_kind = matches!(
                    (&node.kind, &entry.kind),
                    (NodeKind::Dir { .. }, EntryKind::Dir { .. })
                        | (NodeKind::File { .. }, EntryKind::File { .. })
                        | (NodeKind::Symlink { .. }, EntryKind::Symlink { .. })
                        | (NodeKind::Special { .. }, EntryKind::Special { .. })
                );
                same_kind.then_some((*ino, node))
            });
            let ino = match previous {
                Some((ino, _)) => ino,
                None => state.alloc(),
            };
            let kind = match entry.kind {
                EntryKind::Dir { tree } => {
                    dirs.insert(path.clone(), ino);
                    trees.insert(ino, tree);
                    NodeKind::Dir { children: BTreeMap::new(), parent }
                }
                EntryKind::File { content, size } => {
                    let data = match previous.map(|(_, n)| &n.kind) {
                        Some(NodeKind::File { data: Data::Mem { bytes, hash } })
                            if hash.is_none() || *hash == Some(content) =>
                        {
                            if hash.is_none() {
                                unflushed.push(ino);
                            }
                            Data::Mem { bytes: bytes.clone(), hash: *hash }
                        }
                        Some(NodeKind::File { data: Data::Large(large) })
                            if large.hash().is_none() || large.hash() == Some(content) =>
                        {
                            if large.hash().is_none() {
                                unflushed.push(ino);
                            }
                            Data::Large(large.clone())
                        }
                        _ => Data::Stored { hash: content, size },
                    };
                    NodeKind::File { data }
                }
                EntryKind::Symlink { target } => NodeKind::Symlink { target },
                EntryKind::Special { kind, rdev } => NodeKind::Special { kind, rdev },
            };
            let is_dir = matches!(kind, NodeKind::Dir { .. });
            let lookups = previous.map_or(0, |(_, n)| n.lookups);
            state.nodes.insert(
                ino,
                Node {
                    kind,
                    mode: entry.mode & MODE_MASK,
                    owner: entry.owner,
                    atime: entry.mtime,
                    mtime: entry.mtime,
                    ctime: entry.mtime,
                    nlink: if is_dir { 2 } else { 1 },
                    lookups,
                    parents: Vec::new(),
                    xattrs: entry.xattrs.into_iter().collect(),
                },
            );
            state.link_child(parent, entry.name, ino);
        }
        state.seed_encoded(InodeNo::ROOT, &trees);
        for ino in unflushed {
            state.dirty(ino);
        }
        // Inodes the kernel still holds that are gone from the tree.
        if let Some(old) = old {
            for (ino, node) in &old.nodes {
                if node.lookups > 0 && !state.nodes.contains_key(ino) {
                    let mut orphan = Node { nlink: 0, parents: Vec::new(), ..node.clone() };
                    if let NodeKind::Dir { children, parent } = &mut orphan.kind {
                        children.clear();
                        *parent = *ino;
                    }
                    state.nodes.insert(*ino, orphan);
                }
            }
        }
        state
    }

    /// Every path of the view with its inode ("" is the root).
    fn paths(&self) -> HashMap<Vec<u8>, InodeNo> {
        let mut out = HashMap::new();
        let mut stack = vec![(Vec::new(), InodeNo::ROOT)];
        while let Some((path, ino)) = stack.pop() {
            if let Some(Node { kind: NodeKind::Dir { children, .. }, .. }) = self.nodes.get(&ino) {
                for (name, child) in children {
                    stack.push((snapshot::join(&path, name), *child));
                }
            }
            out.insert(path, ino);
        }
        out
    }

    fn alloc(&mut self) -> InodeNo {
        let ino = InodeNo(self.next_ino);
        self.next_ino += 1;
        ino
    }

    fn node(&self, ino: InodeNo) -> VfsResult<&Node> {
        self.nodes.get(&ino).ok_or_else(|| vfs_err!(libc::ENOENT, "no inode {}", ino.0))
    }

    fn node_mut(&mut self, ino: InodeNo) -> VfsResult<&mut Node> {
        self.nodes.get_mut(&ino).ok_or_else(|| vfs_err!(libc::ENOENT, "no inode {}", ino.0))
    }

    fn attr(&self, ino: InodeNo, config: &VfsConfig) -> VfsResult<Attr> {
        let node = self.node(ino)?;
        let (uid, gid) = node.owner.unwrap_or((config.uid, config.gid));
        let size = match &node.kind {
            NodeKind::File { data } => data.size(),
            NodeKind::Symlink { target } => target.len() as u64,
            NodeKind::Special { .. } => 0,
            NodeKind::Dir { children, .. } => 4096.max(children.len() as u64 * 32),
        };
        Ok(Attr {
            ino,
            kind: node.file_kind(),
            size,
            mode: node.mode,
            nlink: node.nlink,
            uid,
            gid,
            atime: node.atime,
            mtime: node.mtime,
            ctime: node.ctime,
            rdev: match node.kind {
                NodeKind::Special { rdev, .. } => rdev,
                _ => 0,
            },
        })
    }

    fn child(&self, parent: InodeNo, name: &[u8]) -> VfsResult<InodeNo> {
        match &self.node(parent)?.kind {
            NodeKind::Dir { children, parent: up } => match name {
                b"." => Ok(parent),
                b".." => Ok(*up),
                _ => children.get(name).copied().ok_or_else(|| {
                    vfs_err!(libc::ENOENT, "no {} in inode {}", show(name), parent.0)
                }),
            },
            _ => Err(vfs_err!(libc::ENOTDIR, "inode {} is not a directory", parent.0)),
        }
    }

    fn link_child(&mut self, parent: InodeNo, name: Vec<u8>, ino: InodeNo) {
        let is_dir = matches!(self.nodes.get(&ino).map(|n| &n.kind), Some(NodeKind::Dir { .. }));
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.parents.push(parent);
        }
        if let Some(Node { kind: NodeKind::Dir { children, .. }, nlink, .. }) =
            self.nodes.get_mut(&parent)
        {
            children.insert(name, ino);
            if is_dir {
                *nlink += 1;
            }
        }
    }

    fn unlink_child(&mut self, parent: InodeNo, name: &[u8]) -> Option<InodeNo> {
        let Some(Node { kind: NodeKind::Dir { children, .. }, .. }) = self.nodes.get_mut(&parent)
        else {
            return None;
        };
        let ino = children.remove(name)?;
        if let Some(node) = self.nodes.get_mut(&ino)
            && let Some(i) = node.parents.iter().position(|&p| p == parent)
        {
            node.parents.swap_remove(i);
        }
        let is_dir = matches!(self.nodes.get(&ino).map(|n| &n.kind), Some(NodeKind::Dir { .. }));
        if is_dir && let Some(p) = self.nodes.get_mut(&parent) {
            p.nlink -= 1;
        }
        Some(ino)
    }

    /// Points `name` in `parent` at `ino`, in place (for exchange).
    fn set_child(&mut self, parent: InodeNo, name: Vec<u8>, ino: InodeNo) {
        self.unlink_child(parent, &name);
        self.link_child(parent, name, ino);
    }

    fn reparent(&mut self, ino: InodeNo, new_parent: InodeNo) {
        if let Some(Node { kind: NodeKind::Dir { parent, .. }, .. }) = self.nodes.get_mut(&ino) {
            *parent = new_parent;
        }
    }

    /// True when `ancestor` is `ino` or one of its parents.
    fn is_ancestor(&self, ancestor: InodeNo, mut ino: InodeNo) -> bool {
        loop {
            if ino == ancestor {
                return true;
            }
            match self.nodes.get(&ino).map(|n| &n.kind) {
                Some(NodeKind::Dir { parent, .. }) if *parent != ino => ino = *parent,
                _ => return false,
            }
        }
    }

    /// Removes one name of `ino` from `parent` and drops the inode once no
    /// name and no kernel reference is left.
    fn remove_name(&mut self, parent: InodeNo, name: &[u8], ino: InodeNo) {
        let now = Timestamp::now();
        self.unlink_child(parent, name);
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.nlink = match node.kind {
                NodeKind::Dir { .. } => 0,
                _ => node.nlink.saturating_sub(1),
            };
            node.ctime = now;
        }
        self.touch_dir(parent, now);
        self.dirty(parent);
        self.reap(ino);
    }

    /// Records that `ino` changed in a way its directory entries show
    /// (content, mode, owner, mtime, xattrs, or for a directory, its
    /// names): the directories above it must be encoded again.
    fn dirty(&mut self, ino: InodeNo) {
        self.changed = true;
        let starts = match self.nodes.get(&ino) {
            Some(Node { kind: NodeKind::Dir { .. }, .. }) => vec![ino],
            Some(node) => node.parents.clone(),
            None => return,
        };
        for mut dir in starts {
            // Stop at the first directory already dirty: by the invariant
            // its ancestors are too.
            while self.encoded.remove(&dir).is_some() {
                match self.nodes.get(&dir).map(|n| &n.kind) {
                    Some(NodeKind::Dir { parent, .. }) if *parent != dir => dir = *parent,
                    _ => break,
                }
            }
        }
    }

    /// Fills `encoded` for a tree just loaded, from the stored tree hash
    /// of each directory; returns the subtree of `dir`.
    fn seed_encoded(&mut self, dir: InodeNo, trees: &HashMap<InodeNo, ContentHash>) -> Subtree {
        self.post_order(dir, |state, d| {
            let children: Vec<InodeNo> = match state.nodes.get(&d).map(|n| &n.kind) {
                Some(NodeKind::Dir { children, .. }) => children.values().copied().collect(),
                _ => Vec::new(),
            };
            let mut sum = Subtree { tree: trees[&d], files: 0, bytes: 0 };
            for child in children {
                match state.nodes.get(&child).map(|n| &n.kind) {
                    Some(NodeKind::Dir { .. }) => {
                        let sub = state.encoded[&child];
                        sum.files += sub.files;
                        sum.bytes += sub.bytes;
                    }
                    Some(NodeKind::File { data }) => {
                        sum.files += 1;
                        sum.bytes += data.size();
                    }
                    Some(_) => sum.files += 1,
                    None => {}
                }
            }
            state.encoded.insert(d, sum);
            Ok(())
        })
        .expect("seeding cannot fail")
    }

    /// Runs `each` on every directory below `top` (and `top`) that has no
    /// entry in `encoded`, children before parents, without recursion: a
    /// tree 4,000 directories deep must not overflow a thread's stack.
    /// `each` must fill the directory's entry. Returns `top`'s.
    fn post_order(
        &mut self,
        top: InodeNo,
        mut each: impl FnMut(&mut State, InodeNo) -> VfsResult<()>,
    ) -> VfsResult<Subtree> {
        let mut stack = vec![(top, false)];
        while let Some((dir, children_done)) = stack.pop() {
            if self.encoded.contains_key(&dir) {
                continue;
            }
            if children_done {
                each(self, dir)?;
                continue;
            }
            stack.push((dir, true));
            if let NodeKind::Dir { children, .. } = &self.node(dir)?.kind {
                for ino in children.values() {
                    let is_dir =
                        matches!(self.nodes.get(ino).map(|n| &n.kind), Some(NodeKind::Dir { .. }));
                    if is_dir && !self.encoded.contains_key(ino) {
                        stack.push((*ino, false));
                    }
                }
            }
        }
        self.encoded
            .get(&top)
            .copied()
            .ok_or_else(|| vfs_err!(libc::EIO, "directory {} was not encoded", top.0))
    }

    fn reap(&mut self, ino: InodeNo) {
        if ino == InodeNo::ROOT {
            return;
        }
        if let Some(node) = self.nodes.get(&ino)
            && node.nlink == 0
            && node.lookups == 0
        {
            self.nodes.remove(&ino);
        }
    }

    fn touch_dir(&mut self, dir: InodeNo, now: Timestamp) {
        if let Some(node) = self.nodes.get_mut(&dir) {
            node.mtime = now;
            node.ctime = now;
        }
    }

    /// Encodes the tree below `dir`, hashing changed contents, and returns
    /// it. Only directories changed since their last encoding are encoded
    /// again; their trees and the changed contents go into the vectors.
    fn build_tree(
        &mut self,
        dir: InodeNo,
        contents: &mut Vec<ContentWrite>,
        trees: &mut Vec<(ContentHash, Vec<u8>)>,
    ) -> VfsResult<Subtree> {
        if !matches!(self.node(dir)?.kind, NodeKind::Dir { .. }) {
            return Err(vfs_err!(libc::ENOTDIR, "inode {} is not a directory", dir.0));
        }
        self.post_order(dir, |state, d| state.encode_dir(d, contents, trees))
    }

    /// Encodes one directory whose subdirectories are encoded already.
    fn encode_dir(
        &mut self,
        dir: InodeNo,
        contents: &mut Vec<ContentWrite>,
        trees: &mut Vec<(ContentHash, Vec<u8>)>,
    ) -> VfsResult<()> {
        let children: Vec<(Vec<u8>, InodeNo)> = match &self.node(dir)?.kind {
            NodeKind::Dir { children, .. } => {
                children.iter().map(|(n, i)| (n.clone(), *i)).collect()
            }
            _ => return Err(vfs_err!(libc::ENOTDIR, "inode {} is not a directory", dir.0)),
        };
        let mut entries = Vec::with_capacity(children.len());
        let (mut files, mut bytes) = (0, 0);
        for (name, ino) in children {
            let kind = match &self.node(ino)?.kind {
                NodeKind::Dir { .. } => {
                    let sub = self.encoded.get(&ino).copied().ok_or_else(|| {
                        vfs_err!(libc::EIO, "directory {} encoded before its child", dir.0)
                    })?;
                    files += sub.files;
                    bytes += sub.bytes;
                    EntryKind::Dir { tree: sub.tree }
                }
                NodeKind::Symlink { target } => EntryKind::Symlink { target: target.clone() },
                NodeKind::Special { kind, rdev } => EntryKind::Special { kind: *kind, rdev: *rdev },
                NodeKind::File { .. } => {
                    let (content, size) = self.file_hash(ino, contents)?;
                    bytes += size;
                    EntryKind::File { content, size }
                }
            };
            if !matches!(kind, EntryKind::Dir { .. }) {
                files += 1;
            }
            let node = self.node(ino)?;
            entries.push(Entry {
                name,
                kind,
                mode: node.mode,
                mtime: node.mtime,
                owner: node.owner,
                xattrs: node.xattrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            });
        }
        let tree = Tree::new(entries)?;
        let encoded = tree.encode();
        let done = Subtree { tree: ContentHash::of(&encoded), files, bytes };
        trees.push((done.tree, encoded));
        self.encoded.insert(dir, done);
        Ok(())
    }

    /// Forgets the hashes of contents a failed flush queued for the store,
    /// so that the next flush queues them again.
    fn rehash(&mut self, queued: &HashSet<ContentHash>) {
        for node in self.nodes.values_mut() {
            match &mut node.kind {
                NodeKind::File { data: Data::Mem { hash, .. } }
                    if hash.is_some_and(|h| queued.contains(&h)) =>
                {
                    *hash = None;
                }
                NodeKind::File { data: Data::Large(large) }
                    if large.hash().is_some_and(|h| queued.contains(&h)) =>
                {
                    large.unseal();
                }
                _ => {}
            }
        }
    }

    /// After a flush wrote `queued`: large files among them let go of the
    /// chunks they had in memory.
    fn settle(&mut self, queued: &HashSet<ContentHash>) {
        for node in self.nodes.values_mut() {
            if let NodeKind::File { data: Data::Large(large) } = &mut node.kind
                && large.hash().is_some_and(|h| queued.contains(&h))
            {
                large.settle();
            }
        }
    }

    /// A file's content hash, hashing (and queueing for the store) content
    /// written since the last flush.
    fn file_hash(
        &mut self,
        ino: InodeNo,
        contents: &mut Vec<ContentWrite>,
    ) -> VfsResult<(ContentHash, u64)> {
        let node = self.node_mut(ino)?;
        let NodeKind::File { data } = &mut node.kind else {
            return Err(vfs_err!(libc::EIO, "inode {} is not a file", ino.0));
        };
        match data {
            Data::Stored { hash, size } => Ok((*hash, *size)),
            Data::Mem { bytes, hash: Some(hash) } => Ok((*hash, bytes.len() as u64)),
            Data::Mem { bytes, hash } => {
                let h = ContentHash::of(bytes);
                *hash = Some(h);
                contents.push(ContentWrite::Whole(h, bytes.clone()));
                Ok((h, bytes.len() as u64))
            }
            Data::Large(large) => match large.hash() {
                Some(hash) => Ok((hash, large.size())),
                None => {
                    let sealed = large.seal().map_err(|index| {
                        vfs_err!(libc::EAGAIN, "chunk {index} of inode {} was not read", ino.0)
                    })?;
                    let done = (sealed.hash, sealed.size);
                    contents.push(ContentWrite::Chunked(sealed));
                    Ok(done)
                }
            },
        }
    }
}

fn check_name(name: &[u8]) -> VfsResult<()> {
    if name.len() > NAME_MAX {
        return Err(vfs_err!(libc::ENAMETOOLONG, "name longer than {NAME_MAX} bytes"));
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return Err(vfs_err!(libc::EINVAL, "invalid name {}", show(name)));
    }
    Ok(())
}

fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}
