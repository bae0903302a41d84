//! `cortex export DIR`: write main out into a directory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use cortex::export::ExportOptions;

use cortex::store::Store;

use super::Context;
use super::output::{human_bytes, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write (created if missing; must be empty unless --force).
    pub dir: PathBuf,
    /// Write into a non-empty directory, replacing files in the way.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    cx.with_store(async |store| show(store, args).await).await
}

async fn show(store: &Store, args: Args) -> Result<ExitCode> {
    let head = store.head().await?;
    let started = Instant::now();
    let report =
        cortex::export::export(store, head.root, &args.dir, ExportOptions { force: args.force })
            .await?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        print_json(&serde_json::json!({
            "snapshot": head.id.0, "files": report.files, "dirs": report.dirs,
            "symlinks": report.symlinks, "bytes": report.bytes, "seconds": seconds,
        }))?;
    } else {
        println!(
            "exported snapshot {} to {}: {} files, {} dirs, {} symlinks ({}) in {:.2} s",
            head.id,
            args.dir.display(),
            report.files,
            report.dirs,
            report.symlinks,
            human_bytes(report.bytes),
            seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}
