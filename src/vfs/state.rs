//! A view's inodes in memory: the node table, names, links and the
//! bookkeeping of what changed since the last flush.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use super::*;
use crate::ids::{ContentHash, InodeNo};
use crate::snapshot;
use crate::store::Snapshot;
use crate::tree::{Entry, EntryKind, MODE_MASK, SpecialKind, Timestamp};
use crate::vfs_err;
use large::{Large, Sealed};

/// Most files read ahead with one read from the store (see
/// [`State::read_ahead`]), and most bytes.
pub(super) const AHEAD_FILES: usize = 64;
pub(super) const AHEAD_BYTES: u64 = 2 << 20;

#[derive(Clone)]
pub(super) enum Data {
    /// In the store, not yet read.
    Stored { hash: ContentHash, size: u64 },
    /// In memory; `hash` is `None` once written and until flushed.
    Mem { bytes: Arc<Vec<u8>>, hash: Option<ContentHash> },
    /// Over [`LARGE`]: by chunk, read and written in place.
    Large(Box<Large>),
}

impl Data {
    pub(super) fn size(&self) -> u64 {
        match self {
            Data::Stored { size, .. } => *size,
            Data::Mem { bytes, .. } => bytes.len() as u64,
            Data::Large(large) => large.size(),
        }
    }
}

/// A content a flush writes: whole, or (a large file) by chunk.
pub(super) enum ContentWrite {
    Whole(ContentHash, Arc<Vec<u8>>),
    Chunked(Sealed),
}

impl ContentWrite {
    pub(super) fn hash(&self) -> ContentHash {
        match self {
            ContentWrite::Whole(hash, _) => *hash,
            ContentWrite::Chunked(sealed) => sealed.hash,
        }
    }
}

#[derive(Clone)]
pub(super) enum NodeKind {
    Dir { children: BTreeMap<Vec<u8>, InodeNo>, parent: InodeNo },
    File { data: Data },
    Symlink { target: Vec<u8> },
    Special { kind: SpecialKind, rdev: u64 },
}

