//! The control socket between the `cortex` command and the mount daemon.
//!
//! One daemon (`cortex-mountd`) owns an embedded store and listens on
//! `.cortex/mountd.sock` (mode 0600: only the owner may talk to it). A client
//! sends one JSON request per line and reads one JSON response per line.
//! These are edge types: the daemon converts them to calls of its
//! [`Views`](super::Views), and [`Remote`](super::Remote) makes them from
//! calls of the [`Service`](super::Service).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::IndexState;
use super::files::{PathAnswer, PathOp, WritePolicy};
use crate::error::{Error, Result};
use crate::ids::ContentHash;
use crate::store::{Snapshot, Store, View};
use crate::tree::{Entry, EntryKind, SpecialKind, Timestamp};

/// The socket's file name inside the store directory.
pub const SOCKET: &str = "mountd.sock";

/// What a client asks of the daemon.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Mount main (or the session `session`, forked first with `create`)
    /// at `mountpoint`; answered once the mount is live.
    Mount {
        mountpoint: PathBuf,
        read_only: bool,
        allow_other: bool,
        #[serde(default)]
        session: Option<String>,
        #[serde(default)]
        create: bool,
    },
    /// Flush and unmount.
    Umount {
        mountpoint: PathBuf,
        /// Unmount even if the final flush fails, losing what it held.
        #[serde(default)]
        discard: bool,
    },
    /// Write every pending change to the store now.
    Flush,
    /// The store and the mounts.
    Status,
    /// `cortex ls`: entries of main at `path` (tree path bytes).
    Ls { path: Vec<u8> },
    /// `cortex cat`: a file of main.
    Cat { path: Vec<u8> },
    /// `cortex log`: main's snapshots, newest first.
    Log { limit: usize },
    /// `cortex export`: main written out to `dir` by the daemon.
    Export { dir: PathBuf, force: bool },
    /// `cortex import`: `dir` imported into main; mounts see it at once.
    Import { dir: PathBuf, include_git: bool, no_ignore: bool },
    /// A question to a view's code graph, brought up to date first.
    Graph { query: crate::query::GraphQuery, view: View },
    /// A session command (`cortex session …`, `diff`, `merge`, `conflicts`).
    Session { command: crate::session::Command },
    /// `cortex search`: in a view, brought up to date first.
    Search { search: crate::search::Search, view: View },
    /// `cortex index`: the graph and search rows of a view brought up to
    /// date; embedding goes on in the background. Answers with progress.
    Index { view: View },
    /// A file operation by path in a view (the MCP file tools).
    Path { view: View, operation: PathOp, policy: WritePolicy },
    /// `cortex watch DIR`: keep main (or the session) in step with `dir`,
    /// edited outside Cortex; answered once the first sync landed.
    Watch {
        dir: PathBuf,
        #[serde(default)]
        session: Option<String>,
        /// Write the view's changes back into `dir` where untouched there.
        #[serde(default)]
        pull: bool,
    },
    /// `cortex watch --stop DIR`.
    Unwatch { dir: PathBuf },
    /// Keeps the daemon running while this connection stays open (an MCP
    /// server uses it: the daemon otherwise exits with its last mount).
    Attach,
    /// The daemon's metrics, in the Prometheus text format.
    Metrics,
}

impl Request {
    /// The request's name, for logs and spans.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Mount { .. } => "mount",
            Request::Umount { .. } => "umount",
            Request::Flush => "flush",
            Request::Status => "status",
            Request::Ls { .. } => "ls",
            Request::Cat { .. } => "cat",
            Request::Log { .. } => "log",
            Request::Export { .. } => "export",
            Request::Import { .. } => "import",
            Request::Graph { .. } => "graph",
            Request::Session { .. } => "session",
            Request::Search { .. } => "search",
            Request::Index { .. } => "index",
            Request::Path { .. } => "path",
            Request::Watch { .. } => "watch",
            Request::Unwatch { .. } => "unwatch",
            Request::Attach => "attach",
            Request::Metrics => "metrics",
        }
    }
}

