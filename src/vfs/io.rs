//! File contents: reading, writing and resizing, small files held whole
//! and large ones by chunk (`large.rs`), fetched from the store on first
//! need.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::ids::{ContentHash, InodeNo};
use crate::tree::{MODE_MASK, Timestamp};
use crate::vfs_err;
use large::{Fetched, Large};

impl Vfs {
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

    /// What the content cache holds, and its hits and misses so far.
    pub fn content_cache(&self) -> CacheUse {
        let state = self.lock();
        CacheUse {
            held: state.kept_bytes,
            budget: state.budget,
            hits: self.hits.load(std::sync::atomic::Ordering::Relaxed),
            misses: self.misses.load(std::sync::atomic::Ordering::Relaxed),
        }
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
        let mut loaded = None;
        if !self.open_large(ino).await? {
            let bytes = self.ensure_loaded(ino).await?;
            if end > LARGE {
                self.make_large(ino, &bytes)?;
            }
            loaded = Some(bytes);
        }
        let done = self
            .with_large(
                ino,
                |large| large.needs_for_write(offset, data.len() as u64),
                |large, fetched| large.write(offset, data, fetched),
            )
            .await?;
        match done {
            None => self.write_small(ino, offset, end, data, loaded.as_ref())?,
            Some(()) => self.spill_large(ino).await?,
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
    pub(super) fn write_small(
        &self,
        ino: InodeNo,
        offset: u64,
        end: u64,
        data: &[u8],
        loaded: Option<&Arc<Vec<u8>>>,
    ) -> VfsResult<()> {
        let mut state = self.lock();
        if let Some(loaded) = loaded {
            state.hold(ino, loaded)?;
        }
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
    pub(super) fn file_size(&self, ino: InodeNo) -> VfsResult<u64> {
        match &self.lock().node(ino)?.kind {
            NodeKind::File { data } => Ok(data.size()),
            NodeKind::Dir { .. } => Err(vfs_err!(libc::EISDIR, "inode {} is a directory", ino.0)),
            _ => Err(vfs_err!(libc::EINVAL, "inode {} is not a regular file", ino.0)),
        }
    }

    /// Sets a file's size: a large file by chunk (a hole to grow, chunks
    /// dropped to shrink), a small one in memory; crossing [`LARGE`] moves
    /// it between the two.
    pub(super) async fn set_size(&self, ino: InodeNo, size: u64) -> VfsResult<()> {
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
        let mut loaded = None;
        if !large {
            let bytes = self.ensure_loaded(ino).await?;
            if size > LARGE {
                self.make_large(ino, &bytes)?;
            }
            loaded = Some(bytes);
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
            if let Some(loaded) = &loaded {
                state.hold(ino, loaded)?;
            }
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

    /// Writes the older of a large file's written chunks to the store once
    /// it holds more than `large::DIRTY_HELD`, so that writing a file of
    /// any size holds only a few of its chunks (`Large::spill`).
    async fn spill_large(&self, ino: InodeNo) -> VfsResult<()> {
        let chunks = match &mut self.lock().node_mut(ino)?.kind {
            NodeKind::File { data: Data::Large(large) } => large.spill(),
            _ => return Ok(()),
        };
        if chunks.is_empty() {
            return Ok(());
        }
        // The write itself is done: a store that cannot take the chunks now
        // leaves them in memory, and the flush reports the failure.
        for (_, hash, bytes) in &chunks {
            if let Err(e) = self.store.objects().put_chunk(*hash, bytes.to_vec()).await {
                tracing::warn!("chunks of inode {} stay in memory until the flush: {e}", ino.0);
                return Ok(());
            }
        }
        if let NodeKind::File { data: Data::Large(large) } = &mut self.lock().node_mut(ino)?.kind {
            large.spilled(&chunks);
        }
        Ok(())
    }

    /// Turns a small file in memory into a large one (it is growing past
    /// [`LARGE`]).
    pub(super) fn make_large(&self, ino: InodeNo, loaded: &Arc<Vec<u8>>) -> VfsResult<()> {
        let mut state = self.lock();
        state.hold(ino, loaded)?;
        if let NodeKind::File { data } = &mut state.node_mut(ino)?.kind
            && let Data::Mem { bytes, .. } = data
        {
            *data = Data::Large(Box::new(Large::from_bytes(bytes)));
        }
        Ok(())
    }

    /// True when the file is large (held by chunk): a stored one over
    /// [`LARGE`] is opened so, by its chunk list, nothing of it read.
    pub(super) async fn open_large(&self, ino: InodeNo) -> VfsResult<bool> {
        let hash = {
            let state = self.lock();
            match &state.node(ino)?.kind {
                NodeKind::File { data: Data::Large(_) } => return Ok(true),
                NodeKind::File { data: Data::Stored { hash, size } } if *size > LARGE => *hash,
                _ => return Ok(false),
            }
        };
        let chunks = self.store.objects().blob_chunks(hash).await?;
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
    pub(super) async fn with_large<T>(
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

    pub(super) async fn read_large(
        &self,
        ino: InodeNo,
        offset: u64,
        size: u64,
    ) -> VfsResult<Vec<u8>> {
        self.with_large(ino, |l| l.needs_for_read(offset, size), |l, f| l.read(offset, size, f))
            .await?
            .ok_or_else(|| vfs_err!(libc::EAGAIN, "content of inode {} changed while read", ino.0))
    }

    /// Stored chunks' bytes, by index.
    pub(super) async fn fetch(&self, wanted: &[(u64, ContentHash)]) -> VfsResult<Fetched> {
        let mut out = Fetched::with_capacity(wanted.len());
        for (index, hash) in wanted {
            out.insert(*index, Arc::new(self.store.objects().read_chunk(*hash).await?));
        }
        Ok(out)
    }

    /// The content of a small file, reading it from the store the first time,
    /// together with the small files that follow it in its directory (see
    /// [`State::read_ahead`]).
    pub(super) async fn ensure_loaded(&self, ino: InodeNo) -> VfsResult<Arc<Vec<u8>>> {
        let (hash, ahead) = {
            let state = self.lock();
            match &state.node(ino)?.kind {
                NodeKind::File { data: Data::Mem { bytes, .. } } => {
                    self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    crate::metrics::global().content_cache.count(true);
                    return Ok(bytes.clone());
                }
                NodeKind::File { data: Data::Stored { hash, .. } } => {
                    self.misses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    crate::metrics::global().content_cache.count(false);
                    (*hash, state.read_ahead(ino))
                }
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
        // Read outside the lock, in one query: other requests go on meanwhile.
        let wanted: Vec<ContentHash> =
            std::iter::once(hash).chain(ahead.iter().map(|&(_, h)| h)).collect();
        let found = self.store.objects().read_blobs(&wanted).await?;
        let found: HashMap<ContentHash, Arc<Vec<u8>>> =
            found.into_iter().map(|(h, b)| (h, Arc::new(b))).collect();
        let mut state = self.lock();
        for (sibling, h) in ahead {
            // A sibling changed meanwhile keeps what it has now.
            let _ = state.install(sibling, h, &found[&h]);
        }
        state.install(ino, hash, &found[&hash])
    }

    /// Learns the chaining values a flush needs of large files written
    /// since the last one: their stored chunks not in memory are read, one
    /// at a time (a flush must not hold a whole large file).
    pub(super) async fn prepare_large(&self) -> VfsResult<()> {
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
}