#[derive(Clone)]
pub(super) struct Node {
    pub(super) kind: NodeKind,
    pub(super) mode: u32,
    pub(super) owner: Option<(u32, u32)>,
    pub(super) atime: Timestamp,
    pub(super) mtime: Timestamp,
    pub(super) ctime: Timestamp,
    pub(super) nlink: u32,
    /// References the kernel holds (lookups not yet forgotten).
    pub(super) lookups: u64,
    /// The directories naming this inode, once per name.
    pub(super) parents: Vec<InodeNo>,
    pub(super) xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Node {
    pub(super) fn file_kind(&self) -> FileKind {
        match self.kind {
            NodeKind::Dir { .. } => FileKind::Dir,
            NodeKind::File { .. } => FileKind::File,
            NodeKind::Symlink { .. } => FileKind::Symlink,
            NodeKind::Special { kind, .. } => FileKind::Special(kind),
        }
    }
}

pub(super) struct State {
    pub(super) nodes: HashMap<InodeNo, Node>,
    pub(super) next_ino: u64,
    /// The snapshot the view was last flushed to (or loaded from).
    pub(super) head: Snapshot,
    /// Changed since `head`.
    pub(super) changed: bool,
    /// Directories whose subtree is unchanged since it was last encoded,
    /// with that encoding: a flush re-encodes only the rest. Invariant: a
    /// directory missing here has every ancestor missing too.
    pub(super) encoded: HashMap<InodeNo, Subtree>,
    /// Clean contents held in memory (`Data::Mem` with a hash), oldest
    /// first, with their sizes; `kept_bytes` their sum, at most `budget`
    /// after each [`State::keep`]. An entry whose file changed since is
    /// dropped when its turn comes.
    pub(super) kept: VecDeque<(InodeNo, ContentHash, u64)>,
    pub(super) kept_bytes: u64,
    pub(super) budget: u64,
}

/// What encoding a directory's subtree gave.
#[derive(Clone, Copy, Debug)]
pub(super) struct Subtree {
    pub(super) tree: ContentHash,
    /// Files, symlinks and special files below it, and the files' bytes.
    pub(super) files: u64,
    pub(super) bytes: u64,
}

pub(super) fn check_name(name: &[u8]) -> VfsResult<()> {
    if name.len() > NAME_MAX {
        return Err(vfs_err!(libc::ENAMETOOLONG, "name longer than {NAME_MAX} bytes"));
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return Err(vfs_err!(libc::EINVAL, "invalid name {}", show(name)));
    }
    Ok(())
}

pub(super) fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

impl State {
    /// A view of `head` from the entries of the tree `root_tree` (parents
    /// before children): `head`'s own tree, or it with this view's
    /// unflushed changes over it (`refresh`). With
    /// `old`, paths that exist in both keep their inode numbers and kernel
    /// references, read contents stay cached, unflushed contents win, and
    /// inodes the kernel still holds but that are gone stay as orphans.
    pub(super) fn build(
        head: Snapshot,
        root_tree: ContentHash,
        entries: Vec<(Vec<u8>, Entry)>,
        old: Option<&State>,
        budget: u64,
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
            kept: VecDeque::new(),
            kept_bytes: 0,
            budget,
        };
        // The stored tree of each directory, and files written but not flushed.
        let mut trees: HashMap<InodeNo, ContentHash> = HashMap::from([(InodeNo::ROOT, root_tree)]);
        let mut unflushed = Vec::new();
        let root = root_node(old.and_then(|o| o.nodes.get(&InodeNo::ROOT)), now);
        state.nodes.insert(InodeNo::ROOT, root);
        let mut dirs: HashMap<Vec<u8>, InodeNo> = HashMap::new();
        dirs.insert(Vec::new(), InodeNo::ROOT);
        for (path, entry) in entries {
            let parent_len = path.iter().rposition(|&b| b == b'/').unwrap_or(0);
            let parent = dirs[&path[..parent_len]];
            let previous = old_paths.get(&path).and_then(|ino| {
                let node = old?.nodes.get(ino)?;
                same_kind(&node.kind, &entry.kind).then_some((*ino, node))
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
                    let (data, flushed) = file_data(previous.map(|(_, n)| n), content, size);
                    if !flushed {
                        unflushed.push(ino);
                    } else if let Data::Mem { bytes, .. } = &data {
                        state.kept.push_back((ino, content, bytes.len() as u64));
                        state.kept_bytes += bytes.len() as u64;
                    }
                    NodeKind::File { data }
                }
                EntryKind::Symlink { target } => NodeKind::Symlink { target },
                EntryKind::Special { kind, rdev } => NodeKind::Special { kind, rdev },
            };
            let lookups = previous.map_or(0, |(_, n)| n.lookups);
            let meta = (entry.mode, entry.mtime, entry.owner, entry.xattrs);
            state.nodes.insert(ino, node_of(kind, meta, lookups));
            state.link_child(parent, entry.name, ino);
        }
        state.seed_encoded(InodeNo::ROOT, &trees);
        for ino in unflushed {
            state.dirty(ino);
        }
        if let Some(old) = old {
            state.keep_orphans(old);
        }
        state
    }

    /// Holds the clean content `hash` of `ino` in memory, within the budget:
    /// the oldest held go back to `Stored` (read again from the store when
    /// asked for). Readers holding the bytes keep their copy.
    pub(super) fn keep(&mut self, ino: InodeNo, hash: ContentHash, size: u64) {
        self.kept.push_back((ino, hash, size));
        self.kept_bytes += size;
        while self.kept_bytes > self.budget {
            let Some((ino, hash, size)) = self.kept.pop_front() else { break };
            self.kept_bytes -= size;
            if let Some(node) = self.nodes.get_mut(&ino)
                && let NodeKind::File { data } = &mut node.kind
                && matches!(data, Data::Mem { hash: Some(h), .. } if *h == hash)
            {
                *data = Data::Stored { hash, size };
            }
        }
    }

    /// Stored content read for `ino`, kept in memory if the file still
    /// has that content; what the file holds now, or EAGAIN if it changed.
    pub(super) fn install(
        &mut self,
        ino: InodeNo,
        hash: ContentHash,
        bytes: &Arc<Vec<u8>>,
    ) -> VfsResult<Arc<Vec<u8>>> {
        let node = self.node_mut(ino)?;
        match &mut node.kind {
            NodeKind::File { data } => match data {
                Data::Stored { hash: h, .. } if *h == hash => {
                    *data = Data::Mem { bytes: bytes.clone(), hash: Some(hash) };
                    self.keep(ino, hash, bytes.len() as u64);
                    Ok(bytes.clone())
                }
                Data::Mem { bytes, .. } => Ok(bytes.clone()),
                _ => Err(vfs_err!(libc::EAGAIN, "content changed while read")),
            },
            _ => Err(vfs_err!(libc::EIO, "inode {} changed kind", ino.0)),
        }
    }