/// A tree entry on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EntryInfo {
    pub path: Vec<u8>,
    pub name: Vec<u8>,
    /// "file", "dir" or "symlink".
    pub kind: String,
    pub mode: u32,
    pub mtime: i64,
    pub size: u64,
    pub hash: Option<String>,
    pub target: Option<Vec<u8>>,
    /// Device number of a device node.
    #[serde(default)]
    pub rdev: u64,
}

impl EntryInfo {
    pub fn new(path: &[u8], e: &Entry) -> EntryInfo {
        let (kind, size, hash, target) = match &e.kind {
            EntryKind::File { content, size } => ("file", *size, Some(content.to_hex()), None),
            EntryKind::Dir { .. } => ("dir", 0, None, None),
            EntryKind::Symlink { target } => ("symlink", 0, None, Some(target.clone())),
            EntryKind::Special { kind, .. } => (special_name(*kind), 0, None, None),
        };
        let rdev = match e.kind {
            EntryKind::Special { rdev, .. } => rdev,
            _ => 0,
        };
        EntryInfo {
            path: path.to_vec(),
            name: e.name.clone(),
            kind: kind.into(),
            mode: e.mode,
            mtime: e.mtime.sec,
            size,
            hash,
            target,
            rdev,
        }
    }

    /// Back to a tree entry (a directory's tree hash is not carried).
    pub fn entry(&self) -> Result<Entry> {
        let kind = match (self.kind.as_str(), &self.hash, &self.target) {
            ("file", Some(hash), _) => {
                EntryKind::File { content: ContentHash::from_hex(hash)?, size: self.size }
            }
            ("symlink", _, Some(target)) => EntryKind::Symlink { target: target.clone() },
            ("dir", _, _) => EntryKind::Dir { tree: ContentHash::from_bytes([0; 32]) },
            (name, _, _) if special_kind(name).is_some() => {
                EntryKind::Special { kind: special_kind(name).expect("checked"), rdev: self.rdev }
            }
            _ => return Err(Error::InvalidInput(format!("malformed entry {:?}", self.kind))),
        };
        let mtime = Timestamp { sec: self.mtime, nsec: 0 };
        Ok(Entry {
            name: self.name.clone(),
            kind,
            mode: self.mode,
            mtime,
            owner: None,
            xattrs: vec![],
        })
    }
}

fn special_name(kind: SpecialKind) -> &'static str {
    match kind {
        SpecialKind::Fifo => "fifo",
        SpecialKind::Socket => "socket",
        SpecialKind::CharDevice => "char",
        SpecialKind::BlockDevice => "block",
    }
}

fn special_kind(name: &str) -> Option<SpecialKind> {
    [SpecialKind::Fifo, SpecialKind::Socket, SpecialKind::CharDevice, SpecialKind::BlockDevice]
        .into_iter()
        .find(|k| special_name(*k) == name)
}

/// A snapshot on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: u64,
    pub parent: Option<u64>,
    pub time: String,
    pub source: String,
    pub message: String,
    pub root: String,
    pub files: u64,
    pub bytes: u64,
    pub added: u64,
    pub modified: u64,
    pub deleted: u64,
}

impl From<&Snapshot> for SnapshotInfo {
    fn from(s: &Snapshot) -> SnapshotInfo {
        SnapshotInfo {
            id: s.id.0,
            parent: s.parent.map(|p| p.0),
            time: s.time.to_rfc3339(),
            source: s.source.clone(),
            message: s.message.clone(),
            root: s.root.to_hex(),
            files: s.files,
            bytes: s.bytes,
            added: s.added,
            modified: s.modified,
            deleted: s.deleted,
        }
    }
}

/// What an import or export did, on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TransferInfo {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub skipped: Vec<String>,
    /// The snapshot made (import) or written (export); none when unchanged.
    pub snapshot: Option<SnapshotInfo>,
    /// What indexing the import's code did.
    #[serde(default)]
    pub index: Option<crate::index::IndexReport>,
}

