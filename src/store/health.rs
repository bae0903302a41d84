//! Fail-stop: once the store could not write (a full disk, an I/O error),
//! nothing more is written to it by this process.
//!
//! Databases stop at the first failed fsync for a reason this store showed
//! (issue 14): SurrealKV's write-ahead log keeps a torn record where a
//! write failed for lack of space; commits appended after it once space
//! came back were acknowledged, then dropped by recovery, which stops at the
//! tear. So the first storage failure seen (an OS error in any answer of
//! the engine) is recorded here, and every write after it is refused with
//! [`Error::StoreFailed`] before it reaches the engine: writers get ENOSPC
//! or EIO, readers go on, `cortex status` says so, and a fresh open of the
//! store recovers it, the tear cut off at the tail: the daemon reopens its
//! store in place once the disk has room (`Store::reopen`), the next
//! command or daemon otherwise.
//!
//! One record per process. The binaries (`cortex`, `cortex-mountd`), each
//! of which opens at most one embedded store (its lock), enable it; it is
//! armed when that store is opened. A test process opening many stores at
//! once does not enable it, so one test's deleted directory cannot stop
//! another's writes; and a remote store never arms it (a connection
//! refused is an OS error too, the network's, passing).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::error::Failure;
use crate::error::{DbErrorKind, Error, Result};

/// Why writes stopped, once they have.
static FAILED: Mutex<Option<Failure>> = Mutex::new(None);
/// This process watches its embedded store's errors (`enable`).
static ENABLED: AtomicBool = AtomicBool::new(false);
/// An embedded store is open in a process that watches: its errors count.
static ARMED: AtomicBool = AtomicBool::new(false);

/// Fail-stop for this process's embedded store: called first thing by the
/// binaries.
pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

/// An embedded store was opened: from now on its errors are watched, if
/// this process enabled it.
pub(crate) fn arm() {
    if ENABLED.load(Ordering::SeqCst) {
        ARMED.store(true, Ordering::SeqCst);
    }
}

fn failed() -> std::sync::MutexGuard<'static, Option<Failure>> {
    FAILED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The failure that stopped writes, if one did.
pub fn failure() -> Option<Failure> {
    failed().clone()
}

/// The store was reopened cleanly (`Store::reopen`): writes go on.
pub(crate) fn clear() {
    if failed().take().is_some() {
        tracing::info!("the store was reopened: writes are taken again");
    }
}

/// Refuses a write once the store has failed.
pub(crate) fn check_writable() -> Result<()> {
    match failure() {
        Some(f) => Err(Error::StoreFailed(f)),
        None => Ok(()),
    }
}

/// Looks at an engine error: an operating-system error (the engine passes
/// them on as text, "… (os error 28)") stops writes from now on.
pub(crate) fn observe(message: &str) -> Option<Failure> {
    if !ARMED.load(Ordering::SeqCst) {
        return None;
    }
    let failure = classify(message)?;
    let mut slot = failed();
    if slot.is_none() {
        tracing::error!(
            "the store failed to write ({message}); no more writes go to it until it is opened \
             again: a daemon does so by itself once the disk has room (writes already in a mount \
             stay there, readable, and are saved then)"
        );
        *slot = Some(failure);
    }
    slot.clone()
}

/// An error from SurrealDB, with what the store was doing. A storage
/// failure in it (an OS error) stops writes (`observe`).
pub(crate) fn db_error(context: impl Into<String>, err: surrealdb::Error) -> Error {
    let kind = if err.is_already_exists() {
        DbErrorKind::AlreadyExists
    } else if err.is_not_found() {
        DbErrorKind::NotFound
    } else if super::retry::is_conflict(&err) {
        DbErrorKind::Conflict
    } else {
        DbErrorKind::Other
    };
    match observe(&err.to_string()) {
        Some(failure) => Error::StoreFailed(failure),
        None => Error::Db { context: context.into(), kind, source: Box::new(err) },
    }
}

/// The storage failure an engine error reports, if it is one.
fn classify(message: &str) -> Option<Failure> {
    if !message.contains("(os error ") {
        return None;
    }
    let no_space = ["(os error 28)", "(os error 122)"].iter().any(|code| message.contains(code));
    Some(Failure { reason: message.to_owned(), no_space })
}

#[cfg(test)]
mod tests {
    use super::*;

    // `observe` itself is process-wide state, tried through a real full
    // disk by `cli::disk_full`; here only what counts as a failure.
    #[test]
    fn os_errors_are_storage_failures_other_errors_are_not() {
        assert!(classify("Transaction conflict: Write conflict, can be retried").is_none());
        assert!(classify("the record already exists").is_none());
        let full = classify("Datastore: No space left on device (os error 28)").unwrap();
        assert!(full.no_space);
        assert!(classify("Disk quota exceeded (os error 122)").unwrap().no_space);
        assert!(!classify("Input/output error (os error 5)").unwrap().no_space);
    }
}
