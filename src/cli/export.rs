//! `cortex export DIR`: write main out into a directory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use cortex::control::{Request, Response, TransferInfo};
use cortex::export::ExportOptions;

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
    let info = match cx.daemon()? {
        Some(store) => {
            match cx.ask(&store, Request::Export { dir: dir.clone(), force: args.force })? {
                Response::Transfer(info) => info,
                other => bail!("unexpected answer from the mount daemon: {other:?}"),
            }
        }
        None => {
            cx.with_store(async |store| {
                let head = store.head().await?;
                let started = Instant::now();
                let options = ExportOptions { force: args.force };
                let r = cortex::export::export(store, head.root, &dir, options).await?;
                Ok(TransferInfo::from_export(&r, &head, started.elapsed().as_secs_f64()))
            })
            .await?
        }
    };
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
