//! `cortex log`: main's snapshots, newest first.

use std::process::ExitCode;

use anyhow::Result;

use cortex::store::Store;

use super::Context;
use super::output::{human_bytes, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show at most this many changes.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    cx.with_store(async |store| show(store, args).await).await
}

async fn show(store: &Store, args: Args) -> Result<ExitCode> {
    let log = store.log(args.limit).await?;
    if args.json {
        let items: Vec<_> = log
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id.0,
                    "parent": s.parent.map(|p| p.0),
                    "time": s.time.to_rfc3339(),
                    "source": s.source,
                    "message": s.message,
                    "root": s.root.to_hex(),
                    "files": s.files,
                    "bytes": s.bytes,
                    "added": s.added,
                    "modified": s.modified,
                    "deleted": s.deleted,
                })
            })
            .collect();
        print_json(&serde_json::Value::Array(items))?;
        return Ok(ExitCode::SUCCESS);
    }
    for s in &log {
        println!(
            "{:<5} {}  {:<6} +{} ~{} -{}  {} files, {}  {}",
            s.id.to_string(),
            s.time.format("%Y-%m-%d %H:%M:%S"),
            s.source,
            s.added,
            s.modified,
            s.deleted,
            s.files,
            human_bytes(s.bytes),
            s.message
        );
    }
    Ok(ExitCode::SUCCESS)
}
