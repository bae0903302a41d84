//! `cortex watch DIR [--session NAME] [--pull]` and `cortex watch --stop
//! DIR`: the store's daemon (started here if none runs) keeps a view in
//! step with a directory edited outside Cortex, until stopped.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use cortex::service::control::{self, Request, Response, WatchInfo};

use super::Context;
use super::mount::{PATIENCE, call_starting, store_dir};
use super::output::esc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to watch (a checkout edited with an IDE, say).
    pub dir: PathBuf,
    /// Keep this session's view in step instead of main's.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// Write changes landing in the view (merges, agents' writes) back into
    /// DIR, for every file not changed there since Cortex last saw it.
    #[arg(long, conflicts_with = "stop")]
    pub pull: bool,
    /// Stop watching DIR.
    #[arg(long)]
    pub stop: bool,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    let dir = store_dir(cx)?;
    if let Some(name) = &args.session {
        cortex::ids::SessionName::parse(name)?;
    }
    if args.stop {
        let request = Request::Unwatch { dir: args.dir.clone() };
        return match control::call(&dir, &request, PATIENCE)? {
            Some(Response::Ok) => {
                println!("stopped watching {}", args.dir.display());
                Ok(ExitCode::SUCCESS)
            }
            Some(Response::Error { message }) => bail!("{message}"),
            Some(other) => bail!("unexpected answer from the daemon: {other:?}"),
            None => bail!("{} is not watched: no daemon holds the store", args.dir.display()),
        };
    }
    let watched = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("cannot watch {}", args.dir.display()))?;
    if !watched.is_dir() {
        bail!("cannot watch {}: not a directory", args.dir.display());
    }
    let request = Request::Watch { dir: watched, session: args.session.clone(), pull: args.pull };
    let response = call_starting(cx, &dir, &request)?;
    match response {
        Response::Watch(info) => {
            print_watch(&info);
            println!("stop with: cortex watch --stop {}", esc(&info.dir.display().to_string()));
            Ok(ExitCode::SUCCESS)
        }
        Response::Error { message } => bail!("{message}"),
        other => bail!("unexpected answer from the daemon: {other:?}"),
    }
}

/// One line per watch (also `cortex status`'s).
pub fn print_watch(w: &WatchInfo) {
    let pull = if w.pull { ", pulling" } else { "" };
    let last = w.last_snapshot.map(|s| format!(", last #{s}")).unwrap_or_default();
    let state = if w.live { "watching" } else { "stopped" };
    println!(
        "watch:       {} → {} ({state}{pull}; {} snapshots{last}, {} rescans)",
        esc(&w.dir.display().to_string()),
        w.view,
        w.snapshots,
        w.rescans
    );
    if let Some(e) = &w.error {
        println!("             {}", esc(e));
    }
    for p in &w.kept {
        println!("             left alone (changed in the directory too): {}", esc(p));
    }
}
