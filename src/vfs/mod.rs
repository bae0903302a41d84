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
//!
//! The files: `types.rs` what operations take and answer; `state.rs` the
//! inodes in memory; `ops.rs` the namespace (lookup, readdir, create, link,
//! rename, xattrs, statfs); `io.rs` contents (read, write, resize), with
//! `large.rs` and `chunks.rs` for files held by chunk; `flush.rs` encoding
//! and committing; `refresh.rs` catching up with a main that moved.

mod chunks;
mod error;
mod flush;
mod io;
mod large;
mod ops;
mod refresh;
mod state;
mod types;

use std::sync::{Arc, Mutex, MutexGuard};

pub use error::{VfsError, VfsResult};
use state::*;
pub use types::*;

use crate::snapshot;
use crate::store::{Snapshot, Store};
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

/// How many times an operation on a large file fetches what it needs
/// before giving up (the file keeps changing under it): EAGAIN.
const FETCH_ROUNDS: usize = 8;

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
    /// Content reads answered from memory, and from the store.
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vfs").field("config", &self.config).finish()
    }
}

impl Vfs {
    /// Loads main's head into memory.
    pub async fn load(store: Arc<Store>, config: VfsConfig) -> VfsResult<Vfs> {
        let head = store.history().head().await?;
        let entries = snapshot::walk(&store, head.root).await?;
        let root = head.root;
        let state = State::build(head, root, entries, None, config.content_cache);
        Ok(Vfs {
            store,
            config,
            state: Mutex::new(state),
            flushing: tokio::sync::Mutex::new(()),
            stashed: Mutex::new(Vec::new()),
            hits: Default::default(),
            misses: Default::default(),
        })
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
}
