//! The library's error type.
//!
//! Every variant says what kind of failure it is so that the CLI can print a
//! one-line message and the VFS can map it to an errno. Messages are
//! lowercase and name the path or id involved.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path that is not in the tree.
    #[error("no such file or directory in the tree: {0}")]
    NotFound(String),

    /// A path that names a directory where a file was needed (or the other
    /// way round).
    #[error("{0}")]
    WrongKind(String),

    /// Input the user gave that cannot be used as it is.
    #[error("{0}")]
    InvalidInput(String),

    /// An I/O error on the local filesystem, with the path involved.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// No store where one was expected.
    #[error("{0}")]
    NoStore(String),

    /// Another process holds the embedded store.
    #[error(
        "store {store} is in use by another process ({holder}); stop it or go through its daemon"
    )]
    Locked { store: PathBuf, holder: String },

    /// Too little free space on the store's disk to open it.
    #[error("{0}")]
    NoRoom(String),

    /// The store was written by a newer cortex.
    #[error(
        "store schema version {found} is newer than this cortex understands (up to {supported}); upgrade cortex"
    )]
    TooNew { found: u64, supported: u64 },

    /// The store's contents do not decode: damaged files or foreign data.
    #[error("store is corrupt: {0}")]
    Corrupt(String),

    /// Main moved while a change was being prepared against an older head.
    #[error("main moved from {expected} to {found} while this change was prepared")]
    HeadMoved { expected: u64, found: u64 },

    /// What the store's daemon answered a request with: its own error, in
    /// its words.
    #[error("{0}")]
    Daemon(String),

    /// A bug or a crashed worker thread, not the user's doing.
    #[error("internal error: {0}")]
    Internal(String),

    /// A filesystem operation on a view failed: its errno, and what
    /// failed (`vfs::VfsError` converts to it and back).
    #[error("{message} ({})", std::io::Error::from_raw_os_error(*errno))]
    Fs { errno: i32, message: String },

    /// The embedding model is missing, broken, or failed.
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),

    /// An error from SurrealDB, with what we were doing; `kind` is what a
    /// caller may act on, `source` the engine's own error.
    #[error("store: {context}: {source}")]
    Db {
        context: String,
        kind: DbErrorKind,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The store failed to write (a full disk, an I/O error) and takes no
    /// more writes from this process (`store::health`).
    #[error("{}", failed_message(.0))]
    StoreFailed(Failure),
}

/// A storage failure that stopped the store's writes (`store::health`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// The engine's own words.
    pub reason: String,
    /// The disk was full (ENOSPC, EDQUOT), rather than failing otherwise.
    pub no_space: bool,
}

/// What a SurrealDB error means to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbErrorKind {
    /// The record (or namespace, table) exists already.
    AlreadyExists,
    /// The record, table or namespace does not exist.
    NotFound,
    /// A transaction conflicted with another; trying again may succeed.
    Conflict,
    /// Anything else.
    Other,
}

fn failed_message(f: &Failure) -> String {
    let what = if f.no_space { "the store's disk is full" } else { "the store failed to write" };
    format!(
        "{what} ({}); writes are refused until the store is opened again: free space (a mount \
         daemon reopens it by itself once there is room; a command, when rerun)",
        f.reason
    )
}

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { action, path: path.into(), source }
    }
}

/// An error and its causes on one line, each said once: what the
/// commands print.
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = Some(e);
    while let Some(e) = cause {
        let text = e.to_string();
        let text = text.lines().next().unwrap_or_default().trim().to_owned();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = e.source();
    }
    parts.join(": ")
}
