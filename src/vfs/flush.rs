//! Flushing: encoding the changed part of the tree, writing its contents
//! and trees, and committing them as the view's next snapshot.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::ids::{ContentHash, InodeNo};
use crate::snapshot;
use crate::store::{NewSnapshot, Snapshot};
use crate::tree::{Entry, EntryKind, Tree};
use crate::vfs_err;

/// What one try of a flush came to.
pub(super) enum Flushed {
    /// Committed (the new snapshot), or nothing to commit.
    Done(Option<Snapshot>),
    /// Main is no longer at the head the view was flushed against.
    HeadMoved,
}

impl Vfs {
    /// Writes everything changed since the last flush to the store and
    /// commits it as the next snapshot of main. Returns that snapshot, or
    /// `None` when there was nothing to write.
    pub async fn flush(&self) -> VfsResult<Option<Snapshot>> {
        let _one_at_a_time = self.flushing.lock().await;
        let started = std::time::Instant::now();
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
                Flushed::Done(snapshot) => {
                    if snapshot.is_some() {
                        crate::metrics::global().flush.observe(started.elapsed().as_secs_f64());
                    }
                    return Ok(snapshot);
                }
                Flushed::HeadMoved => {
                    let invalidations = self.refresh_held().await?;
                    self.stashed.lock().unwrap_or_else(|p| p.into_inner()).extend(invalidations);
                }
            }
        }
        Err(vfs_err!(libc::EAGAIN, "main kept moving while this view was flushed"))
    }

    /// One try of `flush`, the flush lock held by the caller.
    pub(super) async fn flush_held(&self) -> VfsResult<Flushed> {
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
    #[tracing::instrument(name = "flush.objects", level = "debug", skip_all, fields(contents = contents.len(), trees = trees.len()))]
    pub(super) async fn write_objects(
        &self,
        contents: Vec<ContentWrite>,
        trees: Vec<(ContentHash, Vec<u8>)>,
    ) -> VfsResult<()> {
        let queued: HashSet<ContentHash> = contents.iter().map(ContentWrite::hash).collect();
        let written = async {
            for content in &contents {
                match content {
                    ContentWrite::Whole(hash, data) => {
                        self.store.objects().put_content(*hash, data).await?
                    }
                    ContentWrite::Chunked(sealed) => {
                        for (hash, data) in &sealed.new {
                            self.store.objects().put_chunk(*hash, data.to_vec()).await?;
                        }
                        self.store
                            .objects()
                            .put_blobs(vec![crate::store::BlobWrite::Chunked {
                                hash: sealed.hash,
                                size: sealed.size,
                                chunks: sealed.chunks.clone(),
                            }])
                            .await?;
                    }
                }
            }
            self.store.objects().put_trees(trees).await
        }
        .await;
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
    pub(super) async fn commit_tree(
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
        self.store.history().commit(new).await
    }
}

impl State {
    /// Fills `encoded` for a tree just loaded, from the stored tree hash
    /// of each directory; returns the subtree of `dir`.
    pub(super) fn seed_encoded(
        &mut self,
        dir: InodeNo,
        trees: &HashMap<InodeNo, ContentHash>,
    ) -> Subtree {
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
    pub(super) fn post_order(
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

    /// Encodes the tree below `dir`, hashing changed contents, and returns
    /// it. Only directories changed since their last encoding are encoded
    /// again; their trees and the changed contents go into the vectors.
    pub(super) fn build_tree(
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
    pub(super) fn encode_dir(
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
    pub(super) fn rehash(&mut self, queued: &HashSet<ContentHash>) {
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
    pub(super) fn settle(&mut self, queued: &HashSet<ContentHash>) {
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
    pub(super) fn file_hash(
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
                let size = bytes.len() as u64;
                // Clean once flushed: held within the content cache's budget.
                self.keep(ino, h, size);
                Ok((h, size))
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
