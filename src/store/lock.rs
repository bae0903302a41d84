//! The embedded store's lock: one process at a time.
//!
//! SurrealKV may be opened by one process only. We take an exclusive `flock`
//! on `.cortex/lock` before opening it and write our pid and command line
//! into the file, so that a second process can say exactly who holds the
//! store instead of failing somewhere inside the engine. The kernel drops the
//! lock when the holder exits, even on `kill -9`, so a stale lock file never
//! blocks anyone.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Held for as long as the store is open.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the lock of the store directory `dir`, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<StoreLock> {
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open lock file", &path, e))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(Error::Locked { store: dir.to_path_buf(), holder: holder(&mut file) });
            }
            return Err(Error::io("lock", &path, err));
        }
        let me = format!("{}\n{}\n", std::process::id(), own_command_line());
        file.set_len(0).map_err(|e| Error::io("write lock file", &path, e))?;
        file.rewind().map_err(|e| Error::io("write lock file", &path, e))?;
        file.write_all(me.as_bytes()).map_err(|e| Error::io("write lock file", &path, e))?;
        Ok(StoreLock { _file: file })
    }
}

/// Who holds the lock, as the lock file says once its holder has written
/// it. A holder takes the lock first and writes its name after, so for a
/// moment the file still names the previous holder, perhaps long gone:
/// a name is given only once it is of a live process.
fn holder(file: &mut File) -> String {
    for _ in 0..25 {
        let mut contents = String::new();
        let read = file.rewind().and_then(|()| file.read_to_string(&mut contents));
        if read.is_ok()
            && let Some(named) = describe(&contents)
        {
            return named;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    "a process that is just starting".into()
}

/// "pid 123: cortex import src" from the lock file's contents, if that
/// process is alive.
fn describe(contents: &str) -> Option<String> {
    let mut lines = contents.lines();
    let pid: i32 = lines.next()?.trim().parse().ok()?;
    // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
    let alive = pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM));
    if !alive {
        return None;
    }
    Some(match lines.next() {
        Some(cmd) => format!("pid {pid}: {cmd}"),
        None => format!("pid {pid}"),
    })
}

fn own_command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut words: Vec<String> = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        let shown = if i == 0 {
            PathBuf::from(arg)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| arg.clone())
        } else {
            arg.clone()
        };
        words.push(shown);
    }
    words.join(" ")
}

/// True while the store directory `dir`'s lock is held by a live
/// `cortex-mountd`: a daemon, perhaps one on its way out (it stops
/// answering before it closes the store).
pub fn held_by_daemon(dir: &Path) -> bool {
    let path = dir.join("lock");
    if is_free(&path) {
        return false;
    }
    let contents = std::fs::read_to_string(&path).unwrap_or_default();
    describe(&contents).is_some_and(|holder| holder.contains(": cortex-mountd"))
}

/// True when nobody holds an exclusive `flock` on `path` (or it is absent).
pub fn is_free(path: &Path) -> bool {
    let Ok(file) = File::open(path) else { return true };
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    // The lock, if taken, goes with `file` when it is dropped here.
    rc == 0
}
