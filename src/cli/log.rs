//! `cortex log`: main's snapshots, newest first.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use super::output::{esc, human_bytes, print_json};

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
    let log = cx.with_service(async |svc| Ok(svc.log(args.limit).await?)).await?;
    if args.json {
        print_json(&serde_json::to_value(&log)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for s in &log {
        let time = chrono::DateTime::parse_from_rfc3339(&s.time)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|_| s.time.clone());
        println!(
            "{:<5} {}  {:<6} +{} ~{} -{}  {} files, {}  {}",
            format!("#{}", s.id),
            time,
            s.source,
            s.added,
            s.modified,
            s.deleted,
            s.files,
            human_bytes(s.bytes),
            esc(&s.message)
        );
    }
    Ok(ExitCode::SUCCESS)
}