/// A mount the daemon serves.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountInfo {
    pub mountpoint: PathBuf,
    pub view: String,
    pub read_only: bool,
}

/// A directory the daemon keeps a view in step with (`cortex watch`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WatchInfo {
    pub dir: PathBuf,
    /// `main` or a session's name.
    pub view: String,
    pub pull: bool,
    /// Snapshots the watch made, and the last one.
    pub snapshots: u64,
    pub last_snapshot: Option<u64>,
    /// Whole-directory rescans (the kernel's event queue overflowed).
    pub rescans: u64,
    /// Paths a pull left alone: changed in the directory and in the view.
    pub kept: Vec<String>,
    /// Why the watch stopped, or its last error.
    pub error: Option<String>,
    /// False once stopped (the directory went, say).
    pub live: bool,
}

/// What the daemon knows about itself and its store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DaemonStatus {
    pub pid: u32,
    pub store: String,
    pub schema_version: u64,
    pub home: Option<String>,
    pub head: u64,
    pub files: u64,
    pub bytes: u64,
    pub last_change_time: String,
    pub last_change_source: String,
    pub last_change_message: String,
    pub mounts: Vec<MountInfo>,
    /// The code graph's size, and whether it describes main's head.
    pub code: crate::store::graph::GraphCounts,
    pub code_current: bool,
    /// Units with search rows in main's view, and how many have vectors.
    #[serde(default)]
    pub search: crate::search::Progress,
    /// Set once the store failed to write (a full disk): writes are
    /// refused from then on (`store::health`).
    #[serde(default)]
    pub failure: Option<crate::store::health::Failure>,
    /// The daemon's memory (none without a daemon).
    #[serde(default)]
    pub memory: Option<Memory>,
    /// Main's embedding rate in units per hour, while the daemon embeds.
    #[serde(default)]
    pub embed_per_hour: Option<u64>,
    /// Directories watched (`cortex watch`).
    #[serde(default)]
    pub watches: Vec<WatchInfo>,
}

/// A process's memory, and what each loaded view's content cache holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Memory {
    /// Resident now and at its peak, in bytes (`/proc/self/status`).
    pub rss: u64,
    pub peak: u64,
    /// By view name (`main`, or a session's).
    pub content_caches: Vec<(String, crate::vfs::CacheUse)>,
    /// The budget its caches were given (`CORTEX_MEMORY`).
    #[serde(default)]
    pub budget: crate::memory::Budget,
    /// The decoded-tree cache every view shares.
    #[serde(default)]
    pub trees: crate::memory::CacheUse,
    /// The graph's name-index cache, every view's.
    #[serde(default)]
    pub graph: crate::memory::CacheUse,
}

impl Memory {
    /// This process's memory, with the content caches of `views` and the
    /// tree cache of `store`.
    pub fn of_this_process(
        store: &Store,
        views: &[(View, std::sync::Arc<crate::vfs::Vfs>)],
    ) -> Memory {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        Memory {
            rss: kib("VmRSS:") * 1024,
            peak: kib("VmHWM:") * 1024,
            content_caches: views
                .iter()
                .map(|(view, vfs)| (view.name().to_owned(), vfs.content_cache()))
                .collect(),
            budget: crate::memory::Budget::current(),
            trees: store.objects().tree_cache(),
            graph: store.graph().cache_use(),
        }
    }
}

impl DaemonStatus {
    /// The status of `store`, served by process `pid` (0: no daemon).
    pub async fn of(
        store: &Store,
        pid: u32,
        mounts: Vec<MountInfo>,
        memory: Option<Memory>,
    ) -> Result<DaemonStatus> {
        let head = store.history().head().await?;
        Ok(DaemonStatus {
            pid,
            store: store.location().to_string(),
            schema_version: store.schema_version().await?,
            home: store.meta_get("home").await?,
            head: head.id.0,
            files: head.files,
            bytes: head.bytes,
            last_change_time: head.time.to_rfc3339(),
            last_change_source: head.source,
            last_change_message: head.message,
            mounts,
            code: store.graph().graph_counts().await?,
            code_current: store.graph().graph_root().await? == Some(head.root),
            search: store.search().search_progress().await?,
            failure: crate::store::health::failure(),
            memory,
            embed_per_hour: None,
            watches: Vec::new(),
        })
    }
}

