//! Cortex: a source tree held in SurrealDB as snapshots of content-addressed
//! trees, imported from and exported to real directories.
//!
//! Start at [`store::Store`] (the only module that speaks SurrealQL), then
//! [`tree`] (what a directory is), [`snapshot`] (reading and comparing
//! snapshots), [`import`] and [`export`]. ARCHITECTURE.md has the map.

pub mod control;
pub mod embed;
pub mod error;
pub mod export;
pub mod fsck;
pub mod graph;
pub mod ids;
pub mod import;
pub mod index;
pub mod merge;
pub mod mountinfo;
pub mod par;
pub mod query;
pub mod search;
pub mod session;
pub mod snapshot;
pub mod store;
pub mod tools;
pub mod tree;
pub mod vfs;

pub use error::{DbErrorKind, Error, Result};

/// Logs to stderr through `tracing`: `CORTEX_LOG` sets the filter, else
/// `default_filter`. Colour codes only on a terminal (the daemon's stderr
/// is `.cortex/mountd.log`). Both binaries call it first thing.
pub fn init_logging(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CORTEX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}
