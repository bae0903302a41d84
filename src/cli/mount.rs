//! `cortex mount MOUNTPOINT` and `cortex umount MOUNTPOINT`.
//!
//! Mounting goes through the store's daemon (`cortex-mountd`), started here
//! if none runs: it owns the store and serves every mount of it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use cortex::service::control::{self, Request, Response};
use cortex::store::StoreLocation;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct MountArgs {
    /// An empty directory to mount main (or a session) on.
    pub mountpoint: PathBuf,
    /// Refuse every write through this mount.
    #[arg(long)]
    pub read_only: bool,
    /// Stay attached: serve the mount from this process until it is unmounted.
    #[arg(long)]
    pub foreground: bool,
    /// Let other users into the mount (FUSE's allow_other; off by default).
    #[arg(long)]
    pub allow_other: bool,
    /// Mount this session's view instead of main's.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// With --session: fork the session from main first if it does not exist.
    #[arg(long, requires = "session")]
    pub create: bool,
}

#[derive(Debug, clap::Args)]
pub struct UmountArgs {
    /// The mountpoint to unmount.
    pub mountpoint: PathBuf,
    /// Unmount even when the final flush fails (a full disk), losing what
    /// was written through the mount since the last successful flush.
    #[arg(long)]
    pub discard: bool,
}

/// How long to wait for a daemon to come up or answer.
pub(super) const PATIENCE: Duration = Duration::from_secs(60);

pub async fn mount(cx: &Context, args: MountArgs) -> Result<ExitCode> {
    let dir = store_dir(cx)?;
    check_fuse()?;
    if let Some(name) = &args.session {
        cortex::ids::SessionName::parse(name)?;
    }
    let mountpoint = std::fs::canonicalize(&args.mountpoint)
        .with_context(|| format!("mountpoint {}", args.mountpoint.display()))?;
    cortex::mountinfo::check_mountpoint(&mountpoint)?;
    let mountd = cortex::service::daemon::mountd_binary()?;

    if args.foreground {
        let mut cmd = Command::new(&mountd);
        match cx.locate(&std::env::current_dir()?)? {
            // The URL by environment: it may carry credentials, never in argv.
            StoreLocation::Remote(url) => cmd.arg("--runtime").arg(&dir).env("CORTEX_STORE", url),
            _ => cmd.arg("--store").arg(&dir),
        };
        cmd.arg("--foreground").arg(&mountpoint);
        flags(&mut cmd, &args);
        let err = cmd.exec();
        bail!("cannot run {}: {err}", mountd.display());
    }

    let request = Request::Mount {
        mountpoint: mountpoint.clone(),
        read_only: args.read_only,
        allow_other: args.allow_other,
        session: args.session.clone(),
        create: args.create,
    };
    let response = call_starting(cx, &dir, &request)?;
    match response {
        Response::Ok => {
            let view = match &args.session {
                Some(name) => format!("session {name}"),
                None => "main".to_owned(),
            };
            println!("mounted {view} at {}", mountpoint.display());
            Ok(ExitCode::SUCCESS)
        }
        Response::Error { message } => bail!("{message}"),
        other => bail!("unexpected answer from the mount daemon: {other:?}"),
    }
}

