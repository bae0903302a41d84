//! The namespace: lookups, listings, names made, linked, removed and
//! renamed, extended attributes, and `statfs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::ids::InodeNo;
use crate::tree::{MODE_MASK, SpecialKind, Timestamp};
use crate::vfs_err;

impl Vfs {
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

    pub(super) fn make(
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

    /// What removing or replacing the name `name` in `parent` touches in
    /// the kernel's caches: the name, the directory, and the inode it named.
    fn name_changes(&self, parent: InodeNo, name: &[u8]) -> Vec<Invalidation> {
        let mut out =
            vec![Invalidation::Entry { parent, name: name.to_vec() }, Invalidation::Inode(parent)];
        out.extend(self.peek(parent, name).map(Invalidation::Inode));
        out
    }

    /// Removes a file's name; answers what the kernel must forget.
    pub fn unlink(&self, parent: InodeNo, name: &[u8]) -> VfsResult<Vec<Invalidation>> {
        let touched = self.name_changes(parent, name);
        self.unlink_name(parent, name)?;
        Ok(touched)
    }

    fn unlink_name(&self, parent: InodeNo, name: &[u8]) -> VfsResult<()> {
        self.writable()?;
        let mut state = self.lock();
        let ino = state.child(parent, name)?;
        if matches!(state.node(ino)?.kind, NodeKind::Dir { .. }) {
            return Err(vfs_err!(libc::EISDIR, "{} is a directory", show(name)));
        }
        state.remove_name(parent, name, ino);
        Ok(())
    }

    /// Removes an empty directory; answers what the kernel must forget.
    pub fn rmdir(&self, parent: InodeNo, name: &[u8]) -> VfsResult<Vec<Invalidation>> {
        let touched = self.name_changes(parent, name);
        self.rmdir_name(parent, name)?;
        Ok(touched)
    }

    fn rmdir_name(&self, parent: InodeNo, name: &[u8]) -> VfsResult<()> {
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

    /// Renames; answers what the kernel must forget: both names, both
    /// directories, the inode moved and the one it replaced.
    pub fn rename(
        &self,
        parent: InodeNo,
        name: &[u8],
        new_parent: InodeNo,
        new_name: &[u8],
        mode: RenameMode,
    ) -> VfsResult<Vec<Invalidation>> {
        let mut touched = self.name_changes(parent, name);
        touched.extend(self.name_changes(new_parent, new_name));
        self.rename_names(parent, name, new_parent, new_name, mode)?;
        Ok(touched)
    }

    fn rename_names(
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
                    replaceable(&state, victim, parent, moving_dir, new_name)?;
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
}

/// Whether a rename may replace `victim` (named `new_name`) with what
/// moves out of `parent` (a directory when `moving_dir`), as rename(2)
/// says: a directory only by a directory, and only an empty one.
fn replaceable(
    state: &State,
    victim: InodeNo,
    parent: InodeNo,
    moving_dir: bool,
    new_name: &[u8],
) -> VfsResult<()> {
    // Replacing a directory that contains the source: the kernel calls
    // that "not empty", whatever the kinds.
    if state.is_ancestor(victim, parent) {
        return Err(vfs_err!(libc::ENOTEMPTY, "{} is not empty", show(new_name)));
    }
    match (&state.node(victim)?.kind, moving_dir) {
        (NodeKind::Dir { children, .. }, true) if !children.is_empty() => {
            Err(vfs_err!(libc::ENOTEMPTY, "{} is not empty", show(new_name)))
        }
        (NodeKind::Dir { .. }, false) => {
            Err(vfs_err!(libc::EISDIR, "{} is a directory", show(new_name)))
        }
        (NodeKind::Dir { .. }, true) => Ok(()),
        (_, true) => Err(vfs_err!(libc::ENOTDIR, "{} is not a directory", show(new_name))),
        (_, false) => Ok(()),
    }
}
