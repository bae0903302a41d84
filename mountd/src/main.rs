//! `cortex-mountd`: started by `cortex mount`, one per store.
//!
//! Usage: cortex-mountd (--store DIR | --runtime DIR, CORTEX_STORE=ws://…) [--foreground MOUNTPOINT [--read-only] [--allow-other]]
//!
//! Users type `cortex mount`; this binary takes only what that passes it, so
//! it parses its few arguments by hand. Logs go to stderr (the CLI sends
//! them to `.cortex/mountd.log`); CORTEX_LOG sets the filter.

use std::path::PathBuf;
use std::process::ExitCode;

use cortex::store::StoreLocation;
use cortex_mountd::daemon::{self, MountSpec};

/// jemalloc, as the `cortex` binary: see the workspace's Cargo.toml.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Stack of every thread the daemon starts (FUSE's, tokio's): a request
/// on a tree as deep as a path may name (PATH_MAX, 2,048 levels, and more
/// through relative paths) must not overflow it. Only what is touched is
/// ever paged in.
const STACK: usize = 64 << 20;

fn main() -> ExitCode {
    // SAFETY: first thing at start-up, before any thread exists (fuser
    // starts its threads with std's default size, which this sets).
    unsafe {
        std::env::set_var("RUST_MIN_STACK", STACK.to_string());
        cortex::embed::single_threaded_kernels();
    }
    cortex::memory::return_large_buffers();
    cortex::init_logging("info,surrealkv::lsm=error");
    cortex::store::health::enable();

    let mut args = std::env::args_os().skip(1);
    let mut store = None;
    let mut runtime_dir = None;
    let mut foreground = None;
    let (mut read_only, mut allow_other, mut create) = (false, false, false);
    let mut session = None;
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--store") => store = args.next().map(PathBuf::from),
            Some("--runtime") => runtime_dir = args.next().map(PathBuf::from),
            Some("--foreground") => foreground = args.next().map(PathBuf::from),
            Some("--read-only") => read_only = true,
            Some("--allow-other") => allow_other = true,
            Some("--session") => session = args.next().and_then(|s| s.into_string().ok()),
            Some("--create") => create = true,
            _ => {
                eprintln!(
                    "cortex-mountd: unexpected argument {arg:?}; it is started by `cortex mount`"
                );
                return ExitCode::from(2);
            }
        }
    }
    // An embedded store's directory, or a server's store (its URL from
    // CORTEX_STORE: never argv) with this machine's runtime directory.
    let (location, dir) = match (store, runtime_dir, std::env::var("CORTEX_STORE")) {
        (Some(dir), None, _) => (StoreLocation::Embedded(dir.clone()), dir),
        (None, Some(dir), Ok(url)) => match StoreLocation::parse(&url) {
            Ok(location @ StoreLocation::Remote(_)) => (location, dir),
            _ => {
                eprintln!(
                    "cortex-mountd: --runtime needs CORTEX_STORE to name a ws:// or wss:// store"
                );
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!(
                "cortex-mountd: --store DIR (or --runtime DIR with CORTEX_STORE) is required; it is started by `cortex mount`"
            );
            return ExitCode::from(2);
        }
    };
    let first = foreground.map(|mountpoint| MountSpec {
        mountpoint,
        read_only,
        allow_other,
        session,
        create,
    });
    let runtime =
        tokio::runtime::Builder::new_multi_thread().thread_stack_size(STACK).enable_all().build();
    let result = match runtime {
        Ok(rt) => rt.block_on(daemon::run(location, dir, first)),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cortex-mountd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
