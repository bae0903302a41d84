//! Starting a store's daemon (`cortex-mountd`) and attaching to it: what
//! `cortex mount` and the MCP server do when none runs yet.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::control::{self, Request, Response};
use crate::error::{Error, Result};

/// How long a daemon may take to start listening.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The first file called `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// A companion binary of this one (`cortex-mountd`, `cortex-mcp`): the
/// file named by `env` if set, else beside this binary, else on PATH.
pub fn companion(name: &str, env: &str) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let exe =
        std::env::current_exe().map_err(|e| Error::io("find", Path::new("/proc/self/exe"), e))?;
    let beside = exe.with_file_name(name);
    if beside.is_file() {
        return Ok(beside);
    }
    which(name).ok_or_else(|| {
        Error::NotFound(format!(
            "{name} is not installed beside {} or on PATH; build it with `cargo build --workspace`",
            exe.display()
        ))
    })
}

/// `cortex-mountd` beside this binary, or CORTEX_MOUNTD, or on PATH.
pub fn mountd_binary() -> Result<PathBuf> {
    companion("cortex-mountd", "CORTEX_MOUNTD")
}

/// Starts the daemon of a store on this machine in the background, its log
/// in its runtime directory (`StoreLocation::runtime_dir`: an embedded
/// store's directory, or this machine's directory for a server's store),
/// and waits until it listens. Processes starting one at the same moment
/// take turns (a lock beside the store's): the second finds the first
/// one's daemon listening and joins it instead of starting a rival that
/// would find the store taken.
pub fn start_location(mountd: &Path, location: &crate::store::StoreLocation) -> Result<()> {
    let dir = location.runtime_dir()?.ok_or_else(|| {
        Error::InvalidInput(format!("a store in memory has no daemon: {location}"))
    })?;
    match location {
        crate::store::StoreLocation::Remote(url) => start_for(mountd, &dir, Some(url)),
        _ => start_for(mountd, &dir, None),
    }
}

fn start_for(mountd: &Path, dir: &Path, url: Option<&str>) -> Result<()> {
    let _turn = StartTurn::take(dir)?;
    let socket = control::socket_path(dir);
    if matches!(control::call(dir, &Request::Status, PATIENCE), Ok(Some(_))) {
        return Ok(()); // started by whoever had the turn before us
    }
    if url.is_none() {
        // A daemon on its way out stops answering before it closes the
        // store: let it go rather than start a rival that finds the store
        // taken.
        let started = Instant::now();
        while crate::store::held_by_daemon(dir) && started.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let log_path = dir.join("mountd.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io("open", &log_path, e))?;
    let log_err = log.try_clone().map_err(|e| Error::io("open", &log_path, e))?;
    let mut command = Command::new(mountd);
    match url {
        // The URL by environment: it may carry credentials, never in argv.
        Some(url) => command.arg("--runtime").arg(dir).env("CORTEX_STORE", url),
        None => command.arg("--store").arg(dir),
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io("start", mountd, e))?;
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if UnixStream::connect(&socket).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last = log.lines().rev().find(|l| l.starts_with("cortex-mountd:")).unwrap_or("");
            return Err(Error::Daemon(format!(
                "the mount daemon exited ({status}): {}",
                last.trim_start_matches("cortex-mountd: ")
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(Error::Daemon(format!(
        "the mount daemon did not start listening within {}s; see {}",
        PATIENCE.as_secs(),
        log_path.display()
    )))
}

/// Starts the store's daemon on this machine if none runs, and attaches to
/// it: the daemon keeps running while the returned connection stays open
/// (it otherwise exits with its last mount). A server's store has its
/// daemon in this machine's runtime directory, as for `cortex mount`.
pub fn attach(location: &crate::store::StoreLocation) -> Result<UnixStream> {
    let dir = location.runtime_dir()?.ok_or_else(|| {
        Error::InvalidInput(format!("a store in memory has no daemon: {location}"))
    })?;
    // A daemon on its way out may take the connection and close it
    // unanswered: then the next one is started and asked.
    let mut tries = 0;
    loop {
        tries += 1;
        match attach_once(location, &dir) {
            Ok(Some(stream)) => return Ok(stream),
            Ok(None) if tries < 5 => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                return Err(Error::Daemon(format!(
                    "the cortex daemon at {} closed every connection unanswered; see {}",
                    dir.display(),
                    dir.join("mountd.log").display()
                )));
            }
            Err(e) => return Err(e),
        }
    }
}

/// One try of `attach`: `None` when the daemon went away unanswering.
fn attach_once(location: &crate::store::StoreLocation, dir: &Path) -> Result<Option<UnixStream>> {
    let socket = control::socket_path(dir);
    if UnixStream::connect(&socket).is_err() {
        start_location(&mountd_binary()?, location)?;
    }
    let io = |e| Error::io("talk to the mount daemon at", &socket, e);
    let mut stream = match UnixStream::connect(&socket) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(io(e)),
    };
    let mut line = serde_json::to_string(&Request::Attach).expect("requests serialise");
    line.push('\n');
    if stream.write_all(line.as_bytes()).is_err() {
        return Ok(None);
    }
    let mut answer = String::new();
    if BufReader::new(&stream).read_line(&mut answer).is_err() || answer.is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Response>(&answer) {
        Ok(Response::Ok) => Ok(Some(stream)),
        _ => Err(Error::Daemon(format!(
            "the cortex daemon at {} did not accept this server: {answer:?}",
            dir.display()
        ))),
    }
}

/// The turn to start a store's daemon: an exclusive `flock` on
/// `.cortex/mountd.start`, dropped with the value (or the process).
struct StartTurn {
    _lock: std::fs::File,
}

impl StartTurn {
    fn take(dir: &Path) -> Result<StartTurn> {
        use std::os::fd::AsRawFd;
        let path = dir.join("mountd.start");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        // SAFETY: flock on a descriptor we own; blocks until the turn is ours.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io("lock", &path, std::io::Error::last_os_error()));
        }
        Ok(StartTurn { _lock: file })
    }
}
