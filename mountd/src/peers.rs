//! The mounts of one view, and keeping their kernel caches coherent.
//!
//! The kernel caches names, attributes, listings and pages for as long as
//! the daemon lets it (long: see `fuse::TTL`). What the kernel itself
//! changes through one mount it already knows; what comes from elsewhere it
//! must be told. Elsewhere is an import into main, or another mount of the
//! same view: each mount reports its changes here and a thread passes them
//! on to the other mounts as invalidations.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

use cortex::vfs::Invalidation;

/// Which mount a change came through.
pub type MountId = u64;

type Notifiers = Arc<Mutex<Vec<(MountId, fuser::Notifier)>>>;

pub struct Peers {
    notifiers: Notifiers,
    /// How many mounts are registered: with one there is nobody to tell.
    count: AtomicUsize,
    queue: Mutex<Sender<(MountId, Vec<Invalidation>)>>,
}

impl Peers {
    /// Starts the thread that passes changes on; it ends with the last
    /// reference to the returned value.
    pub fn new() -> Arc<Peers> {
        let notifiers: Notifiers = Arc::default();
        let (tx, rx) = channel::<(MountId, Vec<Invalidation>)>();
        let theirs = notifiers.clone();
        std::thread::Builder::new()
            .name("invalidate".into())
            .spawn(move || {
                for (from, changes) in rx {
                    invalidate(&theirs, Some(from), &changes);
                }
            })
            .expect("spawn the invalidation thread");
        Arc::new(Peers { notifiers, count: AtomicUsize::new(0), queue: Mutex::new(tx) })
    }

    pub fn add(&self, id: MountId, notifier: fuser::Notifier) {
        let mut all = self.notifiers.lock().unwrap();
        all.push((id, notifier));
        self.count.store(all.len(), Ordering::SeqCst);
    }

    pub fn remove(&self, id: MountId) {
        let mut all = self.notifiers.lock().unwrap();
        all.retain(|(other, _)| *other != id);
        self.count.store(all.len(), Ordering::SeqCst);
    }

    /// True when a change through one mount concerns another.
    pub fn shared(&self) -> bool {
        self.count.load(Ordering::SeqCst) > 1
    }

    /// A mount changed these: the other mounts drop them, soon. Queued, not
    /// done here: a FUSE thread must not wait on another mount's kernel.
    pub fn changed(&self, from: MountId, changes: Vec<Invalidation>) {
        let _ = self.queue.lock().unwrap().send((from, changes));
    }

    /// Main changed from outside every mount (an import): all mounts drop
    /// these before this returns.
    pub fn changed_outside(&self, changes: &[Invalidation]) {
        invalidate(&self.notifiers, None, changes);
    }
}

/// Tells each mount but `except` to drop what changed. ENOENT means the
/// kernel had nothing cached for it, which is fine.
fn invalidate(notifiers: &Notifiers, except: Option<MountId>, changes: &[Invalidation]) {
    use std::os::unix::ffi::OsStrExt;
    let targets: Vec<fuser::Notifier> = notifiers
        .lock()
        .unwrap()
        .iter()
        .filter(|(id, _)| Some(*id) != except)
        .map(|(_, n)| n.clone())
        .collect();
    for notifier in &targets {
        for change in changes {
            let result = match change {
                Invalidation::Entry { parent, name } => notifier
                    .inval_entry(fuser::INodeNo(parent.0), std::ffi::OsStr::from_bytes(name)),
                Invalidation::Inode(ino) => notifier.inval_inode(fuser::INodeNo(ino.0), 0, 0),
            };
            if let Err(e) = result
                && e.raw_os_error() != Some(libc::ENOENT)
            {
                tracing::debug!("invalidate {change:?}: {e}");
            }
        }
    }
}