pub async fn umount(cx: &Context, args: UmountArgs) -> Result<ExitCode> {
    let mountpoint =
        std::fs::canonicalize(&args.mountpoint).or_else(|_| lexical_absolute(&args.mountpoint))?;
    let dir = store_dir(cx).ok();
    let answer = match &dir {
        Some(dir) => {
            let request = Request::Umount { mountpoint: mountpoint.clone(), discard: args.discard };
            // A daemon dying as we ask (killed, its socket still taking the
            // connection) is no daemon: its mount is stale, cleaned below.
            control::call(dir, &request, PATIENCE).unwrap_or_else(|e| {
                tracing::warn!("the mount daemon did not answer ({e}); cleaning up its mount");
                None
            })
        }
        None => None,
    };
    match answer {
        Some(Response::Ok) => {
            if let Some(dir) = &dir {
                wait_for_daemon_exit(dir);
            }
        }
        // No daemon, or not one of its mounts: a stale mount of a dead
        // daemon is cleaned up with fusermount3. (Any other error is the
        // daemon's answer, such as a final flush that failed: the mount
        // stays, and the user is told.)
        Some(Response::NotMounted) | None if cortex::mountinfo::is_cortex_mount(&mountpoint) => {
            let status = Command::new("fusermount3").arg("-u").arg(&mountpoint).status();
            if !matches!(status, Ok(s) if s.success()) {
                let lazy = Command::new("fusermount3").arg("-uz").arg(&mountpoint).status();
                if !matches!(lazy, Ok(s) if s.success()) {
                    bail!("cannot unmount {}", mountpoint.display());
                }
            }
        }
        Some(Response::Error { message }) => bail!("{message}"),
        Some(Response::NotMounted) | None => {
            bail!("{} is not a cortex mount", mountpoint.display())
        }
        Some(other) => bail!("unexpected answer from the mount daemon: {other:?}"),
    }
    println!("unmounted {}", mountpoint.display());
    Ok(ExitCode::SUCCESS)
}

/// After its last mount goes the daemon closes the store and exits; wait
/// for that, so that the next command can open the store itself.
fn wait_for_daemon_exit(dir: &Path) {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        match control::call(dir, &Request::Status, Duration::from_secs(5)) {
            // Still serving other mounts, or watches: it stays.
            Ok(Some(Response::Status(s)))
                if !s.mounts.is_empty() || s.watches.iter().any(|w| w.live) =>
            {
                return;
            }
            Ok(None) | Err(_) if cortex::store::is_free(dir) => return,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn flags(cmd: &mut Command, args: &MountArgs) {
    if args.read_only {
        cmd.arg("--read-only");
    }
    if args.allow_other {
        cmd.arg("--allow-other");
    }
    if let Some(session) = &args.session {
        cmd.arg("--session").arg(session);
    }
    if args.create {
        cmd.arg("--create");
    }
}

/// Where this machine's daemon of the store listens (an embedded store's
/// directory, or a runtime directory for a server's store).
pub(super) fn store_dir(cx: &Context) -> Result<PathBuf> {
    let location = cx.locate(&std::env::current_dir()?)?;
    match location.runtime_dir()? {
        Some(dir) => Ok(dir),
        None => bail!("a store in memory has no daemon to mount or watch through"),
    }
}

/// Sends `request` to this machine's daemon of the store (listening in
/// `dir`), starting the daemon first if none runs.
pub(super) fn call_starting(cx: &Context, dir: &Path, request: &Request) -> Result<Response> {
    if let Some(response) = control::call(dir, request, PATIENCE)? {
        return Ok(response);
    }
    start_daemon(cx)?;
    control::call(dir, request, PATIENCE)?.context("the daemon started but does not answer")
}

/// Starts this machine's daemon of the store.
pub(super) fn start_daemon(cx: &Context) -> Result<()> {
    let location = cx.locate(&std::env::current_dir()?)?;
    let mountd = cortex::service::daemon::mountd_binary()?;
    Ok(cortex::service::daemon::start_location(&mountd, &location)?)
}

fn check_fuse() -> Result<()> {
    if !Path::new("/dev/fuse").exists() {
        bail!("/dev/fuse is missing: this machine cannot mount FUSE filesystems");
    }
    if cortex::service::daemon::which("fusermount3").is_none() {
        bail!("fusermount3 is not installed; install the fuse3 package (apt-get install fuse3)");
    }
    Ok(())
}

/// An absolute path with `.` and `..` resolved lexically (a dead mount
/// cannot be canonicalised: it answers ENOTCONN).
fn lexical_absolute(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for part in std::path::absolute(path)?.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}
