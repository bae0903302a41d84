//! `cortex export DIR`: write main out into a directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

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
    let dir = std::path::absolute(&args.dir)?;
    let info = cx.with_service(async |svc| Ok(svc.export(dir, args.force).await?)).await?;
    if args.json {
        print_json(&serde_json::json!({
            "snapshot": info.snapshot.as_ref().map(|s| s.id), "files": info.files, "dirs": info.dirs,
            "symlinks": info.symlinks, "bytes": info.bytes, "seconds": info.seconds,
        }))?;
    } else {
        println!(
            "exported snapshot #{} to {}: {} files, {} dirs, {} symlinks ({}) in {:.2} s",
            info.snapshot.as_ref().map_or(0, |s| s.id),
            args.dir.display(),
            info.files,
            info.dirs,
            info.symlinks,
            human_bytes(info.bytes),
            info.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}
