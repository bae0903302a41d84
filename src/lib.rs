//! Cortex: a source tree held in SurrealDB as snapshots of content-addressed
//! trees, imported from and exported to real directories.
//!
//! Start at [`store::Store`] (the only module that speaks SurrealQL), then
//! [`tree`] (what a directory is), [`snapshot`] (reading and comparing
//! snapshots), [`import`] and [`export`]. ARCHITECTURE.md has the map.

pub mod embed;
pub mod error;
pub mod export;
pub mod foreground;
pub mod fsck;
pub mod graph;
pub mod ids;
pub mod import;
pub mod index;
pub mod memory;
pub mod merge;
pub mod metrics;
pub mod mountinfo;
pub mod notes;
pub mod par;
pub mod query;
pub mod search;
pub mod service;
pub mod session;
pub mod snapshot;
pub mod store;
pub mod token;
pub mod tree;
pub mod vfs;
pub mod watch;

pub use error::{DbErrorKind, Error, Result};

/// Logs to stderr through `tracing`: `CORTEX_LOG` sets the filter, else
/// `default_filter`. Colour codes only on a terminal (the daemon's stderr
/// is `.cortex/mountd.log`). Both binaries call it first thing.
pub fn init_logging(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CORTEX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // With CORTEX_LOG_SPANS=1 a span logs its time as it closes: the
    // index's stages, control requests, tool calls, FUSE requests (each at
    // debug level: CORTEX_LOG decides which are on).
    let spans = if std::env::var_os("CORTEX_LOG_SPANS").is_some_and(|v| v == "1") {
        tracing_subscriber::fmt::format::FmtSpan::CLOSE
    } else {
        tracing_subscriber::fmt::format::FmtSpan::NONE
    };
    tracing_subscriber::fmt()
        .with_span_events(spans)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}
