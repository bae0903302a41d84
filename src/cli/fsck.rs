//! `cortex fsck [--repair DIR]`: checks a store and says what is damaged;
//! with `--repair`, copies the newest intact snapshot of main into a new
//! store in DIR.
//!
//! The store is read, never written: a store whose files the engine would
//! repair by losing data (`store::check`) is reported as such and, for
//! `--repair`, opened from a copy in a temporary directory, where the
//! engine may cut what it must.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use cortex::fsck::Report;
use cortex::store::{OpenOptions, Store, StoreLocation};

use super::Context;
use super::output::{esc, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Copy the newest intact snapshot of main into a new store in this
    /// directory (it gets a `.cortex` of its own; the damaged store is not
    /// changed).
    #[arg(long, value_name = "DIR")]
    pub repair: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    let location = cx.locate(&std::env::current_dir()?)?;
    if cx.daemon()?.is_some() {
        bail!("the store is mounted; unmount it (or stop `cortex mcp`) before checking it");
    }
    let mut files_problem = None;
    let mut _copy = None;
    let open_at = match &location {
        StoreLocation::Embedded(dir) => match cortex::store::check::before_open(
            &dir.join("store"),
            cortex::store::check::Tail::Leave,
        ) {
            Ok(()) => location.clone(),
            Err(e) => {
                files_problem = Some(e.to_string());
                if args.repair.is_none() {
                    return report_files_only(&e.to_string(), args.json);
                }
                let copy = tempfile::tempdir().context("make a temporary directory")?;
                copy_dir(dir, &copy.path().join(".cortex"))?;
                let at = StoreLocation::Embedded(copy.path().join(".cortex"));
                _copy = Some(copy);
                at
            }
        },
        other => other.clone(),
    };
    let options = OpenOptions { engine_repair: files_problem.is_some(), ..OpenOptions::default() };
    let store = Store::open(&open_at, options).await?;
    let result = async {
        let report = cortex::fsck::check(&store).await?;
        let recovered = match &args.repair {
            Some(into) => Some(repair(&store, &report, into).await?),
            None => None,
        };
        anyhow::Ok((report, recovered))
    }
    .await;
    store.close().await;
    let (report, recovered) = result?;
    print(&report, files_problem.as_deref(), recovered.as_ref(), args.json)?;
    let clean = report.clean() && files_problem.is_none();
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn report_files_only(problem: &str, json: bool) -> Result<ExitCode> {
    if json {
        print_json(&serde_json::json!({ "clean": false, "files": problem }))?;
    } else {
        println!("store files: {}", esc(problem));
        println!("`cortex fsck --repair DIR` recovers the newest intact snapshot into a new store");
    }
    Ok(ExitCode::FAILURE)
}

/// What `--repair` made: the snapshot copied and where.
struct Recovered {
    from: u64,
    into: PathBuf,
    snapshot: u64,
}

async fn repair(store: &Store, report: &Report, into: &Path) -> Result<Recovered> {
    let Some(intact) = report.newest_intact() else {
        bail!("no snapshot of main is intact; nothing to recover");
    };
    let dir = into.join(cortex::store::STORE_DIR);
    if dir.exists() {
        bail!("{} already has a cortex store; name an empty directory", into.display());
    }
    std::fs::create_dir_all(into).with_context(|| format!("create {}", into.display()))?;
    let id = cortex::ids::SnapshotId(intact.id);
    let snapshot = store.with_main().await?.history().snapshot(id).await?;
    let location = StoreLocation::Embedded(dir);
    let new =
        Store::open(&location, OpenOptions { create: true, ..OpenOptions::default() }).await?;
    let result = cortex::fsck::recover(store, &snapshot, &new).await;
    new.close().await;
    let copied = result?;
    Ok(Recovered { from: intact.id, into: into.to_path_buf(), snapshot: copied.id.0 })
}

fn print(
    report: &Report,
    files_problem: Option<&str>,
    recovered: Option<&Recovered>,
    json: bool,
) -> Result<()> {
    if json {
        return print_json(&serde_json::json!({
            "clean": report.clean() && files_problem.is_none(),
            "files": files_problem,
            "snapshots": report.snapshots,
            "trees": report.trees,
            "contents": report.contents,
            "bytes": report.bytes,
            "problems": report.problems,
            "newest_intact": report.newest_intact().map(|s| s.id),
            "recovered": recovered.map(|r| serde_json::json!({
                "from": r.from, "into": r.into, "snapshot": r.snapshot,
            })),
        }));
    }
    if let Some(problem) = files_problem {
        println!("store files: {} (read from a repaired copy)", esc(problem));
    }
    let damaged: Vec<_> = report.snapshots.iter().filter(|s| s.damage.is_some()).collect();
    println!(
        "checked {} snapshots: {} trees, {} contents ({} bytes)",
        report.snapshots.len(),
        report.trees,
        report.contents,
        report.bytes
    );
    for s in &damaged {
        println!(
            "damaged: {} snapshot #{}: {}",
            s.view,
            s.id,
            esc(s.damage.as_deref().unwrap_or_default())
        );
    }
    for p in &report.problems {
        println!("damaged: {}", esc(p));
    }
    match report.newest_intact() {
        Some(s) => println!("newest intact snapshot of main: #{}", s.id),
        None => println!("no snapshot of main is intact"),
    }
    if let Some(r) = recovered {
        println!(
            "recovered snapshot #{} into {} (its snapshot #{})",
            r.from,
            r.into.display(),
            r.snapshot
        );
    }
    if damaged.is_empty() && report.problems.is_empty() && files_problem.is_none() {
        println!("no damage found");
    }
    Ok(())
}

/// Copies a store directory (files and directories only; a store has no
/// other kinds), skipping the lock and the daemon's socket.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((src, dst)) = stack.pop() {
        std::fs::create_dir_all(&dst).with_context(|| format!("create {}", dst.display()))?;
        for entry in std::fs::read_dir(&src).with_context(|| format!("list {}", src.display()))? {
            let entry = entry?;
            let name = entry.file_name();
            if src == from && (name == "lock" || name == "mountd.sock") {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push((entry.path(), dst.join(&name)));
            } else if kind.is_file() {
                std::fs::copy(entry.path(), dst.join(&name))
                    .with_context(|| format!("copy {}", entry.path().display()))?;
            }
        }
    }
    Ok(())
}
