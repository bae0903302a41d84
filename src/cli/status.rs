//! `cortex status`: where the store is, what it is, main's state, and the
//! live mounts. When a mount daemon holds the store, it answers.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use cortex::service::control::{self, DaemonStatus, Memory, Request, Response};
use cortex::store::{SCHEMA_VERSION, Store};

use super::Context;
use super::output::{esc, human_bytes, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    let location = cx.locate(&std::env::current_dir()?)?;
    // This machine's daemon of the store answers, if one runs.
    let status = match location.runtime_dir()? {
        Some(dir) => match control::call(&dir, &Request::Status, Duration::from_secs(30))? {
            Some(Response::Status(s)) => Some(s),
            Some(Response::Error { message }) => bail!("{message}"),
            Some(other) => bail!("unexpected answer from the mount daemon: {other:?}"),
            None => None,
        },
        None => None,
    };
    let status = match status {
        Some(s) => s,
        None => cx.with_store(async |store| local(store).await).await?,
    };
    print(&status, location.kind(), args.json)?;
    Ok(ExitCode::SUCCESS)
}

async fn local(store: &Store) -> Result<DaemonStatus> {
    Ok(DaemonStatus::of(store, 0, vec![], None).await?)
}

fn print(s: &DaemonStatus, kind: &str, json: bool) -> Result<()> {
    if json {
        return print_json(&serde_json::json!({
            "store": s.store,
            "kind": kind,
            "schema_version": s.schema_version,
            "binary_schema_version": SCHEMA_VERSION,
            "home": s.home,
            "head": s.head,
            "files": s.files,
            "bytes": s.bytes,
            "last_change": {
                "time": s.last_change_time,
                "source": s.last_change_source,
                "message": s.last_change_message,
            },
            "daemon_pid": (s.pid != 0).then_some(s.pid),
            "code": { "files": s.code.files, "units": s.code.units, "edges": s.code.edges, "current": s.code_current },
            "search": { "units": s.search.units, "embedded": s.search.embedded,
                        "embed_per_hour": s.embed_per_hour },
            "failure": s.failure,
            "memory": s.memory,
            "mounts": s.mounts.iter().map(|m| serde_json::json!({
                "mountpoint": m.mountpoint, "view": m.view, "read_only": m.read_only,
            })).collect::<Vec<_>>(),
            "watches": s.watches,
        }));
    }
    println!("store:       {} ({kind})", s.store);
    if let Some(f) = &s.failure {
        let what = if f.no_space { "DISK FULL" } else { "WRITE FAILED" };
        println!(
            "health:      {what}: writes are refused ({}); free space, then unmount and mount again",
            esc(&f.reason)
        );
    }
    println!("schema:      version {}", s.schema_version);
    if let Some(home) = &s.home {
        println!("tree:        {}", esc(home));
    }
    println!("main:        snapshot #{}, {} files, {}", s.head, s.files, human_bytes(s.bytes));
    let time = chrono::DateTime::parse_from_rfc3339(&s.last_change_time)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| s.last_change_time.clone());
    println!("last change: {time} ({}: {})", s.last_change_source, esc(&s.last_change_message));
    let behind =
        if s.code_current { "" } else { " (behind main: the next graph command catches up)" };
    println!(
        "code graph:  {} files, {} units, {} edges{behind}",
        s.code.files, s.code.units, s.code.edges
    );
    let share = if s.search.units == 0 {
        100.0
    } else {
        s.search.embedded as f64 * 100.0 / s.search.units as f64
    };
    println!("search:      {} units, {} embedded ({share:.0}%)", s.search.units, s.search.embedded);
    let left = s.search.units.saturating_sub(s.search.embedded);
    if let Some(per_hour) = s.embed_per_hour.filter(|r| *r > 0 && left > 0) {
        let rate = per_hour as f64 / 3600.0;
        let secs = left * 3600 / per_hour;
        println!(
            "embedding:   {rate:.0} units/s, about {}h{:02}m to go",
            secs / 3600,
            secs % 3600 / 60
        );
    }
    if let Some(m) = &s.memory {
        print_memory(m);
    }
    print_mounts(s);
    Ok(())
}

/// The daemon's mounts and watches.
fn print_mounts(s: &DaemonStatus) {
    if s.mounts.is_empty() {
        println!("mounts:      none");
    } else {
        println!("daemon:      pid {}", s.pid);
        for m in &s.mounts {
            let ro = if m.read_only { ", read-only" } else { "" };
            println!("mounts:      {} ({}{ro})", m.mountpoint.display(), m.view);
        }
    }
    for w in &s.watches {
        super::watch::print_watch(w);
    }
}

/// The daemon's memory, and each loaded view's content cache.
fn print_memory(m: &Memory) {
    println!("memory:      daemon {} resident (peak {})", human_bytes(m.rss), human_bytes(m.peak));
    let b = &m.budget;
    println!(
        "budget:      {} (CORTEX_MEMORY): store blocks {}, memtable {}, contents {} per view, trees {}, graph {}",
        human_bytes(b.total),
        human_bytes(b.block_cache),
        human_bytes(b.memtable),
        human_bytes(b.content_cache),
        human_bytes(b.tree_cache),
        human_bytes(b.graph_cache)
    );
    for (what, c) in [("trees:      ", &m.trees), ("graph rows: ", &m.graph)] {
        println!(
            "{what} {} of {} held, {:.0}% of {} reads from memory",
            human_bytes(c.held),
            human_bytes(c.budget),
            hit_rate(c),
            c.hits + c.misses
        );
    }
    for (view, c) in &m.content_caches {
        println!(
            "contents:    {view}: {} of {} held, {:.0}% of {} reads from memory",
            human_bytes(c.held),
            human_bytes(c.budget),
            hit_rate(c),
            c.hits + c.misses
        );
    }
}

/// The share of a cache's reads it answered, in percent.
fn hit_rate(c: &cortex::memory::CacheUse) -> f64 {
    let reads = c.hits + c.misses;
    if reads == 0 { 0.0 } else { c.hits as f64 * 100.0 / reads as f64 }
}
