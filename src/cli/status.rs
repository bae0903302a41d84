//! `cortex status`: where the store is, what it is, and main's state.

use std::process::ExitCode;

use anyhow::Result;
use cortex::store::SCHEMA_VERSION;

use cortex::store::Store;

use super::Context;
use super::output::{human_bytes, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    cx.with_store(async |store| show(store, args).await).await
}

async fn show(store: &Store, args: Args) -> Result<ExitCode> {
    let head = store.head().await?;
    let schema = store.schema_version().await?;
    let home = store.meta_get("home").await?;
    let location = store.location();
    if args.json {
        print_json(&serde_json::json!({
            "store": location.to_string(),
            "kind": location.kind(),
            "schema_version": schema,
            "binary_schema_version": SCHEMA_VERSION,
            "home": home,
            "head": head.id.0,
            "files": head.files,
            "bytes": head.bytes,
            "last_change": {
                "time": head.time.to_rfc3339(),
                "source": head.source,
                "message": head.message,
            },
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("store:       {location} ({})", location.kind());
    println!("schema:      version {schema}");
    if let Some(home) = home {
        println!("tree:        {home}");
    }
    println!(
        "main:        snapshot {}, {} files, {}",
        head.id,
        head.files,
        human_bytes(head.bytes)
    );
    println!(
        "last change: {} ({}: {})",
        head.time.format("%Y-%m-%d %H:%M:%S UTC"),
        head.source,
        head.message
    );
    Ok(ExitCode::SUCCESS)
}