/// The daemon's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    /// An unmount of a mountpoint this daemon does not serve (a stale
    /// mount of a dead daemon, say: the CLI cleans it up).
    NotMounted,
    Status(DaemonStatus),
    Entries {
        entries: Vec<EntryInfo>,
    },
    Bytes {
        data: Vec<u8>,
    },
    Log {
        snapshots: Vec<SnapshotInfo>,
    },
    Transfer(TransferInfo),
    Graph {
        answer: crate::query::Answer,
    },
    /// A session command's answer (see `session::execute`).
    Session {
        outcome: crate::session::Outcome,
    },
    Search {
        results: crate::search::Results,
    },
    Index(IndexState),
    Path {
        answer: PathAnswer,
    },
    Watch(WatchInfo),
    Metrics {
        text: String,
    },
    Error {
        message: String,
    },
}

impl TransferInfo {
    pub fn from_import(r: &crate::import::ImportReport) -> TransferInfo {
        TransferInfo {
            files: r.files,
            dirs: r.dirs,
            symlinks: r.symlinks,
            bytes: r.bytes,
            seconds: r.elapsed.as_secs_f64(),
            skipped: r.skipped.iter().map(|p| p.display().to_string()).collect(),
            snapshot: r.snapshot.as_ref().map(SnapshotInfo::from),
            index: None,
        }
    }

    pub fn from_export(
        r: &crate::export::ExportReport,
        of: &Snapshot,
        seconds: f64,
    ) -> TransferInfo {
        TransferInfo {
            files: r.files,
            dirs: r.dirs,
            symlinks: r.symlinks,
            bytes: r.bytes,
            seconds,
            skipped: vec![],
            snapshot: Some(SnapshotInfo::from(of)),
            index: None,
        }
    }
}

/// The socket path of the store directory `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

/// Sends one request to the daemon of store `dir` and waits for its answer.
/// `Ok(None)` when no daemon listens there.
pub fn call(dir: &Path, request: &Request, timeout: Duration) -> Result<Option<Response>> {
    let path = socket_path(dir);
    let mut stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(Error::io("connect to the mount daemon at", &path, e)),
    };
    let io = |e| Error::io("talk to the mount daemon at", &path, e);
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_string(request).expect("requests serialise");
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).map_err(io)?;
    if answer.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the mount daemon at {} closed the connection without answering",
            path.display()
        )));
    }
    serde_json::from_str(&answer).map(Some).map_err(|e| {
        Error::InvalidInput(format!("the mount daemon answered something unreadable: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        let req = Request::Mount {
            mountpoint: "/mnt/x".into(),
            read_only: true,
            allow_other: false,
            session: None,
            create: false,
        };
        let text = serde_json::to_string(&req).unwrap();
        assert_eq!(
            text,
            r#"{"op":"mount","mountpoint":"/mnt/x","read_only":true,"allow_other":false,"session":null,"create":false}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), req);
        // An older client's mount request (no session fields) still reads.
        let old = r#"{"op":"mount","mountpoint":"/mnt/x","read_only":true,"allow_other":false}"#;
        assert_eq!(serde_json::from_str::<Request>(old).unwrap(), req);
        let resp = Response::Error { message: "no".into() };
        assert_eq!(serde_json::to_string(&resp).unwrap(), r#"{"result":"error","message":"no"}"#);
    }

    #[test]
    fn no_daemon_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(call(dir.path(), &Request::Status, Duration::from_secs(1)).unwrap(), None);
    }
}