    /// The files to read with `ino` when it is read from the store: those
    /// after it in its directory, in name order (how `ls`, `os.walk` and
    /// build tools list and then read them), then those of the directory's
    /// subdirectories, depth first (a top-down walk reads them next; a tree
    /// of small directories paid a query per directory), not yet in memory
    /// and small, up to [`AHEAD_FILES`] and [`AHEAD_BYTES`] (an eighth of
    /// the content cache at most). One query then serves them all: a cold
    /// read of a tree paid one store query per file.
    pub(super) fn read_ahead(&self, ino: InodeNo) -> Vec<(InodeNo, ContentHash)> {
        let parent = self.node(ino).ok().and_then(|n| n.parents.first());
        let Some(NodeKind::Dir { children, .. }) =
            parent.and_then(|p| self.nodes.get(p)).map(|n| &n.kind)
        else {
            return Vec::new();
        };
        let mut room = AHEAD_BYTES.min(self.budget / 8);
        let mut ahead = Vec::new();
        // Nodes looked at, at most: the walk stays cheap in large trees.
        let mut looks = 4 * AHEAD_FILES;
        let after = children.iter().skip_while(|&(_, &c)| c != ino).skip(1);
        let is_dir =
            |c: &InodeNo| matches!(self.nodes.get(c).map(|n| &n.kind), Some(NodeKind::Dir { .. }));
        let mut dirs: Vec<InodeNo> = children.values().rev().copied().filter(is_dir).collect();
        let mut next: Box<dyn Iterator<Item = InodeNo>> = Box::new(after.map(|(_, &c)| c));
        loop {
            for child in next {
                if ahead.len() == AHEAD_FILES || looks == 0 {
                    return ahead;
                }
                looks -= 1;
                if let Some(Node {
                    kind: NodeKind::File { data: Data::Stored { hash, size } }, ..
                }) = self.nodes.get(&child)
                    && *size <= room
                {
                    room -= size;
                    ahead.push((child, *hash));
                }
            }
            // The next subdirectory, depth first: its files, then its own.
            let Some(dir) = dirs.pop() else { return ahead };
            let Some(NodeKind::Dir { children, .. }) = self.nodes.get(&dir).map(|n| &n.kind) else {
                return ahead;
            };
            dirs.extend(children.values().rev().copied().filter(is_dir));
            next = Box::new(children.values().copied());
        }
    }

    /// Puts a file's content back in memory if the content cache let it go
    /// since `loaded` was read for it (and it is still that content): a
    /// write needs the bytes it loaded, whatever reads did meanwhile.
    pub(super) fn hold(&mut self, ino: InodeNo, loaded: &Arc<Vec<u8>>) -> VfsResult<()> {
        if let NodeKind::File { data } = &mut self.node_mut(ino)?.kind
            && let Data::Stored { hash, .. } = data
            && ContentHash::of(loaded) == *hash
        {
            *data = Data::Mem { bytes: loaded.clone(), hash: Some(*hash) };
        }
        Ok(())
    }

    /// Inodes the kernel still holds that are gone from the tree stay, as
    /// orphans (no links, no children), until it forgets them.
    fn keep_orphans(&mut self, old: &State) {
        for (ino, node) in &old.nodes {
            if node.lookups > 0 && !self.nodes.contains_key(ino) {
                let mut orphan = Node { nlink: 0, parents: Vec::new(), ..node.clone() };
                if let NodeKind::Dir { children, parent } = &mut orphan.kind {
                    children.clear();
                    *parent = *ino;
                }
                self.nodes.insert(*ino, orphan);
            }
        }
    }

