//! The control socket between the `cortex` command and the mount daemon.
//!
//! One daemon (`cortex-mountd`) owns an embedded store and listens on
//! `.cortex/mountd.sock` (mode 0600: only the owner may talk to it). A client
//! sends one JSON request per line and reads one JSON response per line.
//! These are edge types: the daemon and the CLI convert to and from them.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The socket's file name inside the store directory.
pub const SOCKET: &str = "mountd.sock";

/// What a client asks of the daemon.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Mount main at `mountpoint`; answered once the mount is live.
    Mount { mountpoint: PathBuf, read_only: bool, allow_other: bool },
    /// Flush and unmount.
    Umount { mountpoint: PathBuf },
    /// Write every pending change to the store now.
    Flush,
    /// The store and the mounts.
    Status,
}

/// A mount the daemon serves.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountInfo {
    pub mountpoint: PathBuf,
    pub view: String,
    pub read_only: bool,
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
}

/// The daemon's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Status(DaemonStatus),
    Error { message: String },
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
        let req =
            Request::Mount { mountpoint: "/mnt/x".into(), read_only: true, allow_other: false };
        let text = serde_json::to_string(&req).unwrap();
        assert_eq!(
            text,
            r#"{"op":"mount","mountpoint":"/mnt/x","read_only":true,"allow_other":false}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), req);
        let resp = Response::Error { message: "no".into() };
        assert_eq!(serde_json::to_string(&resp).unwrap(), r#"{"result":"error","message":"no"}"#);
    }

    #[test]
    fn no_daemon_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(call(dir.path(), &Request::Status, Duration::from_secs(1)).unwrap(), None);
    }
}
