//! Work somebody is waiting for (an agent's call, a command through the
//! daemon) and background work that should wait for it.
//!
//! The daemon marks each request it answers with [`busy`]; the embedding
//! workers call [`wait_for_quiet`] before each batch. Lowering the workers'
//! priority alone was not enough: measured with eight MCP clients over
//! HTTP on two cores (`scripts/bench-mcp.sh --http`), at nice 10 and at
//! nice 19 alike they took about a third of the daemon's CPU and the
//! calls ran at 101/s, against 128/s with no embedding at all (the model's
//! weights sweep the caches the answers need).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Requests being answered.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// When the last one ended, in ms since `EPOCH`.
static LAST_END: AtomicU64 = AtomicU64::new(0);
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// How long after a request background work still waits: an agent's next
/// call follows its last one within a few milliseconds.
const QUIET: Duration = Duration::from_millis(50);

/// A request being answered, until dropped.
#[must_use = "the request counts as answered once this is dropped"]
pub struct Busy(());

/// Marks a request as being answered.
pub fn busy() -> Busy {
    LazyLock::force(&EPOCH);
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    Busy(())
}

impl Drop for Busy {
    fn drop(&mut self) {
        LAST_END.store(EPOCH.elapsed().as_millis() as u64, Ordering::SeqCst);
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// True while a request is answered or has just been.
pub fn is_busy() -> bool {
    if IN_FLIGHT.load(Ordering::SeqCst) > 0 {
        return true;
    }
    let last = LAST_END.load(Ordering::SeqCst);
    last > 0 && (EPOCH.elapsed().as_millis() as u64) < last + QUIET.as_millis() as u64
}

/// Blocks while requests are being answered, for at most `most`: background
/// work still moves on under a steady load, a step every `most`.
pub fn wait_for_quiet(most: Duration) {
    let started = Instant::now();
    while is_busy() && started.elapsed() < most {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_while_a_request_runs_and_just_after() {
        let request = busy();
        assert!(is_busy());
        wait_for_quiet(Duration::from_millis(30));
        assert!(is_busy(), "gave up waiting, the request still running");
        drop(request);
        assert!(is_busy(), "just after a request");
        wait_for_quiet(Duration::from_secs(60));
        assert!(!is_busy(), "quiet once QUIET has passed");
    }
}