    /// Every path of the view with its inode ("" is the root).
    pub(super) fn paths(&self) -> HashMap<Vec<u8>, InodeNo> {
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

    pub(super) fn alloc(&mut self) -> InodeNo {
        let ino = InodeNo(self.next_ino);
        self.next_ino += 1;
        ino
    }

    pub(super) fn node(&self, ino: InodeNo) -> VfsResult<&Node> {
        self.nodes.get(&ino).ok_or_else(|| vfs_err!(libc::ENOENT, "no inode {}", ino.0))
    }

    pub(super) fn node_mut(&mut self, ino: InodeNo) -> VfsResult<&mut Node> {
        self.nodes.get_mut(&ino).ok_or_else(|| vfs_err!(libc::ENOENT, "no inode {}", ino.0))
    }

    pub(super) fn attr(&self, ino: InodeNo, config: &VfsConfig) -> VfsResult<Attr> {
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

    pub(super) fn child(&self, parent: InodeNo, name: &[u8]) -> VfsResult<InodeNo> {
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

    pub(super) fn link_child(&mut self, parent: InodeNo, name: Vec<u8>, ino: InodeNo) {
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

    pub(super) fn unlink_child(&mut self, parent: InodeNo, name: &[u8]) -> Option<InodeNo> {
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
    pub(super) fn set_child(&mut self, parent: InodeNo, name: Vec<u8>, ino: InodeNo) {
        self.unlink_child(parent, &name);
        self.link_child(parent, name, ino);
    }

    pub(super) fn reparent(&mut self, ino: InodeNo, new_parent: InodeNo) {
        if let Some(Node { kind: NodeKind::Dir { parent, .. }, .. }) = self.nodes.get_mut(&ino) {
            *parent = new_parent;
        }
    }

    /// True when `ancestor` is `ino` or one of its parents.
    pub(super) fn is_ancestor(&self, ancestor: InodeNo, mut ino: InodeNo) -> bool {
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
    pub(super) fn remove_name(&mut self, parent: InodeNo, name: &[u8], ino: InodeNo) {
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
    pub(super) fn dirty(&mut self, ino: InodeNo) {
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

    pub(super) fn reap(&mut self, ino: InodeNo) {
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

    pub(super) fn touch_dir(&mut self, dir: InodeNo, now: Timestamp) {
        if let Some(node) = self.nodes.get_mut(&dir) {
            node.mtime = now;
            node.ctime = now;
        }
    }
}

/// A stored entry's mode, time, owner and extended attributes.
type EntryMeta = (u32, Timestamp, Option<(u32, u32)>, Vec<(Vec<u8>, Vec<u8>)>);

/// The node of a stored entry.
fn node_of(kind: NodeKind, (mode, mtime, owner, xattrs): EntryMeta, lookups: u64) -> Node {
    let nlink = if matches!(kind, NodeKind::Dir { .. }) { 2 } else { 1 };
    Node {
        kind,
        mode: mode & MODE_MASK,
        owner,
        atime: mtime,
        mtime,
        ctime: mtime,
        nlink,
        lookups,
        parents: Vec::new(),
        xattrs: xattrs.into_iter().collect(),
    }
}

/// An inode keeps its number across a rebuild only as the same kind.
fn same_kind(node: &NodeKind, entry: &EntryKind) -> bool {
    matches!(
        (node, entry),
        (NodeKind::Dir { .. }, EntryKind::Dir { .. })
            | (NodeKind::File { .. }, EntryKind::File { .. })
            | (NodeKind::Symlink { .. }, EntryKind::Symlink { .. })
            | (NodeKind::Special { .. }, EntryKind::Special { .. })
    )
}

/// The root directory: as it was (times, mode, lookups), else new.
fn root_node(old: Option<&Node>, now: Timestamp) -> Node {
    let kind = NodeKind::Dir { children: BTreeMap::new(), parent: InodeNo::ROOT };
    match old {
        Some(r) => Node { kind, nlink: 2, ..r.clone() },
        None => Node {
            kind,
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
    }
}

/// A file's data when the view is built again: what the inode held, if
/// it holds this content or content not yet flushed (writes are never
/// lost to a refresh), else the stored content. With whether it is
/// flushed.
fn file_data(previous: Option<&Node>, content: ContentHash, size: u64) -> (Data, bool) {
    match previous.map(|n| &n.kind) {
        Some(NodeKind::File { data: Data::Mem { bytes, hash } })
            if hash.is_none() || *hash == Some(content) =>
        {
            (Data::Mem { bytes: bytes.clone(), hash: *hash }, hash.is_some())
        }
        Some(NodeKind::File { data: Data::Large(large) })
            if large.hash().is_none() || large.hash() == Some(content) =>
        {
            (Data::Large(large.clone()), large.hash().is_some())
        }
        _ => (Data::Stored { hash: content, size }, true),
    }
}
